"""The registry's history as tables: versions, metrics across versions, gate decisions.

Each function reads the output of `versions.list_versions()`; the Models page shows them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.registry import CHAMPION
from mlstack.registry.gate import TAG_GROUP, rule_for

Versions = list[dict[str, Any]]


def primary_metric(settings: Settings, spec: DatasetSpec) -> str:
    """The metric the gate decides on (MLSTACK_GATE_METRIC, else the spec's)."""
    return rule_for(settings, spec).metric


def versions_frame(versions: Versions, metric: str) -> pd.DataFrame:
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
                "gate": tags.get(TAG_GROUP + "verdict", ""),
                "gate_reason": tags.get(TAG_GROUP + "reason", ""),
                "run_id": v.get("run_id", ""),
            }
        )
    return pd.DataFrame(rows)


def metrics_frame(versions: Versions) -> pd.DataFrame:
    """Every logged metric per version (columns: version, then metric names)."""
    rows = [{"version": int(v["version"]), **v.get("metrics", {})} for v in versions]
    return pd.DataFrame(rows).sort_values("version") if rows else pd.DataFrame()


def metric_history(versions: Versions, metric: str) -> pd.DataFrame:
    """The primary metric across versions, oldest first, with which one is champion."""
    rows = [
        {
            "version": int(v["version"]),
            metric: v.get("metrics", {}).get(metric),
            "role": "champion" if CHAMPION in v.get("aliases", []) else "other",
        }
        for v in versions
    ]
    frame = pd.DataFrame(rows, columns=["version", metric, "role"])
    return frame.dropna(subset=[metric]).sort_values("version").reset_index(drop=True)


def gate_decisions(versions: Versions) -> list[dict[str, Any]]:
    """Versions that went through the gate, newest first, with their recorded decision."""
    out = []
    for v in versions:
        decision = {
            k.removeprefix(TAG_GROUP): t for k, t in v.get("tags", {}).items() if k.startswith(TAG_GROUP)
        }
        if decision:
            out.append({"version": v["version"], **decision})
    return out
