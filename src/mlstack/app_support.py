"""The Models page's tables (no Streamlit import here).

Left here for the registry package to take over; everything else that lived in this module moved
to the module that owns its rule: `mlstack.mlflow_links`, `mlstack.serving.form`,
`mlstack.serving.batch` and `mlstack.serving.loader.TRAIN_HINT`.
"""

from __future__ import annotations

import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec


def primary_metric(settings: Settings, spec: DatasetSpec) -> str:
    return settings.gate_metric or spec.gate.metric


def versions_frame(versions: list[dict], metric: str) -> pd.DataFrame:
    """One row per version (newest first): aliases, primary metric, lineage, gate verdict."""
    rows = []
    for v in versions:
        tags = v.get("tags", {})
        rows.append(
            {
                "version": int(v["version"]),
                "aliases": ", ".join(f"@{a}" for a in v.get("aliases", [])),
                metric: v.get("metrics", {}).get(metric),
                "created": v.get("created", ""),
                "dataset_id": tags.get("dataset_id", ""),
                "git_commit": (tags.get("git_commit") or "")[:12],
                "orchestrator": tags.get("orchestrator", ""),
                "dag_run": " / ".join(x for x in (tags.get("dag_id"), tags.get("orchestrator_run_id")) if x),
                "gate": tags.get("gate.verdict", ""),
                "gate_reason": tags.get("gate.reason", ""),
                "run_id": v.get("run_id", ""),
            }
        )
    return pd.DataFrame(rows)


def metrics_frame(versions: list[dict]) -> pd.DataFrame:
    """Every logged metric per version (columns: version, then metric names)."""
    rows = [{"version": int(v["version"]), **v.get("metrics", {})} for v in versions]
    return pd.DataFrame(rows).sort_values("version") if rows else pd.DataFrame()


def metric_history(versions: list[dict], metric: str) -> pd.DataFrame:
    """The primary metric across versions, oldest first, with which one is champion."""
    rows = [
        {
            "version": int(v["version"]),
            metric: v.get("metrics", {}).get(metric),
            "role": "champion" if "champion" in v.get("aliases", []) else "other",
        }
        for v in versions
    ]
    frame = pd.DataFrame(rows, columns=["version", metric, "role"])
    return frame.dropna(subset=[metric]).sort_values("version").reset_index(drop=True)


def gate_decisions(versions: list[dict]) -> list[dict]:
    """Versions that went through the gate, newest first, with their recorded decision."""
    out = []
    for v in versions:
        gate = {k.removeprefix("gate."): t for k, t in v.get("tags", {}).items() if k.startswith("gate.")}
        if gate:
            out.append({"version": v["version"], **gate})
    return out
