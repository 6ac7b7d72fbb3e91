"""The scheduler's pre-fork warm-up (mlstack.airflow.preload) on a local SQLite store."""

from __future__ import annotations

import os

import pytest

from mlstack.airflow.preload import _warm_local_tracking_stores
from tests.unit.conftest import make_settings


def test_sqlite_stores_are_opened_before_the_fork_and_used_safely_after_it(tmp_path):
    settings = make_settings(tmp_path / "home")
    assert _warm_local_tracking_stores(settings) is True
    import mlflow

    client = mlflow.MlflowClient(settings.resolved_tracking_uri)
    store = client._tracking_client.store
    # The warm-up leaves no pooled connection behind for the children to share.
    assert store.engine.pool.checkedin() == 0
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a task process: the cached store, its own connection
        try:
            child = mlflow.MlflowClient(settings.resolved_tracking_uri)
            same = child._tracking_client.store is store
            child.create_experiment("made-in-a-fork")
            os.write(write, b"ok" if same else b"new store")
        except Exception as exc:  # pragma: no cover - reported to the parent
            os.write(write, repr(exc).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 600) == b"ok"
    assert client.get_experiment_by_name("made-in-a-fork") is not None


@pytest.mark.parametrize("uri", ["http://127.0.0.1:9", "postgresql://u:p@127.0.0.1:9/mlflow"])
def test_no_warm_up_for_a_server_or_a_remote_database(tmp_path, uri):
    # A tracking server needs none, and a remote database that is down must not hold up a start:
    # nothing is contacted (port 9 would refuse or hang).
    assert _warm_local_tracking_stores(make_settings(tmp_path / "home", tracking_uri=uri)) is False


def test_the_scheduler_preloads_before_airflow_starts_natively_and_in_compose(tmp_path):
    """Compose and the native services start the scheduler as `mlstack airflow scheduler`, and
    that imports the lifecycle's heavy modules before Airflow's own main runs (so before
    LocalExecutor forks a worker). Airflow's main is replaced by a probe in a fresh process."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from devstack import airflow_services

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    assert compose["services"]["airflow-scheduler"]["command"] == ["mlstack", "airflow", "scheduler"]
    native = airflow_services._command("scheduler", 0)
    assert Path(native[0]).name == "mlstack" and native[1:3] == ["airflow", "scheduler"]

    heavy = ("sklearn", "pandas", "mlflow", "mlstack.lifecycle")
    probe = (
        "import sys, airflow.__main__ as entry\n"
        f"heavy = {heavy!r}\n"
        "print('before', sorted(m for m in heavy if m in sys.modules))\n"
        "entry.main = lambda: print('at main', sorted(m for m in heavy if m in sys.modules), sys.argv[1:])\n"
        "from mlstack.airflow.preload import run_airflow_preloaded\n"
        "run_airflow_preloaded(['scheduler', '--skip-serve-logs'])\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "MLSTACK_HOME": str(tmp_path / "home"),
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "before []" in lines, out.stdout  # nothing heavy came with Airflow's own import
    assert f"at main {sorted(heavy)} ['scheduler', '--skip-serve-logs']" in lines, out.stdout
