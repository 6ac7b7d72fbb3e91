"""Batch inference: score a whole source with `@champion`, chunk by chunk, into Parquet.

What the `batch_inference` DAG runs (and `mlstack batch-score`):
1. read `source` (file, s3://, http(s)://, postgresql://...; a DAG run is held to the source
   allowlist);
2. per chunk of MLSTACK_BATCH_CHUNK_SIZE rows: check the rows with the serving rules
   (`serving.inputs`), score the valid ones with one model version, append them to the Parquet
   output (prediction id, model version, timestamp, prediction, class probabilities, and any
   column of the input that is not a feature, e.g. a key), log them to the prediction log, and
   let the challenger shadow a sample (`serving.shadow`);
3. write a report: rows read, scored, refused, and every refused row with its reasons (a CSV
   beside the output); a bad row never fails the batch and is never dropped without a note.

While scoring, memory holds the input table and one chunk at a time: each chunk's output is
appended to a local Parquet file in a temporary folder. That file is then read whole to upload it
(`store.put_bytes`), so the upload holds the finished output (compressed Parquet) at once, and the
refused rows' CSV is built whole as well.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import ConfigError, InputError
from mlstack.monitoring.prediction_log import new_prediction_ids
from mlstack.serving.inputs import RowProblems, check_rows
from mlstack.serving.loader import ModelServer
from mlstack.serving.scoring import as_prediction, score

OUTPUT_PREFIX = "batch-predictions"
SOURCE_LABEL = "batch"
REPORT_ROWS = 1000  # refused rows listed in the JSON report; the CSV beside it has every one
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class BatchInferenceResult:
    """One batch inference run: where the predictions and the report went, and what was scored."""

    source: str
    output_uri: str
    report_uri: str
    invalid_rows_uri: str | None
    rows: int
    scored: int
    invalid: int
    model: str
    version: str
    seconds: float
    logged: int = 0
    log_error: str | None = None
    shadow: dict[str, Any] = field(default_factory=dict)

    def to_xcom(self) -> dict[str, Any]:
        """Small values only (URIs and counts), for XCom and `--json`."""
        return asdict(self)


def output_name(output: str | None, now: datetime | None = None) -> str:
    """The run's folder under `batch-predictions/`: `output` when given (a plain name: letters,
    digits, `.`, `_`, `-`), else a UTC timestamp. ConfigError names what is wrong."""
    if output is None or not output.strip():
        return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    name = output.strip()
    if not _NAME.match(name) or name in (".", ".."):
        raise ConfigError(
            f"output {name[:60]!r}: a plain name (letters, digits, '.', '_', '-'; at most 100) of the folder "
            f"under {OUTPUT_PREFIX}/ in the data store"
        )
    return name


def _parquet_schema(first: pd.DataFrame):
    import pyarrow as pa

    return pa.Table.from_pandas(first, preserve_index=False).schema


def run_batch_inference(
    settings: Settings,
    spec: DatasetSpec,
    source: str,
    output: str | None = None,
    *,
    trusted: bool = False,
    chunk_size: int | None = None,
    server: ModelServer | None = None,
    shadow: Any = None,
) -> BatchInferenceResult:
    """Score `source` with `@champion` into `batch-predictions/<output>/` (see module doc).

    `trusted`: the user at their own shell (any source); otherwise the source allowlist applies.
    `shadow`: a `serving.shadow.Shadow` (default: one from settings; False: none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlstack.data import sources
    from mlstack.data.store import ArtifactStore
    from mlstack.serving.service import _LogWriter

    started = time.perf_counter()
    folder = f"{OUTPUT_PREFIX}/{output_name(output)}"
    store = ArtifactStore.from_settings(settings)
    policy = sources.SourcePolicy.from_settings(settings, trusted=trusted)
    frame = sources.parse(sources.fetch(source, settings.s3_endpoint_url, policy=policy))
    absent = [f for f in spec.features if f not in frame.columns]
    if absent:
        raise InputError(
            f"source {sources.mask_secrets(source)}: absent column(s) {absent}; the spec needs them"
        )
    if frame.empty:
        raise InputError(f"source {sources.mask_secrets(source)}: no rows")
    checked_columns = [*spec.features, *([spec.target] if spec.target in frame.columns else [])]
    passthrough = [c for c in frame.columns if c not in checked_columns][:50]
    server = server or ModelServer(settings, spec)
    loaded = server.current()  # one version for the whole batch, even if the alias moves
    if shadow is None:
        from mlstack.serving.shadow import Shadow

        shadow = Shadow(settings, spec)
    writer = _LogWriter(settings, SOURCE_LABEL)
    step = max(1, chunk_size or settings.batch_chunk_size)
    problems: list[RowProblems] = []
    scored = shadow_rows = shadow_agreed = 0
    shadow_version = None
    with tempfile.TemporaryDirectory(prefix="mlstack-batch-") as tmp:
        local = Path(tmp) / "predictions.parquet"
        parquet = None
        try:
            for start in range(0, len(frame), step):
                part = frame.iloc[start : start + step].reset_index(drop=True)
                valid, bad = check_rows(part[checked_columns], spec)
                problems += [RowProblems(p.index + start, p.reasons) for p in bad]
                if valid.empty:
                    continue
                features = valid[spec.feature_names]
                values, proba = score(loaded, features, spec)
                prediction = as_prediction(loaded, values, proba, server.alias, server.stale)
                ids = new_prediction_ids(len(valid))
                out = pd.DataFrame(
                    {
                        "row": valid.index.to_numpy() + start + 1,
                        "prediction_id": ids,
                        "model_name": loaded.name,
                        "model_version": str(loaded.version),
                        "predicted_at": pd.Timestamp(prediction.at),
                    }
                )
                for column in passthrough:
                    out[column] = part[column].to_numpy()[valid.index.to_numpy()]
                for column in spec.feature_names:
                    out[column] = features[column].to_numpy()
                if spec.target in part.columns:
                    out[spec.target] = part[spec.target].to_numpy()[valid.index.to_numpy()]
                out["prediction"] = values
                if proba is not None:
                    for j, cls in enumerate(loaded.classes):
                        out[f"proba_{cls}"] = proba[:, j]
                if parquet is None:
                    schema = _parquet_schema(out)
                    parquet = pq.ParquetWriter(local, schema)
                parquet.write_table(pa.Table.from_pandas(out, schema=schema, preserve_index=False))
                writer.write(features, prediction, ids)
                if shadow:
                    outcome = shadow.score(prediction, features, ids, SOURCE_LABEL)
                    if outcome is not None:
                        shadow_rows += outcome.rows
                        shadow_agreed += outcome.agreed
                        shadow_version = outcome.version
                scored += len(valid)
        finally:
            if parquet is not None:
                parquet.close()
        if scored:
            output_uri = store.put_bytes(f"{folder}/predictions.parquet", local.read_bytes())
        else:
            output_uri = ""
    invalid_uri = None
    if problems:
        from mlstack.serving.batch import problems_frame

        table = problems_frame(frame, problems, limit=len(problems))
        invalid_uri = store.put_bytes(f"{folder}/invalid_rows.csv", table.to_csv(index=False).encode())
    log = writer.outcome()
    shadow_summary: dict[str, Any] = {}
    if shadow_rows:
        shadow_summary = {
            "challenger_version": shadow_version,
            "rows": shadow_rows,
            "agreement": round(shadow_agreed / shadow_rows, 4),
        }
    result = BatchInferenceResult(
        source=sources.mask_secrets(source),
        output_uri=output_uri,
        report_uri=store.uri(f"{folder}/report.json"),
        invalid_rows_uri=invalid_uri,
        rows=len(frame),
        scored=scored,
        invalid=len(problems),
        model=loaded.name,
        version=str(loaded.version),
        seconds=round(time.perf_counter() - started, 3),
        logged=log.written,
        log_error=log.error,
        shadow=shadow_summary,
    )
    report = {
        **result.to_xcom(),
        "invalid_rows": [{"row": p.index + 1, "reasons": p.reasons} for p in problems[:REPORT_ROWS]],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.put_bytes(f"{folder}/report.json", json.dumps(report, indent=2, default=str).encode())
    return result


def read_output(uri: str, endpoint_url: str | None = None) -> pd.DataFrame:
    """The predictions Parquet of a run, as a DataFrame (tests, the demo)."""
    import io

    from mlstack.data.store import read_uri_bytes

    return pd.read_parquet(io.BytesIO(read_uri_bytes(uri, endpoint_url)))
