"""`tracking.registry_client`: MLflow's prompt check runs once per model name, not per write."""

from __future__ import annotations

import pytest

from mlstack import tracking

from .conftest import make_settings


def test_a_models_name_is_checked_once_for_all_its_writes(tmp_path, monkeypatch):
    client = tracking.configure(make_settings(tmp_path))
    client.create_registered_model("m")
    version = client.create_model_version("m", source=str(tmp_path), run_id=None).version
    reads: list[str] = []
    real_read = client.get_registered_model
    monkeypatch.setattr(client, "get_registered_model", lambda name: reads.append(name) or real_read(name))

    tags = {f"mlstack.gate.t{i}": str(i) for i in range(14)}  # a gate decision's worth of tags
    for key, value in tags.items():
        client.set_model_version_tag("m", version, key, value)
    client.set_registered_model_alias("m", "champion", version)
    client.set_registered_model_tag("m", "mlstack.champion_history", "[]")

    assert reads == ["m"]  # MLflow's own client reads it before each of the 16 writes
    written = client.get_model_version("m", version).tags
    assert {k: written[k] for k in tags} == tags
    assert client.get_model_version_by_alias("m", "champion").version == version


def test_a_name_that_failed_the_check_is_checked_again(tmp_path, monkeypatch):
    client = tracking.configure(make_settings(tmp_path))
    reads: list[str] = []
    real_read = client.get_registered_model
    monkeypatch.setattr(client, "get_registered_model", lambda name: reads.append(name) or real_read(name))
    for _ in range(2):
        with pytest.raises(Exception, match=r"not found|RESOURCE_DOES_NOT_EXIST"):
            client.set_registered_model_tag("missing", "k", "v")
    assert reads == ["missing", "missing"]
