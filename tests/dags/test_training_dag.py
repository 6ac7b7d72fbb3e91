"""`dag.test()` runs of the training DAG on embedded defaults (SQLite Airflow + SQLite MLflow).

Success path, clearing tasks of a finished run, a worse challenger, and a bad batch that fails
validation and sends exactly one alert mail to a real SMTP server (plain, and STARTTLS with a
self-signed certificate the way Gmail is reached).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dags._airflow import lifecycle_env, registry, run_dag

pytestmark = pytest.mark.dags

STEPS = {"ingest", "validate", "train", "evaluate", "register", "promote"}


def test_success_path_sets_champion_with_lineage(champion_home):
    result = champion_home["result"]
    assert result["state"] == "success", result["tasks"]
    assert set(result["tasks"]) == STEPS
    assert set(result["tasks"].values()) == {"success"}

    xcom = result["xcom"]
    assert xcom["promote"]["verdict"] == "promoted", xcom["promote"]
    # XComs are references, never data: every return value is a small dict.
    for task_id, value in xcom.items():
        assert isinstance(value, dict), task_id
        assert len(json.dumps(value, default=str)) < 2000, task_id

    state = registry(champion_home["home"])
    version = str(xcom["register"]["version"])
    assert str(state["champion"]) == version
    tags = next(v for v in state["versions"] if v["version"] == version)["tags"]
    assert tags["orchestrator"] == "airflow"
    assert tags["dag_id"] == "training_pipeline"
    assert tags["orchestrator_run_id"] == result["run_id"]
    assert tags["dataset_id"] == xcom["ingest"]["dataset_id"]
    assert tags["gate.verdict"] == "promoted"


def _rerun_tasks(run_id: str, task_ids: list[str]) -> None:
    """Run tasks of an existing DAG run again, as after clearing them (`airflow tasks test`)."""
    from airflow.cli import cli_parser
    from airflow.cli.commands import task_command

    from mlstack.airflow.dag_files import load_dag

    dag = load_dag()
    parser = cli_parser.get_parser()
    for task_id in task_ids:
        args = parser.parse_args(["tasks", "test", "training_pipeline", task_id, run_id])
        task_command.task_test(args, dag=dag)


def test_clearing_and_rerunning_tasks_does_not_duplicate_the_version(champion_home):
    from mlstack.airflow.embedded import describe_run

    home, run_id = champion_home["home"], champion_home["result"]["run_id"]
    with lifecycle_env(home):
        before = registry(home)
        _rerun_tasks(run_id, ["train", "evaluate", "register"])
        after_run = describe_run("training_pipeline", run_id)
        after = registry(home)

    new_train_run = after_run["xcom"]["train"]["run_id"]
    assert new_train_run != champion_home["result"]["xcom"]["train"]["run_id"], "train did not re-run"
    assert after_run["xcom"]["register"]["created"] is False
    assert str(after_run["xcom"]["register"]["version"]) == str(
        champion_home["result"]["xcom"]["register"]["version"]
    )
    assert [v["version"] for v in after["versions"]] == [v["version"] for v in before["versions"]]
    assert after["champion"] == before["champion"]


def test_worse_challenger_is_refused_and_champion_stays(champion_home):
    home = champion_home["home"]
    # A one-tree stump is clearly worse; floor 0 so the refusal comes from the comparison itself.
    weak = json.dumps({"n_estimators": 1, "max_depth": 1, "min_samples_leaf": 1})
    with lifecycle_env(home, MLSTACK_HYPERPARAMS=weak):
        before = registry(home)
        result = run_dag({"gate_floor": 0.0})
        after = registry(home)

    assert result["state"] == "success", result["tasks"]
    decision = result["xcom"]["promote"]
    assert decision["verdict"] == "refused", decision
    assert decision["floor"] == 0.0  # the gate override param reached the gate
    assert str(decision["champion_version"]) == str(before["champion"])
    assert decision["delta"] < 0
    assert after["champion"] == before["champion"]
    new = next(v for v in after["versions"] if v["version"] == str(result["xcom"]["register"]["version"]))
    assert new["tags"]["gate.verdict"] == "refused"
    assert new["tags"]["orchestrator_run_id"] == result["run_id"]
    assert "champion" not in new["aliases"]


def _bad_batch(path: Path) -> str:
    from mlstack.data import sources

    path.parent.mkdir(parents=True, exist_ok=True)
    frame = sources.parse(sources.fetch("builtin:penguins"))
    frame.loc[10:14, "body_mass_g"] = 250000.0  # physically impossible penguins
    frame.loc[3, "island"] = "Atlantis"
    frame.to_csv(path, index=False)
    return str(path)


def _smtp_env(server, *, starttls: bool) -> dict[str, str]:
    env = {
        "MLSTACK_SMTP_HOST": server.host,
        "MLSTACK_SMTP_PORT": str(server.port),
        "MLSTACK_SMTP_STARTTLS": "true" if starttls else "false",
        "MLSTACK_SMTP_SSL": "false",
        "MLSTACK_SMTP_SENDER": "mlstack-alerts@example.test",
        "MLSTACK_ALERT_RECIPIENTS": "oncall@example.test,ml-team@example.test",
    }
    if server.username:
        env["MLSTACK_SMTP_USER"] = server.username
        env["MLSTACK_SMTP_PASSWORD"] = server.password or ""
    if starttls:
        # The connection verifies the certificate with the default context: trust the test CA.
        env["SSL_CERT_FILE"] = str(server.cert_path)
    return env


def _assert_one_failure_mail(server, result, *, error_word: str) -> None:
    messages = server.wait_for(1, timeout=30)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    mail = messages[0]
    delivery = server.deliveries[0]
    assert sorted(delivery.rcpt_tos) == ["ml-team@example.test", "oncall@example.test"]
    assert mail["From"] == "mlstack-alerts@example.test"
    subject = mail["Subject"]
    assert "training_pipeline.validate failed" in subject
    assert result["run_id"] in subject
    body = mail.get_body(("html", "plain")).get_content()
    for needle in ("training_pipeline", "validate", result["run_id"], "Try", error_word):
        assert needle in body, needle
    assert "http://airflow.example.test:8080/dags/training_pipeline/runs/" in body
    assert "/tasks/validate" in body


def _assert_failed_at_validate(result, before, after) -> None:
    assert result["state"] == "failed"
    assert result["tasks"]["ingest"] == "success"
    assert result["tasks"]["validate"] == "failed"
    for task_id in ("train", "evaluate", "register", "promote"):
        assert result["tasks"][task_id] == "upstream_failed", (task_id, result["tasks"])
    assert "validate" not in result["xcom"]
    assert [v["version"] for v in after["versions"]] == [v["version"] for v in before["versions"]]
    assert after["champion"] == before["champion"]


def test_bad_batch_fails_validation_once_and_mails_once(champion_home, smtp_server, tmp_path):
    home = champion_home["home"]
    source = _bad_batch(home / "data" / "bad.csv")  # the repository's data folder: allowlisted
    with lifecycle_env(home, **_smtp_env(smtp_server, starttls=False)):
        before = registry(home)
        result = run_dag({"source": source})
        after = registry(home)
    _assert_failed_at_validate(result, before, after)
    _assert_one_failure_mail(smtp_server, result, error_word="DataValidationError")
    # Bad data is not retried: exactly one try of validate.
    assert "try 1 " in smtp_server.messages[0]["Subject"]


def test_bad_batch_alert_over_starttls_with_login(airflow_db, smtp_starttls_server, tmp_path):
    """Gmail-style: STARTTLS required, then AUTH with user + app password; cert verified."""
    home = tmp_path / "home"
    source = _bad_batch(home / "data" / "bad.csv")
    with lifecycle_env(home, **_smtp_env(smtp_starttls_server, starttls=True)):
        before = registry(home)
        result = run_dag({"source": source})
        after = registry(home)
    _assert_failed_at_validate(result, before, after)
    assert after["versions"] == [] and after["champion"] is None
    _assert_one_failure_mail(smtp_starttls_server, result, error_word="DataValidationError")
    assert smtp_starttls_server.deliveries[0].login == smtp_starttls_server.username


def test_a_batch_that_can_never_parse_fails_ingest_at_once_and_mails_once(
    champion_home, smtp_server, tmp_path
):
    # given a JSON file where a CSV batch is expected (bad data, not a transient fault)
    home = champion_home["home"]
    source = home / "data" / "rows.csv"  # the repository's data folder: allowlisted
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text('[{"island": "Biscoe", "bill_length_mm": 40.1}]\n')
    with lifecycle_env(home, **_smtp_env(smtp_server, starttls=False)):
        before = registry(home)
        result = run_dag({"source": str(source)})
        after = registry(home)
    # then ingest fails on its first try, nothing downstream runs, the champion stays
    assert result["state"] == "failed"
    assert result["tasks"]["ingest"] == "failed"
    assert after["champion"] == before["champion"]
    messages = smtp_server.wait_for(1, timeout=30)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    subject = messages[0]["Subject"]
    assert "training_pipeline.ingest failed" in subject and "try 1 " in subject, subject
    body = messages[0].get_body(("html", "plain")).get_content()
    assert "UnreadableSourceError" in body and "JSON, not CSV" in body


def test_a_source_outside_the_allowlist_fails_ingest_at_once(champion_home, tmp_path):
    """A DAG param cannot read any file: refused at ingest, not retried, nothing registered."""
    home = champion_home["home"]
    outside = _bad_batch(tmp_path / "elsewhere" / "batch.csv")
    with lifecycle_env(home):
        before = registry(home)
        result = run_dag({"source": outside})
        after = registry(home)
    assert result["state"] == "failed"
    assert result["tasks"]["ingest"] == "failed", result["tasks"]
    assert after == before
