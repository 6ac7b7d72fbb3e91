"""Helpers shared by the Streamlit tests (AppTest in tests/app, headless Chromium in tests/browser)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from mlstack.data.spec import load_spec
from tests.support.rows import GOOD_ROW  # noqa: F401 - re-exported to the app tests

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit" / "app.py"
APP_TIMEOUT = 240  # the first run imports MLflow and loads the model (15-40 s on a busy 2-core box)

# Settings that could point the app somewhere else than the test wants.
_SETTING_VARS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


def isolate_settings(monkeypatch: pytest.MonkeyPatch, home: Path, **values: Any) -> dict[str, str]:
    """Point mlstack settings (read from the environment by the app) at `home` and `values` only.

    Runs from `home` so no `.env`/`.secrets` of the checkout is read. Returns the variables set.
    """
    for var in list(os.environ):
        if var.startswith("MLSTACK_") or var in _SETTING_VARS:
            monkeypatch.delenv(var, raising=False)
    env = {"MLSTACK_HOME": str(home), "MLSTACK_ALIAS_REFRESH_SECONDS": "0"}
    env.update({f"MLSTACK_{k.upper()}": str(v) for k, v in values.items()})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(home)
    return env


def train(home: Path, **overrides: Any) -> dict:
    """Run the whole lifecycle (embedded defaults unless overridden): one @champion version."""
    from mlstack import lifecycle
    from mlstack.config import load_settings

    for name in (
        "model_name",
        "experiment",
        "gate_metric",
        "gate_floor",
        "estimator",
        "source",
        "registry_uri",
    ):
        overrides.setdefault(name, None)  # the bundled spec's defaults, whatever the environment says
    settings = load_settings(home=home, **overrides)
    return lifecycle.run_all(lifecycle.context(settings, "penguins"))


def copy_home(trained: Path, dest: Path) -> Path:
    """A private copy of a trained embedded home (SQLite registry; artifacts stay shared, read-only)."""
    # the log and its WAL: a WAL without its database would be replayed into the copy's new log
    shutil.copytree(trained, dest, ignore=shutil.ignore_patterns("predictions.db*"))
    return dest


def texts(at: Any, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def all_text(at: Any) -> str:
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success")
    return "\n".join(t for kind in kinds for t in texts(at, kind))


def assert_no_exception(at: Any) -> None:
    assert not at.exception, [e.value for e in at.exception]


SPEC = load_spec("penguins")


UNKNOWN = "— unknown —"  # the select option of a nullable category


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT).run()
    assert_no_exception(at)
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert_no_exception(at)
    return at


def fill_form(at: AppTest, row: dict) -> AppTest:
    for name, value in row.items():
        feature = SPEC.features[name]
        key = f"predict.{name}"
        if feature.is_numeric:
            at.number_input(key=key).set_value(value)
        else:
            at.selectbox(key=key).set_value(UNKNOWN if value is None else value)
    return at


def click_predict(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == "Predict"]
    button.click().run()
    assert_no_exception(at)
    return at
