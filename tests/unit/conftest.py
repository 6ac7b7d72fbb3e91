"""Unit-test fixtures: embedded settings in a fresh folder, no servers."""

from __future__ import annotations

import os

import pytest

from mlstack import lifecycle
from mlstack.config import Settings


def make_settings(home, **overrides) -> Settings:
    # _env_file=None: a developer's .env/.secrets must not leak into unit tests; and
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, so pin the embedded store here.
    overrides.setdefault("tracking_uri", None)
    return Settings(_env_file=None, home=home, **overrides)


# What the caller's environment may hold (a Jenkins controller sets MLSTACK_SMTP_PASSWORD="", a
# shell may point MLFLOW_TRACKING_URI at a server): unit tests see none of it.
_CALLER_PREFIXES = ("MLSTACK_", "MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")


@pytest.fixture(autouse=True)
def _no_caller_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(_CALLER_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def ctx(settings) -> lifecycle.Context:
    return lifecycle.context(settings, "penguins", trusted_caller=True)  # the user at their shell


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A champion trained once per module on embedded defaults: (ctx, summary)."""
    home = tmp_path_factory.mktemp("trained")
    context = lifecycle.context(make_settings(home), "penguins", trusted_caller=True)
    return context, lifecycle.run_all(context)
