"""The Models page's tables from `list_versions()` output, without a registry."""

from __future__ import annotations

from mlstack.data.spec import load_spec
from mlstack.registry import history

from .conftest import make_settings

VERSIONS = [  # as list_versions returns them: newest first, tags without the mlstack. prefix
    {
        "version": "3",
        "aliases": ["challenger"],
        "run_id": "r3",
        "created": "2026-01-03T00:00:00+00:00",
        "metrics": {"accuracy": 0.90, "f1_macro": 0.88},
        "tags": {
            "dataset_id": "d3",
            "git_commit": "0123456789abcdef",
            "orchestrator": "airflow",
            "dag_id": "training",
            "orchestrator_run_id": "manual__3",
            "gate.verdict": "refused",
            "gate.reason": "worse",
        },
    },
    {
        "version": "2",
        "aliases": ["champion"],
        "run_id": "r2",
        "created": "2026-01-02T00:00:00+00:00",
        "metrics": {"accuracy": 0.95},
        "tags": {"orchestrator": "cli", "orchestrator_run_id": "cli", "gate.verdict": "promoted"},
    },
    {"version": "1", "aliases": [], "run_id": "r1", "metrics": {}, "tags": {}},
]


def test_primary_metric_is_the_gate_metric(tmp_path):
    spec = load_spec("penguins")
    assert history.primary_metric(make_settings(tmp_path), spec) == spec.gate.metric
    assert history.primary_metric(make_settings(tmp_path, gate_metric="f1_macro"), spec) == "f1_macro"


def test_versions_frame_has_one_row_per_version_with_lineage_and_verdict():
    frame = history.versions_frame(VERSIONS, "accuracy")
    assert frame["version"].tolist() == [3, 2, 1]
    first = frame.iloc[0]
    assert first["aliases"] == "@challenger" and first["accuracy"] == 0.90
    assert first["git_commit"] == "0123456789ab" and first["dag_run"] == "training / manual__3"
    assert (first["gate"], first["gate_reason"]) == ("refused", "worse")
    assert frame.iloc[1]["dag_run"] == "cli" and frame.iloc[2]["gate"] == ""


def test_metrics_frame_is_oldest_first_with_every_metric():
    frame = history.metrics_frame(VERSIONS)
    assert frame["version"].tolist() == [1, 2, 3]
    assert set(frame.columns) == {"version", "accuracy", "f1_macro"}
    assert history.metrics_frame([]).empty


def test_metric_history_drops_versions_without_the_metric_and_marks_the_champion():
    frame = history.metric_history(VERSIONS, "accuracy")
    assert frame.to_dict("records") == [
        {"version": 2, "accuracy": 0.95, "role": "champion"},
        {"version": 3, "accuracy": 0.90, "role": "other"},
    ]
    assert history.metric_history([], "accuracy").empty


def test_gate_decisions_lists_only_versions_the_gate_saw():
    assert history.gate_decisions(VERSIONS) == [
        {"version": "3", "verdict": "refused", "reason": "worse"},
        {"version": "2", "verdict": "promoted"},
    ]
