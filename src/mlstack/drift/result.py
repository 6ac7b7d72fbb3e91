"""The one drift result: per-column verdicts, the whole check, its summary and its text form.

`DriftResult` is everything a check found (what the JSON report holds). `DriftSummary` is the one
compact form every front door uses: the drift DAG's XCom (`to_xcom`/`from_xcom`), the alert mail,
the CLI, the MLflow run note and the Streamlit Monitoring page. `format_summary` is the one text
form of it. Plain data only: nothing here imports pandas, Evidently, MLflow or Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

EXIT_NO_DRIFT, EXIT_FAILED, EXIT_DRIFT = 0, 2, 3
TOP_COLUMNS = 5


@dataclass(frozen=True)
class ColumnDrift:
    """One feature's verdict: the method Evidently used, its score, threshold and drift flag."""

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool
    # How far past its threshold, in the method's own direction (>1 = beyond); orders columns only.
    severity: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnDrift:
        """The inverse of `to_dict` (extra keys are ignored)."""
        return cls(
            column=str(data["column"]),
            method=str(data["method"]),
            score=float(data["score"]),
            threshold=float(data["threshold"]),
            drifted=bool(data["drifted"]),
            severity=float(data.get("severity", 0.0)),
        )


def most_drifted(columns: list[ColumnDrift], n: int = TOP_COLUMNS) -> list[ColumnDrift]:
    """The drifted columns, most severe first, at most `n`."""
    drifted = [c for c in columns if c.drifted]
    return sorted(drifted, key=lambda c: c.severity, reverse=True)[:n]


def column_rows(columns: list[ColumnDrift]) -> list[dict[str, Any]]:
    """The columns as table rows for a person, most severe first: numbers as text with 4
    significant digits, scientific when tiny or huge (a p-value of 1e-67 reads "1e-67", not
    "0.0000"), the long method name last so the numbers stay in view."""
    ordered = sorted(columns, key=lambda c: c.severity, reverse=True)
    return [
        {
            "column": c.column,
            "drifted": c.drifted,
            "score": f"{c.score:.4g}",
            "threshold": f"{c.threshold:.4g}",
            "severity": f"{c.severity:.3g}",
            "method": c.method,
        }
        for c in ordered
    ]


@dataclass
class DriftResult:
    """One check, as plain data: what the JSON report, `--json` and the Monitoring page read."""

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
    dataset: str = ""

    @property
    def exit_code(self) -> int:
        """0 without drift, 3 with drift (the CLI's `--fail-on-drift` and the CI contract)."""
        return EXIT_DRIFT if self.drift_detected else EXIT_NO_DRIFT

    def top_drifted(self, n: int = TOP_COLUMNS) -> list[ColumnDrift]:
        """The drifted columns, most severe first, at most `n`."""
        return most_drifted(self.columns, n)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields, plus `top_drifted` (column names) for readers of the report."""
        out = asdict(self)
        out["top_drifted"] = [c.column for c in self.top_drifted()]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        """The inverse of `to_dict`; keys it does not know (e.g. the raw `evidently`) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["columns"] = [ColumnDrift.from_dict(c) for c in data.get("columns", [])]
        return cls(**values)

    def summary(self) -> DriftSummary:
        """The one compact form of this result (XCom, mail, CLI, UI)."""
        current, reference = self.current, self.reference
        return DriftSummary(
            drift_detected=self.drift_detected,
            drifted_share=self.drifted_share,
            drifted_count=self.drifted_count,
            columns_checked=self.columns_checked,
            drift_share_threshold=self.drift_share_threshold,
            top_drifted=tuple(self.top_drifted()),
            model=str(self.model.get("name", "")),
            champion_version=str(self.model.get("champion_version", "")),
            dataset=self.dataset,
            reference_dataset_id=str(reference.get("dataset_id", "")),
            reference_rows=int(reference.get("rows", 0)),
            reference_sampled_rows=int(reference.get("sampled_rows", 0)),
            current=str(current.get("source", "")),
            current_kind=str(current.get("kind", "")),
            current_rows=int(current.get("rows", 0)),
            current_sampled_rows=int(current.get("sampled_rows", 0)),
            sample_size=int(self.sample.get("size", 0)),
            seed=int(self.sample.get("seed", 0)),
            # A batch is retrained on as kept by ingest (raw copy in the artifact store); the
            # prediction log has no labels, so its drift triggers no retraining (drift.flow).
            retrain_source=current.get("raw_uri") if current.get("kind") == "batch" else None,
            report_link=self.report.get("link"),
            report_html=self.report.get("html_uri"),
            mlflow_run_id=self.mlflow.get("run_id"),
            checked_at=self.checked_at,
        )


@dataclass(frozen=True)
class DriftSummary:
    """What downstream steps need of a check: verdict, top drifted columns, sizes, links."""

    drift_detected: bool
    drifted_share: float
    drifted_count: int
    columns_checked: int
    drift_share_threshold: float
    top_drifted: tuple[ColumnDrift, ...]
    model: str
    champion_version: str
    dataset: str
    reference_dataset_id: str
    reference_rows: int
    reference_sampled_rows: int
    current: str
    current_kind: str
    current_rows: int
    current_sampled_rows: int
    sample_size: int
    seed: int
    retrain_source: str | None
    report_link: str | None
    report_html: str | None
    mlflow_run_id: str | None
    checked_at: str

    def to_xcom(self) -> dict[str, Any]:
        """A JSON-ready dict (what the drift DAG's check task returns)."""
        out = asdict(self)
        out["top_drifted"] = [c.to_dict() for c in self.top_drifted]
        return out

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> DriftSummary:
        """The inverse of `to_xcom`."""
        values = {f.name: data[f.name] for f in fields(cls)}
        values["top_drifted"] = tuple(ColumnDrift.from_dict(c) for c in data["top_drifted"])
        return cls(**values)


def format_summary(summary: DriftSummary) -> str:
    """A few plain lines: the CLI, the alert mail, the MLflow note, logs and the Monitoring page."""
    verdict = "DRIFT DETECTED" if summary.drift_detected else "no drift"
    lines = [
        f"{verdict}: {summary.drifted_count}/{summary.columns_checked} columns drifted "
        f"(share {summary.drifted_share:.2f}, threshold {summary.drift_share_threshold})",
        f"champion: {summary.model} v{summary.champion_version} "
        f"(reference {summary.reference_dataset_id}, {summary.reference_rows} rows, "
        f"{summary.reference_sampled_rows} compared)",
        f"current: {summary.current} ({summary.current_rows} rows, "
        f"{summary.current_sampled_rows} compared; sample size {summary.sample_size or 'all'}, "
        f"seed {summary.seed})",
    ]
    if summary.top_drifted:
        lines.append("top drifted columns:")
        for c in summary.top_drifted:
            lines.append(f"  {c.column}: {c.method} = {c.score:.4g} (threshold {c.threshold:.4g})")
    if summary.report_link:
        lines.append(f"report: {summary.report_link}")
    return "\n".join(lines)
