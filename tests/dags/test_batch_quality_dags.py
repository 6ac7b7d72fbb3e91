"""The batch_inference and quality_monitor DAGs with `dag.test()` on embedded defaults, mails to a
real SMTP server (aiosmtpd):

- batch_inference scores an allowlisted batch into Parquet, lists the bad rows, logs the
  predictions and publishes the `batch_predictions` Asset, which queues `drift_monitor`
  (data-aware scheduling: AssetOrTimeSchedule beside its cron);
- a source outside the allowlist fails at once, publishes nothing;
- quality_monitor: labels that make the champion miss the gate's floor -> one alert mail and a
  queued training run; without enough labels -> no verdict, no mail, no trigger.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlstack.data.synthetic import generate
from tests.dags._airflow import lifecycle_env
from tests.dags.test_drift_dag import _smtp_env

pytestmark = pytest.mark.dags

ASSET_URI = "mlstack://batch-predictions/"


@pytest.fixture(scope="module")
def home(airflow_db, tmp_path_factory) -> Path:
    """A home with a champion trained in-process."""
    from mlstack import lifecycle
    from mlstack.config import load_settings

    home = tmp_path_factory.mktemp("batch-dag")
    with lifecycle_env(home):
        assert lifecycle.run_all(lifecycle.context(load_settings(), "penguins"))["champion"]
    return home


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from mlstack.airflow.dag_files import DAGS_FOLDER

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_shapes_and_the_drift_schedule_on_the_asset(dagbag):
    from airflow.sdk import AssetOrTimeSchedule

    assert dagbag.import_errors == {}
    batch = dagbag.dags["batch_inference"]
    assert set(batch.task_dict) == {"score"}
    assert [a.uri for a in batch.task_dict["score"].outlets] == [ASSET_URI]
    assert {"source", "output", "dataset"} <= set(batch.params)
    drift = dagbag.dags["drift_monitor"]
    assert isinstance(drift.timetable, AssetOrTimeSchedule)
    assert "0 0 * * *" in str(drift.timetable.timetable)  # its own @daily still holds
    quality = dagbag.dags["quality_monitor"]
    assert set(quality.task_dict) == {"check", "on_low_quality", "alert", "trigger_retraining"}
    assert quality.task_dict["trigger_retraining"].retries == 0


def _batch(home: Path) -> str:
    folder = home / "state" / "data" / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    frame = generate(300, seed=3, spec="penguins").astype({"island": object})
    frame.loc[5, "island"] = "Atlantis"
    path = folder / "to-score.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_batch_dag_scores_reports_and_publishes_the_asset_that_queues_drift(home):
    from mlstack.airflow.embedded_runs import asset_activity, run_dag_once, unpause
    from mlstack.serving.batch_inference import read_output

    with lifecycle_env(home):
        unpause("drift_monitor")  # as a deployment runs it; new DAGs start paused
        result = run_dag_once("batch_inference", {"source": _batch(home), "output": "dag-test"})
        activity = asset_activity(ASSET_URI)
        from mlstack.config import load_settings
        from mlstack.monitoring.prediction_log import read_predictions

        logged = read_predictions(load_settings())

    assert result["state"] == "success", result["tasks"]
    out = result["xcom"]["score"]
    assert (out["rows"], out["scored"], out["invalid"]) == (300, 299, 1)
    frame = read_output(out["output_uri"])
    assert len(frame) == 299 and set(frame["prediction_id"]) <= set(logged["prediction_id"])
    assert Path(out["output_uri"]).parent.name == "dag-test"
    assert "island" in pd.read_csv(out["invalid_rows_uri"])["reasons"][0]
    assert activity["events"] and activity["events"][-1]["source_dag_id"] == "batch_inference"
    assert activity["events"][-1]["extra"]["output_uri"] == out["output_uri"]
    assert activity["queued"] == ["drift_monitor"]  # data-aware scheduling: drift runs next


def test_batch_dag_refuses_a_source_outside_the_allowlist(home, tmp_path):
    from mlstack.airflow.embedded_runs import run_dag_once

    outside = tmp_path / "elsewhere.csv"
    generate(30, seed=1).to_csv(outside, index=False)
    with lifecycle_env(home):
        result = run_dag_once("batch_inference", {"source": str(outside)})
    assert result["state"] == "failed" and result["tasks"]["score"] == "failed"


def test_quality_dag_alerts_and_retrains_below_the_floor(home, smtp_server):
    from mlstack.airflow.embedded_runs import queued_runs, run_dag_once
    from mlstack.config import load_settings
    from mlstack.data.spec import load_spec
    from mlstack.monitoring.feedback import record_feedback
    from mlstack.monitoring.prediction_log import read_predictions

    with lifecycle_env(home, **_smtp_env(smtp_server), MLSTACK_QUALITY_MIN_LABELS="1000"):
        settings = load_settings()
        logged = read_predictions(settings)
        few = run_dag_once("quality_monitor")
        wrong = {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"}
        labels = pd.DataFrame(
            {"prediction_id": logged["prediction_id"], "species": logged["prediction"].map(wrong)}
        )
        record_feedback(settings, load_spec("penguins"), labels, "test")
        still_few = run_dag_once("quality_monitor")
    assert few["state"] == "success" and few["tasks"]["alert"] == "skipped"
    assert still_few["xcom"]["check"]["enough_labels"] is False
    assert smtp_server.messages == []

    before = len(queued_runs("training_pipeline"))
    with lifecycle_env(home, **_smtp_env(smtp_server), MLSTACK_QUALITY_MIN_LABELS="100"):
        low = run_dag_once("quality_monitor", {"window": "1d"})
        after = len(queued_runs("training_pipeline"))
    check = low["xcom"]["check"]
    assert low["state"] == "success" and set(low["tasks"].values()) == {"success"}, low["tasks"]
    assert check["below_floor"] is True and check["value"] == 0.0 and check["labels"] >= 299
    assert after == before + 1
    mails = smtp_server.wait_for(1, timeout=30)
    assert len(mails) == 1 and "live quality below the floor" in mails[0]["Subject"]
