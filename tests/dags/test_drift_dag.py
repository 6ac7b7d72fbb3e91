"""The drift_monitor DAG with `dag.test()` on embedded defaults, mails to a real SMTP server.

- no-drift batches (several seeds) neither alert nor trigger training (false-alarm check);
- a drifted batch sends exactly one drift mail and triggers the training DAG with the batch as
  its source; running that triggered run (no scheduler here: ``run_triggered`` stands in for it)
  retrains and records the gate's decision;
- the default path (`current` = `predictions:24h`, drifted answers in the prediction log) mails
  the drift and says that nothing retrains: the log has no labels, so no training run is queued;
- a failed check (unreadable batch) is mailed as a *failure* by the failure notifier, not as drift,
  and triggers nothing; a quiet prediction log skips the run (no verdict, no mail).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlstack.data.synthetic import generate, parse_drift
from tests.dags._airflow import lifecycle_env, registry

pytestmark = pytest.mark.dags

DRIFT_DAG = "drift_monitor"
TASKS = {"check", "on_drift", "alert", "on_labelled_batch", "trigger_retraining"}
STRONG = [
    "bill_length_mm:shift=2",
    "flipper_length_mm:shift=-1.5",
    "body_mass_g:scale=1.8",
    "island:mix=Biscoe:0.1,Dream:0.1,Torgersen:0.8",
]
RECIPIENTS = ["ml-team@example.test", "oncall@example.test"]


def _smtp_env(server) -> dict[str, str]:
    return {
        "MLSTACK_SMTP_HOST": server.host,
        "MLSTACK_SMTP_PORT": str(server.port),
        "MLSTACK_SMTP_STARTTLS": "false",
        "MLSTACK_SMTP_SSL": "false",
        "MLSTACK_SMTP_SENDER": "mlstack-alerts@example.test",
        "MLSTACK_ALERT_RECIPIENTS": ",".join(RECIPIENTS),
    }


def _incoming(home: Path, name: str) -> Path:
    """Where a batch for a DAG run goes: under the data root, which DAG runs may read."""
    folder = home / "data" / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _batch(path: Path, seed: int, drift_items=None) -> str:
    generate(300, seed=seed, spec="penguins", drift=parse_drift(drift_items)).to_csv(path, index=False)
    return str(path)


def _queued_training_runs() -> list[dict]:
    from mlstack.airflow.dag_files import TRAINING_DAG_ID
    from mlstack.airflow.embedded_runs import queued_runs

    return queued_runs(TRAINING_DAG_ID)


def _home_with_champion(tmp_path_factory, name: str) -> Path:
    """A home with a champion trained in-process (the drift DAG compares against it)."""
    from mlstack import lifecycle
    from mlstack.config import load_settings

    home = tmp_path_factory.mktemp(name)
    with lifecycle_env(home):
        summary = lifecycle.run_all(lifecycle.context(load_settings(), "penguins"))
    assert summary["champion"]
    return home


@pytest.fixture(scope="module")
def drift_home(airflow_db, tmp_path_factory) -> Path:
    return _home_with_champion(tmp_path_factory, "drift-dag")


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from mlstack.airflow.dag_files import DAGS_FOLDER

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_drift_dag_shape(dagbag):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    assert dagbag.import_errors == {}
    dag = dagbag.dags[DRIFT_DAG]
    assert set(dag.task_dict) == TASKS
    assert dag.task_dict["check"].downstream_task_ids == {"on_drift", "alert", "on_labelled_batch"}
    assert dag.task_dict["on_drift"].downstream_task_ids == {"alert", "on_labelled_batch"}
    assert dag.task_dict["on_labelled_batch"].downstream_task_ids == {"trigger_retraining"}
    trigger = dag.task_dict["trigger_retraining"]
    assert isinstance(trigger, TriggerDagRunOperator)
    assert trigger.trigger_dag_id == "training_pipeline"
    assert trigger.retries == 0, "a retried trigger could start a second training run"
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert {"current", "dataset", "drift_share", "sample_size"} <= set(dag.params)
    for task in dag.tasks:
        notifiers = [cb for cb in task.on_failure_callback if isinstance(cb, SmtpNotifier)]
        assert len(notifiers) == 1, task.task_id
    for task_id in ("check", "on_drift", "alert", "on_labelled_batch"):
        assert dag.task_dict[task_id].retries >= 1, task_id
        assert dag.task_dict[task_id].max_retry_delay <= timedelta(minutes=10)


def test_no_drift_batches_neither_alert_nor_trigger(drift_home, smtp_server, tmp_path):
    from mlstack.airflow.embedded_runs import run_drift_dag

    queued_before = len(_queued_training_runs())
    with lifecycle_env(drift_home, **_smtp_env(smtp_server)):
        results = [
            run_drift_dag({"current": _batch(_incoming(drift_home, f"ok{s}.csv"), seed=s)}) for s in (1, 2, 3)
        ]
        queued_after = len(_queued_training_runs())

    for result in results:
        assert result["state"] == "success", result["tasks"]
        assert result["tasks"]["check"] == "success"
        assert result["xcom"]["check"]["drift_detected"] is False, result["xcom"]["check"]
        assert result["tasks"]["on_drift"] == "success"
        for task_id in ("alert", "on_labelled_batch", "trigger_retraining"):
            assert result["tasks"][task_id] == "skipped", (task_id, result["tasks"])
    assert queued_after == queued_before, "no-drift data triggered training"
    assert smtp_server.messages == [], [m["Subject"] for m in smtp_server.messages]


def test_drifted_batch_mails_once_triggers_training_and_the_gate_decides(drift_home, smtp_server, tmp_path):
    from mlstack.airflow.embedded_runs import run_drift_dag, run_triggered

    batch = _batch(_incoming(drift_home, "drifted.csv"), seed=11, drift_items=STRONG)
    with lifecycle_env(drift_home, **_smtp_env(smtp_server)):
        before = registry(drift_home)
        result = run_drift_dag({"current": batch})
        check = result["xcom"].get("check") or {}
        queued = [
            r for r in _queued_training_runs() if r["conf"].get("source") == check.get("retrain_source")
        ]

        assert result["state"] == "success", result["tasks"]
        assert set(result["tasks"].values()) == {"success"}, result["tasks"]
        assert check["drift_detected"] is True
        top = [c["column"] for c in check["top_drifted"]]
        assert {"bill_length_mm", "flipper_length_mm", "body_mass_g", "island"} <= set(top)

        # the training DAG was triggered with the drifted batch (the raw copy ingest kept)
        assert len(queued) == 1, queued
        assert Path(check["retrain_source"]).read_bytes() == Path(batch).read_bytes()
        assert queued[0]["conf"]["dataset"] == "penguins"

        # exactly one mail: the drift alert, with the top drifted columns and the report link
        messages = smtp_server.wait_for(1, timeout=30)
        assert len(messages) == 1, [m["Subject"] for m in messages]
        mail = messages[0]
        assert mail["Subject"].startswith("[mlstack] drift on penguins-classifier")
        assert sorted(smtp_server.deliveries[0].rcpt_tos) == RECIPIENTS
        body = mail.get_body(("html", "plain")).get_content()
        for column in top[:4]:
            assert column in body, column
        assert check["report_link"] in body
        assert Path(check["report_link"]).is_file()
        assert "training_pipeline" in body

        # the scheduler's part: run the triggered run; it retrains and the gate decides
        training = run_triggered()
        after = registry(drift_home)

    mine = [r for r in training if r["run_id"] == queued[0]["run_id"]]
    assert len(mine) == 1, (queued, [r["run_id"] for r in training])
    run = mine[0]
    assert run["state"] == "success", run["tasks"]
    decision = run["xcom"]["promote"]
    assert decision["verdict"] in {"promoted", "refused"}
    assert decision["champion_version"] == before["champion"]
    new = next(v for v in after["versions"] if v["version"] == str(run["xcom"]["register"]["version"]))
    assert new["tags"]["dag_id"] == "training_pipeline"
    assert new["tags"]["orchestrator_run_id"] == run["run_id"]
    assert new["tags"]["gate.verdict"] == decision["verdict"]
    assert new["tags"]["dataset_id"] == run["xcom"]["ingest"]["dataset_id"]
    # one version per training run executed (runs other tests queued may run here too)
    assert len(after["versions"]) == len(before["versions"]) + len(training)
    assert sum(v["tags"].get("orchestrator_run_id") == run["run_id"] for v in after["versions"]) == 1
    assert len(smtp_server.messages) == 1, "retraining itself sends no mail"


def test_failed_check_is_mailed_as_a_failure_not_as_drift(drift_home, smtp_server, tmp_path):
    from mlstack.airflow.embedded_runs import run_drift_dag

    queued_before = len(_queued_training_runs())
    with lifecycle_env(drift_home, **_smtp_env(smtp_server)):
        result = run_drift_dag({"current": str(_incoming(drift_home, "no-such-batch.csv"))})
        queued_after = len(_queued_training_runs())

    assert result["state"] == "failed"
    assert result["tasks"]["check"] == "failed"
    for task_id in ("on_drift", "alert", "on_labelled_batch", "trigger_retraining"):
        assert result["tasks"][task_id] == "upstream_failed", (task_id, result["tasks"])
    assert queued_after == queued_before
    messages = smtp_server.wait_for(1, timeout=30)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    subject = messages[0]["Subject"]
    assert "drift_monitor.check failed" in subject and "try 1 " in subject  # bad input: no retry
    assert "drift on" not in subject
    body = messages[0].get_body(("html", "plain")).get_content()
    assert "no-such-batch.csv" in body and "no such file" in body


def test_quiet_prediction_log_skips_without_verdict(drift_home, smtp_server):
    from mlstack.airflow.embedded_runs import run_drift_dag

    with lifecycle_env(drift_home, **_smtp_env(smtp_server)):
        result = run_drift_dag({"current": "predictions:1h"})
    assert result["state"] == "success", result["tasks"]
    assert set(result["tasks"].values()) == {"skipped"}, result["tasks"]
    assert smtp_server.messages == []


def test_smtp_down_alert_is_one_line_and_the_retraining_still_runs(drift_home, smtp_server, tmp_path):
    """Nothing listens on the SMTP port (the sink's host, a fresh free port): the alert step returns
    False instead of failing, the DAG run succeeds and the triggered retraining runs (nothing is
    left queued). The one-line message itself: tests/integration/test_alert_destination.py."""
    from devstack.ports import free_port
    from mlstack.airflow.embedded_runs import run_drift_dag, run_triggered

    port = free_port()  # nothing listens on a fresh free port
    env = {**_smtp_env(smtp_server), "MLSTACK_SMTP_PORT": str(port)}
    # Drifted away from both the first champion's data and STRONG (an earlier test may have
    # promoted a champion trained on a STRONG batch).
    opposite = [
        "bill_length_mm:shift=-3",
        "bill_depth_mm:shift=3",
        "flipper_length_mm:shift=3",
        "body_mass_g:scale=0.4",
        "island:mix=Biscoe:0.05,Dream:0.9,Torgersen:0.05",
    ]
    batch = _batch(_incoming(drift_home, "drifted-opposite.csv"), seed=12, drift_items=opposite)
    with lifecycle_env(drift_home, **env):
        result = run_drift_dag({"current": batch})
        check = result["xcom"].get("check") or {}
        queued = [
            r for r in _queued_training_runs() if r["conf"].get("source") == check.get("retrain_source")
        ]
        assert result["state"] == "success", result["tasks"]
        assert set(result["tasks"].values()) == {"success"}, (result["tasks"], check)
        assert result["xcom"].get("alert") is False
        assert len(queued) == 1, queued
        training = run_triggered()
        left = [r for r in _queued_training_runs() if r["run_id"] == queued[0]["run_id"]]
    assert [r["state"] for r in training if r["run_id"] == queued[0]["run_id"]] == ["success"]
    assert left == []


@pytest.fixture(scope="module")
def prediction_home(airflow_db, tmp_path_factory) -> Path:
    """A champion of its own and an empty prediction log (the other tests' batches stay apart)."""
    return _home_with_champion(tmp_path_factory, "drift-predictions")


def test_default_prediction_log_drift_mails_and_retrains_nothing(prediction_home, smtp_server):
    """The default `current=predictions:24h`: drifted answers in the log are mailed as drift, and no
    training run is queued, because the log has no labels to train on (retraining on the
    configured source would learn from data unrelated to the drift)."""
    from mlstack import lifecycle
    from mlstack.airflow.embedded_runs import run_drift_dag
    from mlstack.config import load_settings
    from mlstack.monitoring.prediction_log import log_predictions
    from mlstack.serving.inputs import prepare_inputs
    from mlstack.serving.loader import ModelServer

    with lifecycle_env(prediction_home, **_smtp_env(smtp_server)):
        ctx = lifecycle.context(load_settings(), "penguins")
        drifted = generate(300, seed=31, spec=ctx.spec, drift=parse_drift(STRONG))
        features = prepare_inputs(drifted[ctx.spec.feature_names], ctx.spec)
        log_predictions(ctx.settings, features, ModelServer(ctx.settings, ctx.spec).predict(features), "api")
        before = registry(prediction_home)
        queued_before = _queued_training_runs()
        result = run_drift_dag({})  # no params: the DAG's default `current`
        queued_after = _queued_training_runs()
        after = registry(prediction_home)

    check = result["xcom"].get("check") or {}
    assert result["state"] == "success", result["tasks"]
    assert check["current"] == "predictions:24h" and check["current_kind"] == "predictions", check
    assert check["current_rows"] == 300
    assert check["drift_detected"] is True, check
    assert check["retrain_source"] is None
    assert {
        t: result["tasks"][t] for t in ("check", "on_drift", "alert", "on_labelled_batch")
    } == dict.fromkeys(("check", "on_drift", "alert", "on_labelled_batch"), "success")
    assert result["tasks"]["trigger_retraining"] == "skipped"
    assert queued_after == queued_before, "prediction-log drift queued a training run"
    assert after["versions"] == before["versions"] and after["champion"] == before["champion"]

    messages = smtp_server.wait_for(1, timeout=30)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    assert messages[0]["Subject"].startswith("[mlstack] drift on penguins-classifier")
    body = messages[0].get_body(("html", "plain")).get_content()
    assert "Retraining triggered" not in body
    assert "No retraining triggered: the drift is in the prediction log (predictions:24h)" in body
    assert "trigger training_pipeline with a labelled batch as its source" in body
