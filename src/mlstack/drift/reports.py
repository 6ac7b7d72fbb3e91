"""Where a drift check's reports go, and reading the newest one back.

Reports are saved as HTML and JSON: as artifacts of an MLflow run in the monitoring experiment
(`<experiment>-monitoring`, tagged with the champion version), under `<data root>/reports/drift/`
with a stable `latest.html`/`latest.json`, and optionally in an extra folder (`--report-dir`).
`latest_report(settings)` returns the newest one for the Streamlit Monitoring page and the CLI.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstack import mlflow_links
from mlstack.drift.result import DriftResult, format_summary
from mlstack.errors import SourceError

if TYPE_CHECKING:
    from mlstack.config import Settings
    from mlstack.data.spec import DatasetSpec
    from mlstack.drift.check import Evaluation

REPORT_PREFIX = "reports/drift"
LATEST_HTML = "latest.html"
LATEST_JSON = "latest.json"


@dataclass(frozen=True)
class LatestReport:
    """The newest saved report: where its HTML and JSON are, and the result it holds."""

    html_uri: str
    json_uri: str
    result: DriftResult


def monitoring_experiment(settings: Settings, spec: DatasetSpec) -> str:
    """The MLflow experiment that holds the drift runs of this dataset's model."""
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
    """Save HTML + JSON (data root, `latest.*`, optional extra folder) and log the MLflow run.

    Fills `result.report` (URIs and the link to show) and `result.mlflow` (run id, URL).
    """
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
    folder = None if report_dir is None else Path(report_dir).expanduser().resolve()
    if folder is not None:
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
    if folder is not None:
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
) -> dict[str, Any]:
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
    # The note is the summary's text (before the run exists there is no report link to add).
    note = format_summary(result.summary())
    client.log_batch(run_id, metrics=metrics, tags=[RunTag("mlflow.note.content", note)])
    with tempfile.TemporaryDirectory(prefix="mlstack-drift-") as tmp:
        html_path, json_path = Path(tmp) / "drift_report.html", Path(tmp) / "drift_report.json"
        html_path.write_text(evaluation.html, encoding="utf-8")
        info = {"run_id": run_id, "experiment_id": experiment_id}
        json_path.write_bytes(_report_json(result, evaluation))
        client.log_artifact(run_id, str(html_path), artifact_path="drift")
        client.log_artifact(run_id, str(json_path), artifact_path="drift")
    client.set_terminated(run_id, "FINISHED")
    info["artifact_uri"] = f"{run.info.artifact_uri}/drift/drift_report.html"
    url = mlflow_links.run_url(settings.resolved_mlflow_ui_url, run_id, experiment_id)
    if url:
        info["run_url"] = url
    return info


def latest_report(settings: Settings) -> LatestReport | None:
    """The newest drift report (`latest.json` under `<data root>/reports/drift/`), or None.

    None also when no check ran yet or the file cannot be read as a drift result.
    """
    from mlstack.data.store import ArtifactStore

    store = ArtifactStore.from_settings(settings)
    json_key = f"{REPORT_PREFIX}/{LATEST_JSON}"
    if not store.exists(json_key):
        return None
    try:
        result = DriftResult.from_dict(json.loads(store.get_bytes(json_key)))
    except (SourceError, ValueError, TypeError, KeyError):
        return None
    return LatestReport(
        html_uri=store.uri(f"{REPORT_PREFIX}/{LATEST_HTML}"),
        json_uri=store.uri(json_key),
        result=result,
    )


def latest_report_html(settings: Settings) -> str | None:
    """The HTML of the newest report (for embedding), or None."""
    from mlstack.data.store import ArtifactStore

    store = ArtifactStore.from_settings(settings)
    key = f"{REPORT_PREFIX}/{LATEST_HTML}"
    if not store.exists(key):
        return None
    return store.get_bytes(key).decode("utf-8")
