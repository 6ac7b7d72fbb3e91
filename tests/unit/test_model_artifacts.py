"""A tampered champion never runs code: every loader refuses it and says why (issue 15, section 1)."""

from __future__ import annotations

import os
import pathlib
import pickle
import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mlstack import lifecycle, tracking
from mlstack.cli import app
from mlstack.errors import RegistryError, UntrustedModelError
from mlstack.model import estimator
from mlstack.serving import service
from mlstack.serving.loader import ModelServer
from tests.support.rows import GOOD_ROW
from tests.support.tamper import Payload, model_dir, store_pickle

from .conftest import make_settings

ROW = GOOD_ROW


def store_untrusted_skops(directory: pathlib.Path) -> None:
    """A real skops file whose pipeline holds `os.system`, trusted by its own MLmodel file."""
    import skops.io
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    skops.io.dump(Pipeline([("run", FunctionTransformer(os.system))]), directory / "model.skops")
    meta = yaml.safe_load((directory / "MLmodel").read_text())
    flavor = meta["flavors"]["sklearn"]
    flavor["skops_trusted_types"] = [*flavor.get("skops_trusted_types", []), "posix.system", "nt.system"]
    (directory / "MLmodel").write_text(yaml.safe_dump(meta))


@pytest.fixture
def tampered(tmp_path):
    """A fresh champion whose stored files were replaced by a pickle: (ctx, version, marker)."""
    ctx = lifecycle.context(make_settings(tmp_path / "home"), "penguins")
    version = lifecycle.run_all(ctx)["champion"]
    marker = tmp_path / "pwned.txt"
    store_pickle(model_dir(ctx.settings, tracking.model_name(ctx.settings, ctx.spec), version), marker)
    return ctx, version, marker


def test_pickle_champion_is_refused_by_every_loader(tampered, monkeypatch):
    ctx, version, marker = tampered
    name = tracking.model_name(ctx.settings, ctx.spec)

    with pytest.raises(UntrustedModelError) as info:
        ModelServer(ctx.settings, ctx.spec).current()
    assert f"model {name} version {version}: refused" in str(info.value)
    assert "cloudpickle" in str(info.value) and "only skops" in str(info.value)

    with pytest.raises(UntrustedModelError, match="only skops"):
        service.predict(ModelServer(ctx.settings, ctx.spec), ROW, source="test")

    monkeypatch.chdir(ctx.settings.home_dir.parent)  # no developer .env
    monkeypatch.setenv("MLSTACK_HOME", str(ctx.settings.home_dir))
    result = CliRunner().invoke(app, ["predict", "--json-row", pd.Series(ROW).to_json()])
    assert result.exit_code != 0
    assert "refused" in result.output and "only skops" in result.output, result.output

    assert not marker.exists(), "loading the tampered model ran its code"


def test_pickle_under_the_skops_name_is_refused(trained, tmp_path):
    ctx, _ = trained
    directory = tmp_path / "model"
    shutil.copytree(model_dir(ctx.settings, tracking.model_name(ctx.settings, ctx.spec), "1"), directory)
    marker = tmp_path / "pwned.txt"
    (directory / "model.skops").write_bytes(pickle.dumps(Payload(marker)))
    from mlstack.model.artifact import load_pipeline

    with pytest.raises(UntrustedModelError, match="not a valid skops file"):
        load_pipeline(str(directory), "copy")
    assert not marker.exists()


def test_skops_with_types_outside_the_code_list_is_refused(trained, tmp_path):
    ctx, _ = trained
    directory = tmp_path / "model"
    shutil.copytree(model_dir(ctx.settings, tracking.model_name(ctx.settings, ctx.spec), "1"), directory)
    store_untrusted_skops(directory)
    from mlstack.model.artifact import load_pipeline

    with pytest.raises(
        UntrustedModelError, match=r"outside mlstack's trusted list: \['(posix|nt)\.system'\]"
    ):
        load_pipeline(str(directory), "copy")


def test_a_refused_new_version_leaves_the_previous_one_serving(tmp_path):
    settings = make_settings(tmp_path / "home", alias_refresh_seconds=0)
    ctx = lifecycle.context(settings, "penguins")
    first = lifecycle.run_all(ctx)["champion"]
    name = tracking.model_name(settings, ctx.spec)
    server = ModelServer(settings, ctx.spec)
    assert server.predict(ROW).version == first

    # A second version made of tampered files becomes champion.
    directory = tmp_path / "evil"
    shutil.copytree(model_dir(settings, name, first), directory)
    store_pickle(directory, tmp_path / "pwned.txt")
    client = tracking.configure(settings)
    second = str(client.create_model_version(name, directory.as_uri()).version)
    client.set_registered_model_alias(name, "champion", second)

    answer = server.predict(ROW)
    assert answer.version == first and answer.stale
    assert f"model {name} version {second}: refused" in (server.last_error or "")
    assert not (tmp_path / "pwned.txt").exists()


def test_trusted_types_cover_every_estimator_the_specs_allow():
    """The code's list is exactly what the pipelines `build` makes need beyond skops' defaults."""
    import skops.io

    from mlstack.data.spec import bundled_spec_names, load_spec
    from mlstack.data.synthetic import reference_frame

    needed: set[str] = set()
    for spec_name in bundled_spec_names():
        spec = load_spec(spec_name)
        frame = reference_frame(spec).head(200)
        for name, tasks in estimator._estimators().items():
            if spec.task not in tasks:
                continue
            params = {"n_estimators": 3} if name == "random_forest" else {}
            pipeline = estimator.build(spec, name, params, 0)
            pipeline.fit(estimator.model_inputs(frame, spec), frame[spec.target])
            needed |= set(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))
    assert needed == set(estimator.TRUSTED_TYPES)


def test_pickle_deserialization_is_off_in_process_and_containers():
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    compose = yaml.safe_load((pathlib.Path(__file__).parents[2] / "docker-compose.yml").read_text())
    assert compose["x-mlstack-env"]["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
    assert issubclass(UntrustedModelError, RegistryError)
