"""The one drift result and its summary: round trips (JSON report, XCom), the text form, and
what the drift DAG's retrain and alert steps read from it. Pure: no servers, no Evidently."""

from __future__ import annotations

import json

import pytest

from mlstack.alerts import drift_alert_mail
from mlstack.drift.flow import drift_found, retrain_action, retrain_conf
from mlstack.drift.result import ColumnDrift, DriftResult, DriftSummary, format_summary


def _columns(drifted: int) -> list[ColumnDrift]:
    """Seven columns, the first `drifted` of them drifted (more severe first)."""
    return [
        ColumnDrift(f"c{i}", "K-S p_value", 1e-3 / (i + 1), 0.05, True, 50.0 * (i + 1))
        if i < drifted
        else ColumnDrift(f"c{i}", "Wasserstein distance (normed)", 0.01, 0.1, False, 0.0)
        for i in range(7)
    ]


def _result(drifted: int = 6, kind: str = "batch") -> DriftResult:
    current = {"kind": kind, "source": "new.csv" if kind == "batch" else "predictions:24h", "rows": 300}
    if kind == "batch":
        current.update(dataset_id="ds-2", raw_uri="/data/raw/new.csv")
    return DriftResult(
        drift_detected=drifted >= 4,
        drifted_share=drifted / 7,
        drifted_count=drifted,
        columns_checked=7,
        drift_share_threshold=0.5,
        columns=_columns(drifted),
        model={"name": "penguins-classifier", "champion_version": "3", "run_id": "r1"},
        reference={"dataset_id": "ds-1", "rows": 344, "sampled_rows": 344},
        current={**current, "sampled_rows": 300},
        sample={"size": 20_000, "seed": 42},
        checked_at="2026-01-01T00:00:00+00:00",
        seconds=1.5,
        report={"id": "x", "html_uri": "/data/reports/drift/x.html", "link": "http://mlflow/#/runs/r2"},
        mlflow={"run_id": "r2", "experiment_id": "7"},
        dataset="penguins",
    )


def test_result_round_trips_through_the_json_report():
    result = _result()
    saved = json.loads(json.dumps({**result.to_dict(), "evidently": {"metrics": []}}))
    assert saved["top_drifted"] == ["c5", "c4", "c3", "c2", "c1"]  # names, most severe first, at most 5
    assert DriftResult.from_dict(saved) == result


def test_summary_round_trips_through_xcom():
    summary = _result().summary()
    assert DriftSummary.from_xcom(json.loads(json.dumps(summary.to_xcom()))) == summary


def test_summary_carries_what_downstream_steps_read():
    summary = _result().summary()
    xcom = summary.to_xcom()
    assert [c["column"] for c in xcom["top_drifted"]] == ["c5", "c4", "c3", "c2", "c1"]
    assert xcom["drift_detected"] is True and xcom["drifted_count"] == 6
    assert xcom["retrain_source"] == "/data/raw/new.csv"  # the batch as ingest kept it
    assert xcom["report_link"] == "http://mlflow/#/runs/r2"
    assert xcom["mlflow_run_id"] == "r2" and xcom["dataset"] == "penguins"
    # the prediction log has no labels: nothing to retrain on
    assert _result(kind="predictions").summary().retrain_source is None


def test_format_summary_is_the_one_text_form():
    text = format_summary(_result().summary())
    lines = text.splitlines()
    assert lines[0] == "DRIFT DETECTED: 6/7 columns drifted (share 0.86, threshold 0.5)"
    assert lines[1] == "champion: penguins-classifier v3 (reference ds-1, 344 rows, 344 compared)"
    assert lines[2] == "current: new.csv (300 rows, 300 compared; sample size 20000, seed 42)"
    assert lines[3] == "top drifted columns:"
    assert lines[4].startswith("  c5: K-S p_value = ") and len(lines) == 3 + 1 + 5 + 1
    assert lines[-1] == "report: http://mlflow/#/runs/r2"
    quiet = format_summary(_result(drifted=1).summary()).splitlines()
    assert quiet[0].startswith("no drift: 1/7 columns drifted")


@pytest.mark.parametrize(("drifted", "kind", "params", "expected"), [
    (6, "batch", None, {"source": "/data/raw/new.csv", "dataset": "penguins"}),
    (6, "batch", {"dataset": "other"}, {"source": "/data/raw/new.csv", "dataset": "other"}),
    (1, "batch", None, None),
    (6, "predictions", None, None),  # drift in the unlabelled prediction log: no retraining
    (1, "predictions", None, None),
])  # fmt: skip
def test_retrain_conf_only_on_a_drifted_batch(drifted, kind, params, expected):
    xcom = _result(drifted, kind).summary().to_xcom()
    assert drift_found(xcom) is (drifted >= 4)
    assert retrain_conf(xcom, params) == expected
    assert retrain_conf(None) is None and drift_found(None) is False  # a skipped check


def test_alert_mail_counts_every_drifted_column_and_names_the_top_ones():
    summary = _result().summary()
    subject, body = drift_alert_mail(summary, action=retrain_action(summary, "training_pipeline"))
    # six drifted, five of them listed: the subject counts all six
    assert subject == "[mlstack] drift on penguins-classifier: 6 drifted column(s) (86% of columns)"
    for column in ("c1", "c2", "c3", "c4", "c5"):
        assert f"{column}: K-S p_value" in body
    assert "http://mlflow/#/runs/r2" in body
    assert "Retraining triggered: DAG training_pipeline on /data/raw/new.csv" in body
    assert retrain_action(summary, None) == ""


def test_prediction_log_drift_mail_says_nothing_retrains_and_what_to_do():
    summary = _result(kind="predictions").summary()
    _, body = drift_alert_mail(summary, action=retrain_action(summary, "training_pipeline"))
    assert "Retraining triggered" not in body
    assert "No retraining triggered: the drift is in the prediction log (predictions:24h)" in body
    assert "no labels to train on" in body
    assert "trigger training_pipeline with a labelled batch as its source" in body


def test_column_rows_read_tiny_p_values_and_huge_severities():
    from mlstack.drift.result import ColumnDrift, column_rows

    columns = [
        ColumnDrift("sex", "chi-square p_value", 0.61, 0.05, False, 0.0),
        ColumnDrift("bill_length_mm", "K-S p_value", 1e-67, 0.05, True, 0.05 / 1e-67),
        ColumnDrift("body_mass_g", "Wasserstein distance (normed)", 0.4321987, 0.1, True, 4.321987),
    ]
    rows = column_rows(columns)
    assert [r["column"] for r in rows] == ["bill_length_mm", "body_mass_g", "sex"]  # most severe first
    assert (rows[0]["score"], rows[0]["severity"]) == ("1e-67", "5e+65")
    assert (rows[1]["score"], rows[1]["severity"]) == ("0.4322", "4.32")
    assert list(rows[0]) == ["column", "drifted", "score", "threshold", "severity", "method"]
