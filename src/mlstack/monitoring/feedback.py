"""Ground truth: true labels (or values) for logged predictions, joined by `prediction_id`.

Feedback comes from a file, an `s3://` object, a Postgres table (`mlstack feedback`) or an API
body (`POST /v1/feedback`): rows of `prediction_id` and the spec's target (or `label`). Each row
is accepted or refused with a reason:

- the id is missing, malformed or names no prediction in the log;
- the label is absent, or not one of the spec's classes (a value: not a finite number, or outside
  the spec's `target_range`);
- the id was given twice in this feedback, or already has a label.

Nothing is lost: the raw feedback is kept in the data store (`feedback/raw/<batch_id>.<ext>`),
every refused row is stored with its reason, and the accepted ones go to the `feedback` table of
the prediction log's database, where `labelled_predictions` joins them to the predictions.
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import InputError
from mlstack.monitoring.prediction_log import engine_for, metadata, not_shadow, predictions

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("prediction_id", sa.String(32), nullable=False, unique=True),
    sa.Column("label", sa.JSON, nullable=False),  # a class name or a number, as the spec says
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("batch_id", sa.String(32), nullable=False, index=True),
    sa.Column("source", sa.String(200), nullable=False),
)
feedback_rejections = sa.Table(
    "feedback_rejections",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("batch_id", sa.String(32), nullable=False, index=True),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("prediction_id", sa.String(200), nullable=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("raw", sa.JSON, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

_READY: set[str] = set()
_READY_LOCK = threading.Lock()


def feedback_engine(settings: Settings) -> sa.Engine:
    """The prediction log's engine, with the feedback tables created on first use (the log's own
    engine may have been made before this module registered them)."""
    url = settings.resolved_prediction_log_url
    engine = engine_for(url)
    if url not in _READY:
        with _READY_LOCK:
            metadata.create_all(engine, tables=[feedback, feedback_rejections], checkfirst=True)
            _READY.add(url)
    return engine


ID_COLUMN = "prediction_id"
LABEL_ALIASES = ("label", "value")
_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_FEEDBACK_ROWS = 1_000_000


@dataclass(frozen=True)
class Rejection:
    """A refused feedback row: its 1-based row number, the id as given and why."""

    row: int
    prediction_id: str | None
    reason: str


@dataclass
class FeedbackResult:
    """What became of one feedback batch."""

    batch_id: str
    rows: int
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    raw_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (every rejection with its row and reason)."""
        return {
            "batch_id": self.batch_id,
            "rows": self.rows,
            "accepted": self.accepted,
            "rejected": [r.__dict__ for r in self.rejected],
            "raw_uri": self.raw_uri,
        }


def label_column(frame: pd.DataFrame, spec: DatasetSpec) -> str:
    """The column holding the truth: the spec's target, else `label` or `value`; InputError if none."""
    for name in (spec.target, *LABEL_ALIASES):
        if name in frame.columns:
            return name
    raise InputError(
        f"feedback: no label column; give `{ID_COLUMN}` and `{spec.target}` (or `label`), "
        f"got columns {[str(c) for c in frame.columns][:20]}"
    )


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def check_label(value: Any, spec: DatasetSpec) -> tuple[Any, str | None]:
    """(the label as stored, None) or (None, why it is refused) against the spec."""
    name = spec.target
    if spec.task == "classification":
        text = _text(value)
        if text is None:
            return None, f"{name}: missing"
        classes = spec.classes or []
        if text not in classes:
            return None, f"{name}: {text[:60]!r} is not one of the spec's classes {classes}"
        return text, None
    if isinstance(value, bool) or _text(value) is None:
        return None, f"{name}: missing" if _text(value) is None else f"{name}: not a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"{name}: {str(value)[:60]!r} is not a number"
    if not math.isfinite(number):
        return None, f"{name}: {number} is not a finite number"
    bounds = spec.target_range
    if bounds is not None and (
        (bounds.min is not None and number < bounds.min) or (bounds.max is not None and number > bounds.max)
    ):
        return None, f"{name}: {number} is outside the spec's range [{bounds.min}, {bounds.max}]"
    return number, None


def _known_ids(conn: sa.Connection, ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        query = sa.select(predictions.c.prediction_id).where(
            predictions.c.prediction_id.in_(part), not_shadow()
        )
        known.update(conn.execute(query).scalars())
    return known


def _labelled_ids(conn: sa.Connection, ids: list[str]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        query = sa.select(feedback.c.prediction_id, feedback.c.received_at).where(
            feedback.c.prediction_id.in_(part)
        )
        out.update({pid: at for pid, at in conn.execute(query)})
    return out


def record_feedback(
    settings: Settings,
    spec: DatasetSpec,
    frame: pd.DataFrame,
    source: str,
    *,
    raw: bytes | None = None,
    raw_format: str = "json",
) -> FeedbackResult:
    """Check every row of `frame` (see module doc), store the accepted labels and the refused rows
    with their reasons, and keep `raw` (the feedback as received) in the data store.

    InputError only for feedback that is not usable as a whole (no id or label column, too many
    rows); refused rows are in the result, never an exception."""
    if ID_COLUMN not in frame.columns:
        raise InputError(f"feedback: no `{ID_COLUMN}` column; got {[str(c) for c in frame.columns][:20]}")
    if len(frame) > MAX_FEEDBACK_ROWS:
        raise InputError(f"feedback: {len(frame):,} rows; at most {MAX_FEEDBACK_ROWS:,} at once")
    label = label_column(frame, spec)
    batch_id = uuid.uuid4().hex
    raw_uri = None
    if raw is not None:
        from mlstack.data.store import ArtifactStore

        raw_uri = ArtifactStore.from_settings(settings).put_bytes(
            f"feedback/raw/{batch_id}.{raw_format}", raw
        )
    engine = feedback_engine(settings)
    now = datetime.now(UTC)
    ids = [_text(v) for v in frame[ID_COLUMN].tolist()]
    labels = frame[label].tolist()
    wellformed = sorted({i.lower() for i in ids if i is not None and _ID.match(i.lower())})
    with engine.connect() as conn:
        known = _known_ids(conn, wellformed)
        labelled = _labelled_ids(conn, wellformed)
    accepted: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    first_row: dict[str, int] = {}
    for i, (given, value) in enumerate(zip(ids, labels, strict=True)):
        row = i + 1
        pid = given.lower() if given is not None else None
        reason = None
        if pid is None:
            reason = f"{ID_COLUMN}: missing"
        elif not _ID.match(pid):
            reason = f"{ID_COLUMN}: {(given or '')[:40]!r} is not a prediction id (32 hexadecimal characters)"
        elif pid in first_row:
            reason = f"{ID_COLUMN}: duplicate of row {first_row[pid]} in this feedback"
        elif pid not in known:
            reason = f"{ID_COLUMN}: unknown (no prediction with this id in the prediction log)"
        elif pid in labelled:
            reason = (
                f"{ID_COLUMN}: already has a label (received {labelled[pid].isoformat(timespec='seconds')})"
            )
        if pid is not None and pid not in first_row:
            first_row[pid] = row
        stored = None
        if reason is None:
            stored, reason = check_label(value, spec)
        if reason is not None:
            rejected.append(Rejection(row, given, reason))
            continue
        accepted.append(
            {
                "prediction_id": pid,
                "label": stored,
                "received_at": now,
                "batch_id": batch_id,
                "source": source[:200],
            }
        )
    late: list[Rejection] = []
    _store(engine, accepted, rejected, frame, batch_id, now, late)
    rejected = sorted([*rejected, *late], key=lambda r: r.row)
    return FeedbackResult(batch_id, len(frame), len(accepted) - len(late), rejected, raw_uri)


def _store(
    engine: sa.Engine,
    accepted: list[dict[str, Any]],
    rejected: list[Rejection],
    frame: pd.DataFrame,
    batch_id: str,
    now: datetime,
    late: list[Rejection],
) -> None:
    """Insert the accepted labels (a label stored meanwhile by someone else refuses that row, into
    `late`) and every refused row with its raw values."""
    if accepted:
        try:
            with engine.begin() as conn:
                conn.execute(feedback.insert(), accepted)
        except sa.exc.IntegrityError:  # a concurrent feedback labelled one of these ids first
            for item in accepted:
                try:
                    with engine.begin() as conn:
                        conn.execute(feedback.insert(), [item])
                except sa.exc.IntegrityError:
                    late.append(Rejection(0, item["prediction_id"], f"{ID_COLUMN}: already has a label"))
    refused = [*rejected, *late]
    if refused:
        records = json.loads(frame.to_json(orient="records", date_format="iso"))
        rows = [
            {
                "batch_id": batch_id,
                "row": r.row,
                "prediction_id": (r.prediction_id or "")[:200] or None,
                "reason": r.reason[:500],
                "raw": records[r.row - 1]
                if 0 < r.row <= len(records)
                else {"prediction_id": r.prediction_id},
                "received_at": now,
            }
            for r in refused
        ]
        with engine.begin() as conn:
            conn.execute(feedback_rejections.insert(), rows)


def rejections(settings: Settings, batch_id: str | None = None) -> pd.DataFrame:
    """Refused feedback rows (newest batch last): batch_id, row, prediction_id, reason, raw."""
    engine = feedback_engine(settings)
    query = sa.select(feedback_rejections).order_by(feedback_rejections.c.id)
    if batch_id:
        query = query.where(feedback_rejections.c.batch_id == batch_id)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows])


def labelled_predictions(
    settings: Settings, since: datetime | None = None, model_name: str | None = None
) -> pd.DataFrame:
    """Predictions with their true label, served and shadow alike: prediction_id, at,
    model_version, shadow, source, prediction, label, received_at (one row per logged answer)."""
    engine = feedback_engine(settings)
    p, f = predictions, feedback
    query = (
        sa.select(
            p.c.prediction_id,
            p.c.at,
            p.c.model_name,
            p.c.model_version,
            p.c.shadow,
            p.c.source,
            p.c.output,
            f.c.label,
            f.c.received_at,
        )
        .join(f, f.c.prediction_id == p.c.prediction_id)
        .order_by(p.c.id)
    )
    if since is not None:
        query = query.where(p.c.at >= since)
    if model_name:
        query = query.where(p.c.model_name == model_name)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    columns = [
        "prediction_id",
        "at",
        "model_version",
        "shadow",
        "source",
        "prediction",
        "label",
        "received_at",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        {
            "prediction_id": [r["prediction_id"] for r in rows],
            "at": pd.to_datetime([r["at"] for r in rows], utc=True),
            "model_version": [str(r["model_version"]) for r in rows],
            "shadow": [bool(r["shadow"]) for r in rows],
            "source": [r["source"] for r in rows],
            "prediction": [r["output"].get("prediction") for r in rows],
            "label": [r["label"] for r in rows],
            "received_at": pd.to_datetime([r["received_at"] for r in rows], utc=True),
        }
    )


def frame_from_items(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """API feedback items (objects) as a frame, keys as columns."""
    records = list(items)
    columns = list(dict.fromkeys(k for r in records for k in r))
    return pd.DataFrame.from_records(records, columns=columns)
