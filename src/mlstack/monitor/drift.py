"""Drift checks: current data against the training snapshot of the current @champion (Evidently 0.7).

Reference: the Parquet snapshot the champion was trained on, found through its lineage tag
`mlstack.dataset_id`. Current: either a new batch URI (ingested through the normal ingest, so the
raw batch is kept and gets a dataset id) or the prediction log over a window
(`predictions:24h`, `predictions:30m`, `predictions:7d`).

The check is Evidently's `DataDriftPreset` with `include_tests=True` over the spec's features:

- per column: the method Evidently picked (or was told), its score and threshold, and the
  column's drift flag = the preset's per-column test status (FAIL = drifted). We never re-derive
  "drifted" from the score, because p-value methods and distance methods point opposite ways.
- dataset: drifted when the share of drifted columns reaches `drift_share`
  (`MLSTACK_DRIFT_SHARE`, default 0.5 like Evidently), again read from the preset's test status.

Large inputs and the sample size (`MLSTACK_DRIFT_SAMPLE_SIZE`, default 20 000; 0 = every row):
a side with more rows than this is replaced by a uniform random sample of that many rows, seeded
from `MLSTACK_SEED` (default 42; the current side uses seed + 1), so a re-run on the same data gives
the same verdict. The result states the rows seen and the rows compared on each side. Effect on
detection power:

- Evidently picks the method by the reference size. Above 1 000 reference rows it uses distance
  measures with fixed thresholds, not significance tests: normed Wasserstein distance >= 0.1
  (a mean shift of about 0.1 reference standard deviations) for numeric columns, Jensen-Shannon
  distance >= 0.1 for categorical ones. A distance does not grow with the row count, so sampling
  does not raise or lower the bar; it adds estimation noise. At 20 000 rows per side an undrifted
  column scores about 0.01 (up to about 0.03) from sampling alone, and a drifted column's score is
  off by about as much, so only columns whose true distance is within about 0.03 of the threshold
  can come out differently than on all rows; everything else is decided as on the full data.
  benchmarks/drift.py measures this on 1M x 10: the same drifted columns on the sample as on all
  rows (shifts of 0.5 and 0.2 sd and a 1.3x scale flagged; a 0.05 sd shift not), largest score
  difference about 0.02.
- At or below 1 000 reference rows Evidently uses p-value tests (KS, chi-square, Z) whose power
  grows with n. A sample of 20 000 current rows against <= 1 000 reference rows leaves their power
  set by the smaller side, i.e. practically unchanged. This is also why the sample size cannot be
  set below 2 000: it would switch a large reference from distance measures to p-value tests and
  change what "drift" means (on 1M rows a KS test flags even a 0.05 sd shift).

Reports are saved as HTML and JSON: as artifacts of an MLflow run in the monitoring experiment
(`<experiment>-monitoring`, tagged with the champion version), under `<data root>/reports/drift/`
with a stable `latest.html`/`latest.json`, and optionally in an extra folder (`--report-dir`).
`latest_report(settings)` returns the newest one for the Streamlit Monitoring page.

`import evidently` alone takes 6-20 s on this kind of machine, so it happens inside the check,
never at module import (DAG files and the CLI import this module cheaply).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlstack.errors import ConfigError, InputError, MlstackError, NoChampionError, SourceError

if TYPE_CHECKING:
    from mlstack.config import Settings
    from mlstack.data.spec import DatasetSpec
    from mlstack.lifecycle import Context

PREDICTIONS = "predictions:"
REPORT_PREFIX = "reports/drift"
LATEST_HTML = "latest.html"
LATEST_JSON = "latest.json"
MIN_SAMPLE_SIZE = 2_000  # below ~1 000 reference rows Evidently switches methods (see above)
EXIT_NO_DRIFT, EXIT_DRIFT = 0, 3
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class NotEnoughData(InputError):
    """The current data has too few rows for a meaningful verdict (e.g. a quiet prediction log)."""


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool
    # How far past its threshold, in the method's own direction (>1 = beyond); orders columns only.
    severity: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DriftResult:
    """One check, as small plain data (what XComs, the CLI and the JSON report carry)."""

    drift_detected: bool
    drifted_share: float
    drifted_count: int
    columns_checked: int
    drift_share_threshold: float
    columns: list[ColumnDrift]
    model: dict[str, Any]
    reference: dict[str, Any]
    current: dict[str, Any]
    sample: dict[str, Any]
    checked_at: str
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)
    mlflow: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.drift_detected else EXIT_NO_DRIFT

    def top_drifted(self, n: int = 5) -> list[ColumnDrift]:
        drifted = [c for c in self.columns if c.drifted]
        return sorted(drifted, key=lambda c: c.severity, reverse=True)[:n]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["top_drifted"] = [c.column for c in self.top_drifted()]
        return out


# ------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------


def parse_window(text: str) -> timedelta:
    """`30m`, `24h`, `7d`, `2w`, `90s` -> timedelta."""
    match = _WINDOW.match(text)
    if not match:
        raise ConfigError(
            f"drift window {text!r}: expected a number and a unit s|m|h|d|w, e.g. predictions:24h"
        )
    value = float(match.group(1))
    if value <= 0:
        raise ConfigError(f"drift window {text!r}: must be positive")
    return timedelta(**{_UNITS[match.group(2)]: value})


@dataclass
class _Side:
    frame: pd.DataFrame
    info: dict[str, Any]


def champion_reference(settings: Settings, spec: DatasetSpec) -> _Side:
    """The training snapshot of the current @champion, found through its lineage tags."""
    from mlstack import tracking
    from mlstack.data.ingest import load_snapshot
    from mlstack.lineage import TAG_PREFIX
    from mlstack.registry import CHAMPION

    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        raise NoChampionError(
            f"model {name}: no @champion to compare with; train and promote one first (mlstack run)"
        ) from None
    dataset_id = version.tags.get(TAG_PREFIX + "dataset_id")
    if not dataset_id:
        raise MlstackError(
            f"model {name} v{version.version}: no lineage tag {TAG_PREFIX}dataset_id, "
            "so its training snapshot is unknown"
        )
    frame = load_snapshot(dataset_id, settings)
    info = {
        "model_name": name,
        "champion_version": str(version.version),
        "run_id": version.run_id,
        "dataset_id": dataset_id,
        "snapshot_uri": version.tags.get(TAG_PREFIX + "snapshot_uri", ""),
        "rows": len(frame),
    }
    return _Side(frame, info)


def load_current(ctx: Context, current: str, model_name: str) -> _Side:
    """A batch URI (ingested, raw kept) or `predictions:<window>` from the prediction log."""
    from mlstack.config import mask_url_password

    if not current or not current.strip():
        raise ConfigError("drift: --current is empty; give a batch URI or predictions:<window>")
    current = current.strip()
    if current.startswith(PREDICTIONS):
        from mlstack.monitoring.prediction_log import read_predictions

        window_text = current.removeprefix(PREDICTIONS)
        window = parse_window(window_text)
        frame = read_predictions(ctx.settings, window=window, model_name=model_name)
        info = {
            "kind": "predictions",
            "source": current,
            "window": window_text,
            "rows": len(frame),
        }
        return _Side(frame, info)

    from mlstack import lifecycle

    ingested = lifecycle.ingest(ctx, current)
    from mlstack.data.ingest import load_snapshot

    frame = load_snapshot(ingested["dataset_id"], ctx.settings)
    info = {
        "kind": "batch",
        "source": mask_url_password(current),
        "dataset_id": ingested["dataset_id"],
        "raw_uri": ingested["raw_uri"],
        "snapshot_uri": ingested["snapshot_uri"],
        "rows": len(frame),
    }
    return _Side(frame, info)


def features_frame(frame: pd.DataFrame, spec: DatasetSpec, side: str) -> pd.DataFrame:
    """The spec's features only, with one dtype per feature type on both sides."""
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise InputError(
            f"drift: the {side} data has no column(s) {missing} "
            f"(dataset {spec.name} expects {spec.feature_names})"
        )
    out = pd.DataFrame(index=frame.index)
    for name, feature in spec.features.items():
        column = frame[name]
        if feature.is_numeric:
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            text = column.astype("object")
            out[name] = text.where(text.isna(), text.astype(str))
    return out.reset_index(drop=True)


def sample_rows(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded uniform sample of `size` rows when the frame is larger (0 = keep every row)."""
    if size and len(frame) > size:
        return frame.sample(n=size, random_state=seed).reset_index(drop=True)
    return frame


def check_sample_size(size: int) -> int:
    if size and size < MIN_SAMPLE_SIZE:
        raise ConfigError(
            f"MLSTACK_DRIFT_SAMPLE_SIZE={size}: use 0 (every row) or at least {MIN_SAMPLE_SIZE}; "
            "smaller samples of a large reference make Evidently switch from distance measures "
            "to p-value tests, which changes what drift means"
        )
    return size


# ------------------------------------------------------------------------------------------
# the check
# ------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Evidently's verdict over two prepared frames, plus the rendered report."""

    drift_detected: bool
    drifted_share: float
    drifted_count: int
    columns: list[ColumnDrift]
    html: str
    evidently: dict


def evaluate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
    drift_share: float,
    *,
    method: str | None = None,
    threshold: float | None = None,
    render_html: bool = True,
) -> Evaluation:
    """Run `DataDriftPreset(include_tests=True)` and read its metrics and test statuses."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [c for c in spec.feature_names if c in reference.columns]
    numeric = [c for c in columns if spec.features[c].is_numeric]
    categorical = [c for c in columns if not spec.features[c].is_numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(columns=columns, drift_share=drift_share, method=method, threshold=threshold)
    report = Report([preset], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    data = json.loads(snapshot.json())
    result = parse_snapshot(data)
    html = snapshot.get_html_str(as_iframe=False) if render_html else ""
    return Evaluation(*result, html=html, evidently=data)


def parse_snapshot(data: dict) -> tuple[bool, float, int, list[ColumnDrift]]:
    """Verdicts from `Snapshot.dict()`: metric values joined to test statuses by metric id."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data.get("tests", [])}
    share = count = None
    dataset_status = None
    columns: list[ColumnDrift] = []
    for metric in data.get("metrics", []):
        kind = metric.get("config", {}).get("type", "")
        if kind.endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
            count = int(metric["value"]["count"])
            dataset_status = status.get(metric["id"])
        elif kind.endswith(":ValueDrift"):
            cfg = metric["config"]
            col_status = status.get(metric["id"])
            if col_status not in ("SUCCESS", "FAIL"):
                raise MlstackError(
                    f"drift: Evidently could not test column {cfg['column']!r} (status {col_status})"
                )
            score, limit = float(metric["value"]), float(cfg["threshold"])
            drifted = col_status == "FAIL"
            columns.append(
                ColumnDrift(
                    cfg["column"], cfg["method"], score, limit, drifted, _severity(score, limit, drifted)
                )
            )
    if share is None or dataset_status not in ("SUCCESS", "FAIL"):
        raise MlstackError(f"drift: Evidently gave no dataset verdict (status {dataset_status})")
    return dataset_status == "FAIL", share, count or 0, columns


def _severity(score: float, threshold: float, drifted: bool) -> float:
    """Ratio past the threshold, in the direction the test status shows (orders columns only).

    A drifted column with a score below its threshold comes from a p-value method (small is
    drift); above it, from a distance (large is drift). Undrifted columns rank below every drifted one.
    """
    tiny = 1e-300
    if not drifted:
        return 0.0
    if score < threshold:
        return threshold / max(score, tiny)
    return score / max(threshold, tiny)


def check_drift(
    ctx: Context,
    current: str,
    *,
    drift_share: float | None = None,
    sample_size: int | None = None,
    seed: int | None = None,
    report_dir: str | Path | None = None,
    log_to_mlflow: bool = True,
) -> DriftResult:
    """Compare `current` with the champion's training snapshot; save and return the result.

    Raises NoChampionError (no champion), NotEnoughData (fewer than MLSTACK_DRIFT_MIN_ROWS
    current rows), InputError/SourceError/ConfigError (unreadable or mismatched input).
    """
    settings, spec = ctx.settings, ctx.spec
    share = settings.drift_share if drift_share is None else drift_share
    if not 0 < share <= 1:
        raise ConfigError(f"drift share {share}: must be in (0, 1]")
    size = check_sample_size(settings.drift_sample_size if sample_size is None else sample_size)
    seed = settings.seed if seed is None else seed
    started = time.perf_counter()

    ref = champion_reference(settings, spec)
    cur = load_current(ctx, current, ref.info["model_name"])
    if len(cur.frame) < settings.drift_min_rows:
        raise NotEnoughData(
            f"drift: {cur.info['source']} has {len(cur.frame)} row(s), fewer than "
            f"MLSTACK_DRIFT_MIN_ROWS={settings.drift_min_rows}: no verdict"
        )
    # Sample first: typing a million rows costs more than drawing 20 000 of them.
    reference = features_frame(sample_rows(ref.frame, size, seed), spec, "reference")
    current_frame = features_frame(sample_rows(cur.frame, size, seed + 1), spec, "current")
    evaluation = evaluate(reference, current_frame, spec, share)

    result = DriftResult(
        drift_detected=evaluation.drift_detected,
        drifted_share=evaluation.drifted_share,
        drifted_count=evaluation.drifted_count,
        columns_checked=len(evaluation.columns),
        drift_share_threshold=share,
        columns=sorted(evaluation.columns, key=lambda c: (-c.severity, c.column)),
        model={
            "name": ref.info["model_name"],
            "champion_version": ref.info["champion_version"],
            "run_id": ref.info["run_id"],
        },
        reference={**ref.info, "sampled_rows": len(reference)},
        current={**cur.info, "sampled_rows": len(current_frame)},
        sample={"size": size, "seed": seed},
        checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=0.0,
    )
    result.seconds = round(time.perf_counter() - started, 3)
    save_report(settings, spec, result, evaluation, report_dir=report_dir, log_to_mlflow=log_to_mlflow)
    return result


# ------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------


def monitoring_experiment(settings: Settings, spec: DatasetSpec) -> str:
    return f"{settings.experiment or spec.name}-monitoring"


def _report_json(result: DriftResult, evaluation: Evaluation) -> bytes:
    body = {**result.to_dict(), "evidently": evaluation.evidently}
    return json.dumps(body, indent=2, default=str).encode()


def save_report(
    settings: Settings,
    spec: DatasetSpec,
    result: DriftResult,
    evaluation: Evaluation,
    *,
    report_dir: str | Path | None = None,
    log_to_mlflow: bool = True,
) -> None:
    """Local files (data root, `latest.*`, optional extra folder) first, then the MLflow run."""
    from mlstack.data.store import ArtifactStore

    store = ArtifactStore.from_settings(settings)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    html = evaluation.html.encode()
    html_key, json_key = f"{REPORT_PREFIX}/{stamp}.html", f"{REPORT_PREFIX}/{stamp}.json"
    result.report = {
        "id": stamp,
        "html_uri": store.uri(html_key),
        "json_uri": store.uri(json_key),
        "latest_html_uri": store.uri(f"{REPORT_PREFIX}/{LATEST_HTML}"),
        "latest_json_uri": store.uri(f"{REPORT_PREFIX}/{LATEST_JSON}"),
    }
    if report_dir is not None:
        folder = Path(report_dir).expanduser().resolve()
        result.report["dir_html"] = str(folder / LATEST_HTML)
        result.report["dir_json"] = str(folder / LATEST_JSON)

    if log_to_mlflow:
        result.mlflow = _log_run(settings, spec, result, evaluation, stamp)
    result.report["link"] = result.mlflow.get("run_url") or result.report["html_uri"]

    payload = _report_json(result, evaluation)
    store.put_bytes(html_key, html)
    store.put_bytes(json_key, payload)
    # latest.* are written last, each atomically (local) or as one PUT (S3).
    store.put_bytes(f"{REPORT_PREFIX}/{LATEST_HTML}", html)
    store.put_bytes(f"{REPORT_PREFIX}/{LATEST_JSON}", payload)
    if report_dir is not None:
        folder = Path(report_dir).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in ((f"{stamp}.html", html), (f"{stamp}.json", payload)):
            (folder / name).write_bytes(data)
        for name, data in ((LATEST_HTML, html), (LATEST_JSON, payload)):
            tmp = folder / (name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(folder / name)


def _metric_key(column: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", column)


def _log_run(
    settings: Settings, spec: DatasetSpec, result: DriftResult, evaluation: Evaluation, stamp: str
) -> dict:
    """An MLflow run in the monitoring experiment: verdict as tags/metrics, reports as artifacts."""
    from mlflow.entities import Metric, RunTag

    from mlstack import tracking
    from mlstack.lineage import TAG_PREFIX, orchestrator_context

    client = tracking.configure(settings)
    experiment_id = tracking.experiment_id(settings, spec, name=monitoring_experiment(settings, spec))
    tags = {
        "champion_version": result.model["champion_version"],
        "model_name": result.model["name"],
        "reference_dataset_id": result.reference["dataset_id"],
        "current_kind": result.current["kind"],
        "current_source": result.current["source"],
        "current_dataset_id": result.current.get("dataset_id", ""),
        "drift.detected": str(result.drift_detected).lower(),
        "drift.top_columns": ",".join(c.column for c in result.top_drifted()),
        "drift.sample_size": str(result.sample["size"]),
        "drift.seed": str(result.sample["seed"]),
        "step": "drift",
        **orchestrator_context(),
    }
    run = client.create_run(
        experiment_id,
        run_name=f"drift-{stamp}",
        tags={TAG_PREFIX + k: str(v) for k, v in tags.items()},
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [
        Metric("drift_detected", float(result.drift_detected), now, 0),
        Metric("drifted_share", result.drifted_share, now, 0),
        Metric("drifted_columns", float(result.drifted_count), now, 0),
        Metric("reference_rows", float(result.reference["rows"]), now, 0),
        Metric("current_rows", float(result.current["rows"]), now, 0),
        Metric("check_seconds", result.seconds, now, 0),
    ]
    for col in result.columns:
        metrics.append(Metric(f"drift_score.{_metric_key(col.column)}", col.score, now, 0))
    client.log_batch(
        run_id,
        metrics=metrics,
        tags=[RunTag("mlflow.note.content", _note(result))],
    )
    with tempfile.TemporaryDirectory(prefix="mlstack-drift-") as tmp:
        html_path, json_path = Path(tmp) / "drift_report.html", Path(tmp) / "drift_report.json"
        html_path.write_text(evaluation.html, encoding="utf-8")
        info = {"run_id": run_id, "experiment_id": experiment_id}
        json_path.write_bytes(_report_json(result, evaluation))
        client.log_artifact(run_id, str(html_path), artifact_path="drift")
        client.log_artifact(run_id, str(json_path), artifact_path="drift")
    client.set_terminated(run_id, "FINISHED")
    info["artifact_uri"] = f"{run.info.artifact_uri}/drift/drift_report.html"
    uri = settings.resolved_tracking_uri
    if uri.startswith(("http://", "https://")):
        info["run_url"] = f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return info


def _note(result: DriftResult) -> str:
    verdict = "DRIFT" if result.drift_detected else "no drift"
    top = ", ".join(c.column for c in result.top_drifted()) or "none"
    return (
        f"{verdict}: {result.drifted_count}/{result.columns_checked} columns drifted "
        f"(share {result.drifted_share:.2f}, threshold {result.drift_share_threshold}); top: {top}. "
        f"Champion v{result.model['champion_version']}, current {result.current['source']}."
    )


def latest_report(settings: Settings) -> dict | None:
    """The newest drift report, or None when no check ran yet.

    `{"html_uri": str, "json_uri": str, "summary": dict}`: the URIs of `latest.html`/`latest.json`
    under `<data root>/reports/drift/` (local paths or s3:// URIs), and the parsed JSON without the
    raw Evidently section (keys as in `DriftResult.to_dict()`: drift_detected, drifted_share,
    drifted_count, columns_checked, drift_share_threshold, columns [{column, method, score,
    threshold, drifted, severity}], top_drifted, model, reference, current, sample, checked_at,
    seconds, report {id, html_uri, json_uri, link, ...}, mlflow {run_id, experiment_id, run_url?}).
    """
    from mlstack.data.store import ArtifactStore

    store = ArtifactStore.from_settings(settings)
    json_key = f"{REPORT_PREFIX}/{LATEST_JSON}"
    if not store.exists(json_key):
        return None
    try:
        summary = json.loads(store.get_bytes(json_key))
    except (SourceError, ValueError):
        return None
    summary.pop("evidently", None)
    return {
        "html_uri": store.uri(f"{REPORT_PREFIX}/{LATEST_HTML}"),
        "json_uri": store.uri(json_key),
        "summary": summary,
    }


def latest_report_html(settings: Settings) -> str | None:
    """The HTML of the newest report (for embedding), or None."""
    from mlstack.data.store import ArtifactStore

    store = ArtifactStore.from_settings(settings)
    key = f"{REPORT_PREFIX}/{LATEST_HTML}"
    if not store.exists(key):
        return None
    return store.get_bytes(key).decode("utf-8")


def format_summary(result: DriftResult | dict, top: int = 5) -> str:
    """A few plain lines for the CLI, mails and logs."""
    data = result.to_dict() if isinstance(result, DriftResult) else result
    verdict = "DRIFT DETECTED" if data["drift_detected"] else "no drift"
    lines = [
        f"{verdict}: {data['drifted_count']}/{data['columns_checked']} columns drifted "
        f"(share {data['drifted_share']:.2f}, threshold {data['drift_share_threshold']})",
        f"champion: {data['model']['name']} v{data['model']['champion_version']} "
        f"(reference {data['reference']['dataset_id']}, {data['reference']['rows']} rows, "
        f"{data['reference']['sampled_rows']} compared)",
        f"current: {data['current']['source']} ({data['current']['rows']} rows, "
        f"{data['current']['sampled_rows']} compared; sample size {data['sample']['size'] or 'all'}, "
        f"seed {data['sample']['seed']})",
    ]
    drifted = [c for c in data["columns"] if c["drifted"]]
    drifted.sort(key=lambda c: c["severity"], reverse=True)
    if drifted:
        lines.append("top drifted columns:")
        for c in drifted[:top]:
            lines.append(
                f"  {c['column']}: {c['method']} = {c['score']:.4g} (threshold {c['threshold']:.4g})"
            )
    report = data.get("report") or {}
    if report.get("link"):
        lines.append(f"report: {report['link']}")
    return "\n".join(lines)
