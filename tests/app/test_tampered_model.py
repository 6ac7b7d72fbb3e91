"""The app with a tampered champion (issue 15, section 1): nothing of it runs, the page says why,
and a version already loaded keeps serving."""

from __future__ import annotations

import shutil

import pytest

from mlstack import tracking
from mlstack.config import load_settings
from tests.app.support import GOOD_ROW, SPEC, all_text, click_predict, fill_form, open_app, texts
from tests.support.tamper import model_dir, store_pickle

pytestmark = pytest.mark.app


def tampered_champion(tmp_path) -> str:
    """A new version made of a pickle (files copied from v1, v1's own files untouched), made
    @champion; returns its number."""
    settings = load_settings()
    name = tracking.model_name(settings, SPEC)
    directory = tmp_path / "evil-model"
    shutil.copytree(model_dir(settings, name, "1"), directory)
    store_pickle(directory, tmp_path / "pwned.txt")
    client = tracking.configure(settings)
    version = str(client.create_model_version(name, directory.as_uri()).version)
    client.set_registered_model_alias(name, "champion", version)
    return version


def test_a_refused_champion_stops_the_page_with_the_reason(app_home, tmp_path):
    version = tampered_champion(tmp_path)
    at = open_app("predict")
    [error] = texts(at, "error")
    assert "was refused" in error and f"version {version}: refused" in error and "only skops" in error
    assert not (tmp_path / "pwned.txt").exists()


def test_a_refused_new_champion_leaves_the_loaded_one_serving(app_home, tmp_path):
    at = click_predict(fill_form(open_app("predict"), GOOD_ROW))
    assert "version **1**" in all_text(at)
    version = tampered_champion(tmp_path)
    at.run()  # the alias is re-checked on every run here (refresh 0 s)
    [warning] = texts(at, "warning")
    assert f"version {version}: refused" in warning and "still serving" in warning and "v1" in warning
    click_predict(at)
    assert "version **1**" in all_text(at)
    assert not (tmp_path / "pwned.txt").exists()
