"""Fixtures of the Streamlit AppTest suite: one trained embedded home per session, copied per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.support import copy_home, isolate_settings, train


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """An embedded MLSTACK_HOME with penguins-classifier v1 as @champion (trained once, ~15-40 s)."""
    home = tmp_path_factory.mktemp("trained") / "home"
    summary = train(home, tracking_uri=None, prediction_log_url=None, data_root=None)
    assert str(summary["champion"]) == "1", summary["gate"]
    return home, summary


@pytest.fixture
def app_home(trained_home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the trained home; the app's settings point at it (alias re-checked every run)."""
    home = copy_home(trained_home[0], tmp_path / "home")
    isolate_settings(monkeypatch, home)
    yield home


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home where nothing was ever trained."""
    home = tmp_path / "empty-home"
    isolate_settings(monkeypatch, home)
    return home
