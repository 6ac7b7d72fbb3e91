"""The prediction log keeps each prediction's id, and a log written before ids existed is
upgraded in place (its old rows keep no id, readers keep working). Its direct INSERT writes what
SQLAlchemy's insert writes, and every SQLite connection runs with the log's PRAGMAs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from mlstack.monitoring import prediction_log
from mlstack.monitoring.prediction_log import engine_for, log_predictions, read_predictions
from mlstack.serving.inputs import prepare_inputs
from mlstack.serving.loader import ModelServer
from mlstack.serving.scoring import Prediction
from tests.support.log_rows import assert_rows_as_sqlalchemy_writes_them

from .conftest import make_settings

ROW = {  # every field (an absent field is refused; null where the spec allows it)
    "island": "Dream",
    "bill_length_mm": 45.0,
    "bill_depth_mm": None,
    "flipper_length_mm": None,
    "body_mass_g": None,
    "sex": None,
    "year": 2008,
}


def test_old_log_gains_the_id_column_and_keeps_its_rows(trained, tmp_path):
    ctx, _ = trained
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as conn:  # the table as it was before prediction ids
        conn.execute(
            sa.text(
                "CREATE TABLE predictions (id INTEGER PRIMARY KEY AUTOINCREMENT, at DATETIME NOT NULL, "
                "model_name VARCHAR(200) NOT NULL, model_version VARCHAR(20) NOT NULL, "
                "source VARCHAR(40) NOT NULL, inputs JSON NOT NULL, output JSON NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO predictions (at, model_name, model_version, source, inputs, output) VALUES "
                "('2026-01-01 00:00:00', 'm', '1', 'cli', :inputs, :output)"
            ),
            {"inputs": '{"island": "Dream", "year": 2008}', "output": '{"prediction": "Adelie"}'},
        )
    old.dispose()
    engine_for.cache_clear()
    settings = make_settings(ctx.settings.home, prediction_log_url=url)
    server = ModelServer(settings, ctx.spec)
    result = server.predict([ROW, ROW])
    checked = prepare_inputs([ROW, ROW], ctx.spec)
    assert log_predictions(settings, checked, result, "api", ["a" * 32, "b" * 32]) == 2
    log_predictions(settings, checked, result, "cli")  # ids generated when none are given

    frame = read_predictions(settings)
    assert len(frame) == 5
    assert frame["prediction_id"].iloc[0] is None  # the old row
    assert list(frame["prediction_id"].iloc[1:3]) == ["a" * 32, "b" * 32]
    assert all(len(i) == 32 for i in frame["prediction_id"].iloc[3:])
    assert frame["prediction"].iloc[0] == "Adelie" and set(frame["island"]) == {"Dream"}
    columns = {c["name"] for c in sa.inspect(engine_for(url)).get_columns("predictions")}
    assert "prediction_id" in columns
    assert prediction_log.new_prediction_ids(3) != prediction_log.new_prediction_ids(3)


def test_the_direct_insert_writes_what_sqlalchemy_writes(tmp_path):
    engine_for.cache_clear()
    settings = make_settings(tmp_path / "home", prediction_log_url=f"sqlite:///{tmp_path / 'log.db'}")
    assert_rows_as_sqlalchemy_writes_them(settings)


def test_every_sqlite_connection_of_the_log_runs_wal_without_a_sync_per_commit(tmp_path):
    engine_for.cache_clear()
    engine = engine_for(f"sqlite:///{tmp_path / 'log.db'}")
    held = [engine.connect() for _ in range(3)]  # three pooled connections, each set up anew
    try:
        for conn in held:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0  # see next test
    finally:
        for conn in held:
            conn.close()


def test_no_commit_checkpoints_the_sqlite_log_a_thread_of_the_process_does(tmp_path, monkeypatch):
    """Commits leave the WAL to grow past SQLite's own 1,000-page threshold; the process's
    checkpoint thread then copies it back into the database (a PASSIVE checkpoint)."""
    from mlstack.monitoring import wal_checkpoints

    monkeypatch.setattr(wal_checkpoints, "CHECK_EVERY_S", 3600.0)  # a first thread that never looks
    engine_for.cache_clear()
    database = tmp_path / "log.db"
    settings = make_settings(tmp_path / "home", prediction_log_url=f"sqlite:///{database}")
    columns = {"island": np.array(["Dream"] * 1000, dtype=object), "bill_length_mm": np.full(1000, 45.1)}
    result = Prediction(["Adelie"] * 1000, None, "penguins-classifier", "1", "champion", "run")
    for _ in range(20):  # about 1,500 pages of WAL
        log_predictions(settings, columns, result, "unit-wal")
    wal = Path(f"{database}-wal")
    assert wal.stat().st_size > 1000 * 4096  # no commit checkpointed it
    assert database.stat().st_size < 100 * 4096  # the rows are in the WAL only
    assert wal_checkpoints.checkpoints[database.resolve()] == 0

    monkeypatch.setattr(wal_checkpoints, "CHECK_EVERY_S", 0.05)
    monkeypatch.setattr(wal_checkpoints, "_started", set())  # this process starts a thread anew
    engine_for.cache_clear()
    log_predictions(settings, columns, result, "unit-wal")  # a new engine, a new connection
    deadline = time.monotonic() + 10
    while not wal_checkpoints.checkpoints[database.resolve()] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wal_checkpoints.checkpoints[database.resolve()] >= 1
    assert database.stat().st_size > 1000 * 4096  # the pages are in the database now
    assert len(read_predictions(settings)) == 21_000


def test_prediction_ids_are_distinct_32_hex_characters():
    ids = prediction_log.new_prediction_ids(1000)
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert prediction_log.new_prediction_ids(0) == []


def test_prediction_ids_start_with_the_time_so_later_ids_sort_after_earlier_ones():
    before_ms = time.time_ns() // 1_000_000
    first = prediction_log.new_prediction_ids(500)
    time.sleep(0.002)
    second = prediction_log.new_prediction_ids(500)
    assert {int(i[:12], 16) for i in first} == {int(first[0][:12], 16)}
    assert before_ms <= int(first[0][:12], 16) <= time.time_ns() // 1_000_000
    assert max(first) < min(second)  # the index grows at its end, not all over
    assert len({i[12:] for i in first}) == 500  # the random part differs within one request
