"""The read-only MLflow user of the serving containers (issue 15 §1: readers cannot tamper).

`docker/mlflow/create_reader.py` (the compose one-shot `mlflow-users`) runs here against a real
MLflow server with basic auth, like the stack's (default_permission READ). The reader loads what
serving loads, and every write that could replace or redirect the champion is refused.
"""

from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("create_reader", ROOT / "docker/mlflow/create_reader.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _login(monkeypatch, username: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def _status(server, username: str, password: str) -> int:
    url = f"{server.tracking_uri}/api/2.0/mlflow/experiments/search"
    return requests.get(url, params={"max_results": 1}, auth=(username, password), timeout=10).status_code


@pytest.fixture
def champion(mlflow_auth_server, monkeypatch, tmp_path):
    """As the admin: a run with a model file, a registered version of it and its @champion."""
    _login(monkeypatch, mlflow_auth_server.username, mlflow_auth_server.password)
    client = MlflowClient(tracking_uri=mlflow_auth_server.tracking_uri)
    name = f"reader-{secrets.token_hex(4)}"
    run = client.create_run(client.create_experiment(name))
    model_file = tmp_path / "model.skops"
    model_file.write_bytes(b"the champion's bytes")
    client.log_artifact(run.info.run_id, str(model_file), artifact_path="model")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "champion", version.version)
    return name, run.info.run_id, version.version


def test_the_reader_loads_the_champion_and_cannot_change_it(
    mlflow_auth_server, champion, monkeypatch, tmp_path
):
    name, run_id, version = champion
    reader = _script()
    password = secrets.token_urlsafe(18)
    assert reader.ensure_reader(mlflow_auth_server.tracking_uri, "mlstack-reader", password) == "created"
    rotated = secrets.token_urlsafe(18)
    assert reader.ensure_reader(mlflow_auth_server.tracking_uri, "mlstack-reader", rotated) == "updated"
    assert _status(mlflow_auth_server, "mlstack-reader", password) == 401  # the old password is gone
    assert _status(mlflow_auth_server, "mlstack-reader", rotated) == 200

    _login(monkeypatch, "mlstack-reader", rotated)
    client = MlflowClient(tracking_uri=mlflow_auth_server.tracking_uri)
    # What serving does: resolve the alias, download the model's files through the server.
    assert client.get_model_version_by_alias(name, "champion").version == version
    local = client.download_artifacts(run_id, "model/model.skops", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == b"the champion's bytes"

    tampered = tmp_path / "model.skops"
    tampered.write_bytes(b"a pickle that would run code")
    writes = {
        "move @champion": lambda: client.set_registered_model_alias(name, "champion", version),
        "drop @champion": lambda: client.delete_registered_model_alias(name, "champion"),
        "tag the version": lambda: client.set_model_version_tag(name, version, "mlstack.gate", "promoted"),
        "delete the version": lambda: client.delete_model_version(name, version),
        "overwrite the model file": lambda: client.log_artifact(run_id, str(tampered), artifact_path="model"),
    }
    for what, write in writes.items():
        # Registry calls raise MlflowException; the artifact proxy's PUT raises requests' HTTPError.
        with pytest.raises((MlflowException, requests.HTTPError)) as refused:
            write()
        error = refused.value
        code = error.error_code if isinstance(error, MlflowException) else error.response.status_code
        assert code in ("PERMISSION_DENIED", 403), f"{what}: {error}"

    _login(monkeypatch, mlflow_auth_server.username, mlflow_auth_server.password)
    admin = MlflowClient(tracking_uri=mlflow_auth_server.tracking_uri)
    assert admin.get_model_version_by_alias(name, "champion").version == version
    got = admin.download_artifacts(run_id, "model/model.skops", str(tmp_path / "after"))
    assert Path(got).read_bytes() == b"the champion's bytes"


def test_the_one_shot_refuses_a_wrong_admin_login_without_printing_secrets(
    mlflow_auth_server, monkeypatch, capsys
):
    reader_password = secrets.token_urlsafe(18)
    _login(monkeypatch, mlflow_auth_server.username, "not-the-admin-password")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_auth_server.tracking_uri)
    monkeypatch.setenv("MLFLOW_READER_PASSWORD", reader_password)
    monkeypatch.setenv("MLFLOW_USERS_TIMEOUT", "0")
    assert _script().main() == 1
    err = capsys.readouterr().err
    assert "could not set up mlstack-reader" in err
    assert reader_password not in err and "not-the-admin-password" not in err

    monkeypatch.delenv("MLFLOW_READER_PASSWORD")
    assert _script().main() == 2
    assert "MLFLOW_READER_PASSWORD is not set, run make secrets" in capsys.readouterr().err


def test_for_the_reader_a_model_not_trained_yet_is_no_champion_not_a_refused_login(
    mlflow_auth_server, monkeypatch, tmp_path
):
    """MLflow answers the reader 403 (not 404) for a model that does not exist: the API's /ready
    must still say "waiting for a champion" on a fresh stack, and a wrong password stay a 401."""
    from mlstack.config import Settings
    from mlstack.errors import NoChampionError, RegistryAuthError
    from mlstack.serving.loader import resolve_alias

    _login(monkeypatch, mlflow_auth_server.username, mlflow_auth_server.password)
    password = secrets.token_urlsafe(18)
    _script().ensure_reader(mlflow_auth_server.tracking_uri, "mlstack-reader", password)
    settings = Settings(_env_file=None, home=tmp_path, tracking_uri=mlflow_auth_server.tracking_uri)
    _login(monkeypatch, "mlstack-reader", password)
    with pytest.raises(NoChampionError, match="has no @champion yet"):
        resolve_alias(settings, f"never-trained-{secrets.token_hex(4)}")
    _login(monkeypatch, "mlstack-reader", "a-wrong-password")
    with pytest.raises(RegistryAuthError):
        resolve_alias(settings, f"never-trained-{secrets.token_hex(4)}")
