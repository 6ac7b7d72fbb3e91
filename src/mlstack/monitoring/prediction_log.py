"""Append every prediction (id, inputs, output, model version, time, source) to a SQL table.

PostgreSQL in the stack, SQLite on embedded defaults (MLSTACK_PREDICTION_LOG_URL). Drift
monitoring reads it back as a DataFrame of the inputs. Each row carries a `prediction_id` (the
API returns it to the caller) so ground truth can be joined to a prediction later.

Shadow predictions (the `@challenger` scoring the same rows, see `serving.shadow`) are logged with
`shadow` true and the same `prediction_id` as the answer the caller got: one label then grades
both models. Readers leave them out unless they ask for them (drift must not count a row twice).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack import json_rows
from mlstack.config import Settings

if TYPE_CHECKING:
    from mlstack.serving.scoring import Prediction

metadata = sa.MetaData()
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    # nullable: rows logged before the column existed have none
    sa.Column("prediction_id", sa.String(32), nullable=True, index=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(20), nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("inputs", sa.JSON, nullable=False),
    sa.Column("output", sa.JSON, nullable=False),
    # nullable: rows logged before the column existed are the served answers (not shadow)
    sa.Column("shadow", sa.Boolean, nullable=True),
)
_CREATE_LOCK = threading.Lock()


def _url(url: str) -> str:
    # psycopg 3 is the installed driver; plain postgresql:// would ask SQLAlchemy for psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


SQLITE_BUSY_TIMEOUT_S = 60  # concurrent writers (20 Streamlit sessions) wait for the lock, not fail


@lru_cache(maxsize=8)
def engine_for(url: str) -> sa.Engine:
    """One engine per log URL, with the `predictions` table created on first use."""
    if url.startswith("sqlite:///"):
        from pathlib import Path

        from mlstack.monitoring import wal_checkpoints

        database = Path(url.removeprefix("sqlite:///"))
        database.parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a file has no connection to lose, and a ping is a statement per request.
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")  # readers (monitoring) never block writers
            # In WAL mode a commit then needs no fsync (about 8 ms of a one-row API answer here).
            # SQLite documents the trade-off: such a commit survives an application crash and can
            # be rolled back by a power loss or an OS crash
            # (https://www.sqlite.org/pragma.html#pragma_synchronous); our tests check the setting,
            # not a crash. The stack's log is PostgreSQL, which this does not touch.
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints run in a thread of their own, not inside a request's commit (14 ms).
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")
            page_size = dbapi_conn.execute("PRAGMA page_size").fetchone()[0]
            wal_checkpoints.start(database, int(page_size))
    else:
        engine = sa.create_engine(_url(url), pool_pre_ping=True)
    with _CREATE_LOCK:
        metadata.create_all(engine, checkfirst=True)
        _add_columns(engine)
    return engine


def _add_columns(engine: sa.Engine) -> None:
    """Add the columns a log created before them lacks (create_all adds tables, never columns):
    `prediction_id` (indexed) and `shadow`; old rows keep NULL."""
    columns = {c["name"] for c in sa.inspect(engine).get_columns(predictions.name)}
    with engine.begin() as conn:
        if "prediction_id" not in columns:
            conn.execute(sa.text("ALTER TABLE predictions ADD COLUMN prediction_id VARCHAR(32)"))
            conn.execute(
                sa.text(
                    "CREATE INDEX IF NOT EXISTS ix_predictions_prediction_id ON predictions (prediction_id)"
                )
            )
        if "shadow" not in columns:
            conn.execute(sa.text("ALTER TABLE predictions ADD COLUMN shadow BOOLEAN"))


def new_prediction_ids(count: int) -> list[str]:
    """Fresh prediction ids, 32 hex characters laid out like a UUIDv7: the first 12 are the time in
    milliseconds, the other 20 random (80 bits; one read of the OS's random source for all of them).

    Time first keeps the indexes on `prediction_id` (here and in the feedback table) append-mostly.
    With fully random ids every write touched pages all over a grown index: a 1,000-row request
    into a SQLite log of 230k rows took 22 ms to log, with these 6 ms, as on an empty log."""
    prefix = format(time.time_ns() // 1_000_000, "012x")
    text = os.urandom(10 * count).hex()
    return [prefix + text[i : i + 20] for i in range(0, 20 * count, 20)]


def input_texts(features: pd.DataFrame | Mapping[str, np.ndarray]) -> list[str]:
    """The JSON object of each row's inputs (NaN and None both null), built column by column:
    without a round trip through pandas' JSON (which also rounded floats)."""
    if isinstance(features, pd.DataFrame):
        columns = {str(name): features[name].to_numpy() for name in features.columns}
        rows = len(features)
    else:
        columns = dict(features)
        rows = len(next(iter(columns.values()))) if columns else 0
    encoded = {}
    for name, values in columns.items():
        if values.dtype.kind == "O":  # pandas' other missing values (pd.NA, NaT) become None too
            values = values.copy()
            values[pd.isna(values)] = None
        encoded[name] = json_rows.encoded(values.tolist())
    return json_rows.objects(encoded, rows)


def _output_texts(result: Prediction) -> list[str]:
    """The JSON object of each prediction: `prediction`, and `probabilities` by class."""
    rows = len(result.predictions)
    outputs = {"prediction": json_rows.encoded(result.predictions)}
    if result.probabilities:
        outputs["probabilities"] = json_rows.keyed(result.probabilities)
    return json_rows.objects(outputs, rows)


_ROW_KEYS = ("at", "prediction_id", "model_name", "model_version", "source", "inputs", "output", "shadow")


@lru_cache(maxsize=8)
def _insert_sql(engine: sa.Engine) -> tuple[str, tuple[str, ...] | None]:
    """The INSERT of one log row as the engine's driver takes it (with the dialect's casts), and
    the order of its parameters when the driver takes them by position (None: by name)."""
    # inline: no RETURNING of the new ids (PostgreSQL's dialect adds one otherwise)
    statement = predictions.insert().inline()
    compiled = statement.compile(dialect=engine.dialect, column_keys=list(_ROW_KEYS))
    order = compiled.positiontup
    return str(compiled), tuple(order) if order is not None else None


def _driver_value(engine: sa.Engine, key: str, value: Any) -> Any:
    """`value` of column `key` as SQLAlchemy would hand it to the driver (e.g. SQLite's text of a
    time, its 0/1 of a boolean)."""
    column_type = predictions.c[key].type.dialect_impl(engine.dialect)
    process = column_type.bind_processor(engine.dialect)
    return process(value) if process is not None else value


def _insert_params(
    engine: sa.Engine,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    result: Prediction,
    source: str,
    prediction_ids: list[str] | None,
    shadow: bool,
    inputs: list[str] | None = None,
) -> tuple[str, list[Any]]:
    """The INSERT of one log row and its parameters for each row of `features` (the JSON columns
    already text: SQLAlchemy's per-row, per-column processing cost more than the database's work on
    a 1,000-row request). `inputs`: the rows' `input_texts`, when already made."""
    inputs = input_texts(features) if inputs is None else inputs
    ids = prediction_ids if prediction_ids is not None else new_prediction_ids(len(inputs))
    if len(ids) != len(inputs) or len(result.predictions) != len(inputs):
        raise ValueError(
            f"{len(ids)} prediction ids and {len(result.predictions)} predictions for {len(inputs)} rows"
        )
    shared = {
        "at": datetime.now(UTC),
        "model_name": result.name,
        "model_version": str(result.version),
        "source": source,
        "shadow": shadow,
    }
    count = len(inputs)
    columns: dict[str, list[Any]] = {k: [_driver_value(engine, k, v)] * count for k, v in shared.items()}
    columns.update(prediction_id=list(ids), inputs=inputs, output=_output_texts(result))
    sql, order = _insert_sql(engine)
    keys = order if order is not None else _ROW_KEYS
    rows = list(zip(*(columns[k] for k in keys), strict=True))
    params: list[Any] = rows if order is not None else [dict(zip(keys, r, strict=True)) for r in rows]
    return sql, params


class LogTransaction:
    """Predictions appended in parts and committed together: in the log, all of them or none.

    `serving.service` appends each part of a large request as soon as it is scored, while the
    model scores the next; `close` without `commit` rolls back (e.g. a later part failed)."""

    def __init__(self, settings: Settings) -> None:
        self.engine = engine_for(settings.resolved_prediction_log_url)
        self.conn = self.engine.connect()
        try:
            self.transaction = self.conn.begin()
        except BaseException:
            self.conn.close()
            raise

    def append(
        self,
        features: pd.DataFrame | Mapping[str, np.ndarray],
        result: Prediction,
        source: str,
        prediction_ids: list[str] | None = None,
        *,
        shadow: bool = False,
        inputs: list[str] | None = None,
    ) -> int:
        """Add one row per prediction (see `log_predictions`); returns how many. `inputs`: the
        rows' `input_texts(features)` when the caller made them already (e.g. while it waited)."""
        sql, params = _insert_params(self.engine, features, result, source, prediction_ids, shadow, inputs)
        self.conn.exec_driver_sql(sql, params)
        return len(params)

    def commit(self) -> None:
        self.transaction.commit()

    def close(self) -> None:
        """Roll back what was not committed and give the connection back."""
        self.conn.close()


def log_predictions(
    settings: Settings,
    features: pd.DataFrame | Mapping[str, np.ndarray],
    result: Prediction,
    source: str,
    prediction_ids: list[str] | None = None,
    *,
    shadow: bool = False,
) -> int:
    """One row per prediction (its inputs: the matching row of `features`, a frame or one array
    per feature; its id: the matching `prediction_ids`, fresh ones when None); returns how many
    were written. Raises when the log cannot be written: `serving.service` decides what that
    means. `shadow`: the rows are the challenger's shadow answers to predictions already logged
    under the same ids.

    One prepared INSERT runs once per row in one transaction (the driver's executemany)."""
    log = LogTransaction(settings)
    try:
        written = log.append(features, result, source, prediction_ids, shadow=shadow)
        log.commit()
        return written
    finally:
        log.close()


def not_shadow() -> sa.ColumnElement[bool]:
    """The served answers: rows whose `shadow` is false or NULL (logged before the column)."""
    return sa.or_(predictions.c.shadow.is_(None), predictions.c.shadow.is_(False))


def read_predictions(
    settings: Settings,
    window: timedelta | None = None,
    model_name: str | None = None,
    *,
    include_shadow: bool = False,
) -> pd.DataFrame:
    """Logged inputs (one column per feature) plus at, prediction_id, model_version, source,
    prediction (and `shadow` when `include_shadow`; else the served answers only)."""
    engine = engine_for(settings.resolved_prediction_log_url)
    query = sa.select(predictions).order_by(predictions.c.id)
    if not include_shadow:
        query = query.where(not_shadow())
    if window is not None:
        query = query.where(predictions.c.at >= datetime.now(UTC) - window)
    if model_name:
        query = query.where(predictions.c.model_name == model_name)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    if not rows:
        return pd.DataFrame()
    inputs = pd.DataFrame([r["inputs"] for r in rows])
    meta = pd.DataFrame(
        {
            "at": [r["at"] for r in rows],
            "prediction_id": [r["prediction_id"] for r in rows],
            "model_version": [r["model_version"] for r in rows],
            "source": [r["source"] for r in rows],
            "prediction": [r["output"].get("prediction") for r in rows],
        }
    )
    if include_shadow:
        meta["shadow"] = [bool(r["shadow"]) for r in rows]
    return pd.concat([inputs, meta], axis=1)


def volume_by(settings: Settings, freq: str = "h") -> pd.DataFrame:
    """Prediction counts per time bucket, for the monitoring page."""
    frame = read_predictions(settings)
    if frame.empty:
        return pd.DataFrame(columns=["at", "predictions"])
    at = pd.to_datetime(frame["at"], utc=True)
    counts = at.dt.floor(freq).value_counts().sort_index()
    return pd.DataFrame({"at": counts.index, "predictions": counts.to_numpy()})
