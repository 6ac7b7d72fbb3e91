"""Append every prediction (id, inputs, output, model version, time, source) to a SQL table.

PostgreSQL in the stack, SQLite on embedded defaults (MLSTACK_PREDICTION_LOG_URL). Drift
monitoring reads it back as a DataFrame of the inputs. Each row carries a `prediction_id` (the
API returns it to the caller) so ground truth can be joined to a prediction later.

Shadow predictions (the `@challenger` scoring the same rows, see `serving.shadow`) are logged with
`shadow` true and the same `prediction_id` as the answer the caller got: one label then grades
both models. Readers leave them out unless they ask for them (drift must not count a row twice).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

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

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")  # readers (monitoring) never block writers
            # In WAL mode a commit then needs no fsync (about 8 ms of a one-row API answer here):
            # a committed prediction survives the process crashing, and only a power cut or an
            # OS crash can take back the last commits (SQLite's documented WAL trade-off). The
            # stack's log is PostgreSQL, which this does not touch.
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
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
    """Fresh prediction ids (32 hex characters, random: unique without coordination)."""
    return [uuid.uuid4().hex for _ in range(count)]


def _input_records(features: pd.DataFrame) -> list[dict[str, Any]]:
    """One dict of plain Python values per row (NaN as None), built column by column: what the
    JSON columns store, without a round trip through pandas' JSON (which also rounded floats)."""
    names = [str(c) for c in features.columns]
    columns = []
    for name in features.columns:
        values = features[name].to_numpy()
        if values.dtype.kind in "fO":  # NaN and None both become JSON null
            values = values.astype(object)
            values[pd.isna(values)] = None
        columns.append(values.tolist())
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def log_predictions(
    settings: Settings,
    features: pd.DataFrame,
    result: Prediction,
    source: str,
    prediction_ids: list[str] | None = None,
    *,
    shadow: bool = False,
) -> int:
    """One row per prediction (its inputs: the matching row of `features`, its id: the matching
    `prediction_ids`, fresh ones when None); returns how many were written. Raises when the log
    cannot be written: `serving.service` decides what that means. `shadow`: the rows are the
    challenger's shadow answers to predictions already logged under the same ids."""
    engine = engine_for(settings.resolved_prediction_log_url)
    now = datetime.now(UTC)
    records = _input_records(features)
    ids = prediction_ids if prediction_ids is not None else new_prediction_ids(len(records))
    if len(ids) != len(records):
        raise ValueError(f"{len(ids)} prediction ids for {len(records)} predictions")
    rows = []
    for i, inputs in enumerate(records):
        output = {"prediction": result.predictions[i]}
        if result.probabilities:
            output["probabilities"] = result.probabilities[i]
        rows.append(
            {
                "at": now,
                "prediction_id": ids[i],
                "model_name": result.name,
                "model_version": str(result.version),
                "source": source,
                "inputs": inputs,
                "output": output,
                "shadow": shadow,
            }
        )
    with engine.begin() as conn:
        conn.execute(predictions.insert(), rows)
    return len(rows)


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
