"""The drift check: Evidently's `DataDriftPreset(include_tests=True)` and the verdict read from it.

- per column: the method Evidently picked (or was told), its score and threshold, and the
  column's drift flag = the preset's per-column test status (FAIL = drifted). We never re-derive
  "drifted" from the score, because p-value methods and distance methods point opposite ways.
- dataset: drifted when the share of drifted columns reaches `drift_share`
  (`MLSTACK_DRIFT_SHARE`, default 0.5 like Evidently), again read from the preset's test status.

`import evidently` is slow, so it happens inside `evaluate`, never at module import (DAG files and
the CLI import this package cheaply).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack.drift.inputs import (
    NotEnoughData,
    champion_reference,
    check_sample_size,
    features_frame,
    load_current,
    sample_rows,
)
from mlstack.drift.reports import save_report
from mlstack.drift.result import ColumnDrift, DriftResult
from mlstack.errors import ConfigError, MlstackError

if TYPE_CHECKING:
    import pandas as pd

    from mlstack.data.spec import DatasetSpec
    from mlstack.lifecycle import Context


@dataclass
class Evaluation:
    """Evidently's verdict over two prepared frames, plus the rendered report."""

    drift_detected: bool
    drifted_share: float
    drifted_count: int
    columns: list[ColumnDrift]
    html: str
    evidently: dict[str, Any]


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


def parse_snapshot(data: dict[str, Any]) -> tuple[bool, float, int, list[ColumnDrift]]:
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
    # Sample first: typing a million rows costs more than drawing the sample from them.
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
        dataset=spec.name,
    )
    result.seconds = round(time.perf_counter() - started, 3)
    save_report(settings, spec, result, evaluation, report_dir=report_dir, log_to_mlflow=log_to_mlflow)
    return result
