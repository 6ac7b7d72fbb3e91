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
