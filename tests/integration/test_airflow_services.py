"""Live Airflow: api-server, scheduler, dag-processor, triggerer on PostgreSQL + a real MLflow server.

Started and stopped through `mlstack airflow services` (what `make airflow-up/-down` run):
trigger once with `mlstack airflow trigger` and once with the REST client in-process, wait for success, check that the champion
alias moved, that clearing tasks of a finished run re-runs them without a duplicate version, that
the UI links lead to MLflow; then stop everything and check that no process is left.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.ports import free_port, port_is_open

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MLSTACK = str(Path(sys.executable).parent / "mlstack")
DAG = "training_pipeline"


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's env minus anything Airflow/mlstack-specific (other tests set some)."""
    drop = ("AIRFLOW", "MLSTACK_", "MLFLOW_", "_MLSTACK")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def _permuted_labels_batch(path: Path) -> str:
    """Valid data whose labels are rotated: a perfect but wrong model, beaten by any honest one."""
    from mlstack.data import sources

    frame = sources.parse(sources.fetch("builtin:penguins"))
    rotate = {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"}
    frame["species"] = frame["species"].map(rotate)
    frame.to_csv(path, index=False)
    return str(path)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def live(postgres, mlflow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("airflow-live")
    state_dir = root / "services"
    port = free_port()
    db = postgres.create_database(f"airflow_{secrets.token_hex(3)}")
    env = _clean_env(
        {
            "MLSTACK_HOME": str(root / "mlstack"),
            "MLSTACK_AIRFLOW_DB_URL": db.sqlalchemy_url,
            "MLSTACK_AIRFLOW_URL": f"http://127.0.0.1:{port}",
            "MLSTACK_AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
            # The product's schedule: the first trigger unpauses the DAG, and must start no scheduled run.
            "MLSTACK_SCHEDULE": "@daily",
            # One batch per window: the rotated-labels champion is then judged on the new batch
            # alone, as this test means (the window and pinned set: tests/unit/test_training_window.py).
            "MLSTACK_TRAINING_WINDOW": "1",
            **mlflow_server.client_env(),
        }
    )

    def mlstack(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [MLSTACK, *args],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def services(command: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return mlstack("airflow", "services", command, "--state-dir", str(state_dir), *args, **kwargs)

    started = services("up", "--cwd", str(root), "--json", "--timeout", "400")
    timings = json.loads(started.stdout.strip().splitlines()[-1])
    print(
        f"\nairflow services healthy after {timings['healthy_after_s']:.1f}s ({timings['total_s']:.1f}s total)"
    )
    info = {
        "root": root,
        # A DAG run reads only allowlisted sources: the data root (MLSTACK_HOME/data) is one.
        "incoming": _mkdir(root / "mlstack" / "data" / "incoming"),
        "state_dir": state_dir,
        "port": port,
        "env": env,
        "services": services,
        "mlstack": mlstack,
    }
    try:
        yield info
    finally:
        services("down", check=False, timeout=300)  # a no-op when the test stopped them


def _client(live):
    from mlstack.airflow.client import AirflowClient
    from mlstack.config import Settings

    env = live["env"]
    settings = Settings(
        _env_file=None,
        airflow_url=env["MLSTACK_AIRFLOW_URL"],
        airflow_admin_password=env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"],
    )
    return AirflowClient.from_settings(settings)


def _registry(mlflow_server):
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.tracking_uri)
    versions = client.search_model_versions("name = 'penguins-classifier'")
    try:
        champion = str(client.get_model_version_by_alias("penguins-classifier", "champion").version)
    except Exception:
        champion = None
    return champion, sorted(str(v.version) for v in versions)


def _login_is_required(live) -> None:
    import requests

    base = live["env"]["MLSTACK_AIRFLOW_URL"]
    assert requests.get(f"{base}/api/v2/dags", timeout=10).status_code == 401
    bad = requests.post(f"{base}/auth/token", json={"username": "admin", "password": "wrong"}, timeout=10)
    assert bad.status_code == 401


def _scheduler_preloads_heavy_modules(live) -> None:
    """Task processes are forks of the scheduler's LocalExecutor workers: they inherit these."""
    pid = int((live["state_dir"] / "pids" / "scheduler.pid").read_text())
    maps = Path(f"/proc/{pid}/maps").read_text()
    for package in ("sklearn", "pandas", "pyarrow"):
        assert f"/site-packages/{package}/" in maps, package


def _marked_processes(state_dir: Path) -> list[int]:
    marker = f"MLSTACK_AIRFLOW_SERVICES={state_dir.resolve()}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if marker in (entry / "environ").read_bytes() and stat not in ("Z", "X"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.timeout(1800)
def test_live_services_cli_and_rest_triggers_move_the_champion(live, mlflow_server):
    _login_is_required(live)
    _scheduler_preloads_heavy_modules(live)
    assert _marked_processes(live["state_dir"]), "the services should be running"

    # 1. CLI: `mlstack airflow trigger` on a batch with rotated labels -> v1, the first champion.
    bad_labels = _permuted_labels_batch(live["incoming"] / "rotated.csv")
    cli = live["mlstack"](
        "airflow", "trigger", DAG, "--conf", json.dumps({"source": bad_labels}), check=False
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    champion, versions = _registry(mlflow_server)
    assert (champion, versions) == ("1", ["1"])
    # Unpausing the @daily DAG started no run of its own: the manual run took the due period.
    client = _client(live)
    runs = client.request("GET", f"/dags/{DAG}/dagRuns")["dag_runs"]
    assert [r["run_type"] for r in runs] == ["manual"], runs
    dag = client.get_dag(DAG)
    assert dag["is_paused"] is False
    assert dag["next_dagrun_logical_date"] > runs[0]["logical_date"], dag  # the schedule moved on

    # A failed run names the failed task and its error (from the task's log), not only "failed".
    few = live["incoming"] / "few_rows.csv"
    few.write_text(
        Path(bad_labels).read_text().splitlines()[0]
        + "\n"
        + "\n".join(Path(bad_labels).read_text().splitlines()[1:6])
        + "\n"
    )
    failed = live["mlstack"](
        "airflow", "trigger", DAG, "--conf", json.dumps({"source": str(few)}), check=False
    )
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "task validate failed: " in failed.stderr, failed.stderr[-3000:]
    assert json.loads(failed.stdout)["failures"].keys() == {"validate"}

    # 2. REST v2: the real data -> v2 beats v1 on the same holdout: the alias moves.
    result = client.trigger_and_wait(DAG, {}, timeout=900)
    print(f"REST run: {result.trigger_to_finish_s:.1f}s trigger-to-success; tasks {result.tasks}")
    assert result.state == "success", result.tasks
    champion, versions = _registry(mlflow_server)
    assert (champion, versions) == ("2", ["1", "2"])
    decision = client.xcom(DAG, result.run_id, "promote")
    assert decision["verdict"] == "promoted" and str(decision["champion_version"]) == "1"

    # The UI links of the tasks lead to the MLflow run and the model version.
    train = client.xcom(DAG, result.run_id, "train")
    links = client.extra_links(DAG, result.run_id, "train")
    assert links["MLflow run"] == f"{mlflow_server.tracking_uri}/#/runs/{train['run_id']}"
    links = client.extra_links(DAG, result.run_id, "register")
    assert links["Model version"] == f"{mlflow_server.tracking_uri}/#/models/penguins-classifier/versions/2"

    # 3. Clear train (and downstream) of that finished run: it runs again, no new version.
    cleared = client.clear_tasks(DAG, result.run_id, ["train"], downstream=True)
    assert {ti["task_id"] for ti in cleared} == {"train", "evaluate", "register", "promote"}
    rerun = client.wait(DAG, result.run_id, timeout=900)
    assert rerun["state"] == "success"
    assert client.xcom(DAG, result.run_id, "train")["run_id"] != train["run_id"]
    assert client.xcom(DAG, result.run_id, "register")["created"] is False
    assert _registry(mlflow_server) == ("2", ["1", "2"])

    # 4. Stop: every process we started (and its children) is gone, the port is closed.
    stopped = live["services"]("down", check=False, timeout=300)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "no process left" in stopped.stderr
    assert _marked_processes(live["state_dir"]) == []
    assert not port_is_open(live["port"])
