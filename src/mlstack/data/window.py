"""The training window: which validated snapshots a retrain learns from, and what it is judged on.

`MLSTACK_TRAINING_WINDOW` declares it: `N` = the last N validated snapshots of the dataset, `Nd`
= those validated in the last N days. The new batch is always in it. Each snapshot is split
into train and holdout rows by a seed drawn from its own content (`split_seed`), so a snapshot's
holdout is the same rows in every window that holds it: no model ever trains on them.

- training rows: the train rows of every snapshot in the window, deduplicated, minus any row
  equal to an evaluation row;
- evaluation rows: the new batch's holdout (part `new`) plus a pinned set (part `pinned`): the
  holdouts of `MLSTACK_GATE_PINNED` when set, else of the window's other snapshots.

`validate` records each snapshot that passes (`record_validated`); the window reads that index.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings validate MLSTACK_TRAINING_WINDOW with parse_window: stay light
    import pandas as pd

    from mlstack.config import Settings
    from mlstack.data.spec import DatasetSpec

PART_COLUMN = "_mlstack_part"  # in the logged evaluation set: which part a row belongs to
NEW, PINNED = "new", "pinned"
WINDOW_SYNTAX = "a number of batches (`5`) or of days (`30d`), at least 1"


@dataclass(frozen=True)
class WindowSpec:
    """A parsed `MLSTACK_TRAINING_WINDOW`: `count` batches, or `count` days when `days`."""

    count: int
    days: bool = False


def parse_window(text: str) -> WindowSpec:
    """`"5"` -> 5 batches, `"30d"` -> 30 days; ValueError naming the syntax otherwise."""
    raw = str(text).strip().lower()
    days = raw.endswith("d")
    number = raw[:-1] if days else raw
    if not number.isdigit() or int(number) < 1:
        raise ValueError(f"training window {text!r}: expected {WINDOW_SYNTAX}")
    return WindowSpec(int(number), days)


@dataclass(frozen=True)
class WindowSnapshot:
    """One snapshot in a window, with its rows (all, and those that went to training)."""

    dataset_id: str
    rows: int
    validated_at: str
    train_rows: int = 0
    holdout_rows: int = 0


@dataclass(frozen=True)
class TrainingWindow:
    """What a run trained and is judged on, as recorded in its lineage."""

    setting: str
    current: str
    snapshots: tuple[WindowSnapshot, ...]
    pinned: tuple[str, ...]
    train_rows: int
    duplicates_dropped: int
    overlap_dropped: int  # training rows equal to an evaluation row
    new_rows: int
    pinned_rows: int

    def to_dict(self) -> dict:
        """Every field (snapshots as dicts), for the window artifact and the model card."""
        return asdict(self)

    def tags(self) -> dict[str, str]:
        """Short lineage tags (the full record is the `window/window.json` artifact)."""
        return {
            "window.setting": self.setting,
            "window.snapshots": ",".join(s.dataset_id for s in self.snapshots),
            "window.rows": ",".join(str(s.rows) for s in self.snapshots),
            "window.train_rows": str(self.train_rows),
            "window.duplicates_dropped": str(self.duplicates_dropped),
            "window.pinned": ",".join(self.pinned),
            "window.evaluation_rows": f"{NEW}={self.new_rows},{PINNED}={self.pinned_rows}",
        }


def index_key(spec: DatasetSpec, dataset_id: str) -> str:
    return f"validated/{spec.name}/{dataset_id}.json"


def record_validated(settings: Settings, spec: DatasetSpec, dataset_id: str, rows: int) -> None:
    """Note that `dataset_id` passed the spec now: a later window may include it."""
    from mlstack.data.store import ArtifactStore

    entry = {"dataset_id": dataset_id, "rows": rows, "validated_at": datetime.now(UTC).isoformat()}
    ArtifactStore.from_settings(settings).put_bytes(index_key(spec, dataset_id), json.dumps(entry).encode())


def validated(settings: Settings, spec: DatasetSpec) -> list[WindowSnapshot]:
    """Every snapshot recorded as validated for this dataset, newest first."""
    from mlstack.data.store import ArtifactStore

    store = ArtifactStore.from_settings(settings)
    out = []
    for key in store.list(f"validated/{spec.name}/"):
        if key.endswith(".json"):
            entry = json.loads(store.get_bytes(key))
            out.append(WindowSnapshot(entry["dataset_id"], int(entry["rows"]), entry["validated_at"]))
    return sorted(out, key=lambda s: s.validated_at, reverse=True)


def select(
    window: WindowSpec, current: WindowSnapshot, others: list[WindowSnapshot], now: datetime
) -> list[WindowSnapshot]:
    """The window's snapshots: `current` first, then the newest others the window admits."""
    rest = [s for s in others if s.dataset_id != current.dataset_id]
    if window.days:
        since = (now - timedelta(days=window.count)).isoformat()
        rest = [s for s in rest if s.validated_at >= since]
    else:
        rest = rest[: window.count - 1]
    return [current, *rest]


def _row_keys(frame: pd.DataFrame, spec: DatasetSpec) -> pd.Series:
    import pandas as pd

    return pd.util.hash_pandas_object(frame[spec.columns], index=False)


def assemble(
    settings: Settings, spec: DatasetSpec, dataset_id: str
) -> tuple[TrainingWindow, pd.DataFrame, pd.DataFrame]:
    """(window, training rows, evaluation rows with `PART_COLUMN`) for a retrain on `dataset_id`."""
    import pandas as pd

    from mlstack.data.ingest import load_snapshot
    from mlstack.data.validation import conform
    from mlstack.model.train import split

    index = validated(settings, spec)
    mine = next((s for s in index if s.dataset_id == dataset_id), None)
    chosen = select(
        parse_window(settings.training_window),
        mine or WindowSnapshot(dataset_id, 0, datetime.now(UTC).isoformat()),
        index,
        datetime.now(UTC),
    )
    pinned_ids = list(settings.gate_pinned) or [s.dataset_id for s in chosen[1:]]
    pinned_ids = [i for i in dict.fromkeys(pinned_ids) if i != dataset_id]

    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for snapshot_id in dict.fromkeys([s.dataset_id for s in chosen] + pinned_ids):
        frame = conform(load_snapshot(snapshot_id, settings), spec)
        if snapshot_id != dataset_id and not set(spec.columns) <= set(frame.columns):
            continue  # validated under an older spec that lacked a column: not comparable, left out
        parts[snapshot_id] = split(frame, spec, snapshot_id, settings.holdout_fraction)
    chosen = [s for s in chosen if s.dataset_id in parts]
    pinned_ids = [i for i in pinned_ids if i in parts]

    new = parts[dataset_id][1].assign(**{PART_COLUMN: NEW})
    pinned = [parts[i][1] for i in sorted(pinned_ids)]
    pinned_frame = pd.concat(pinned, ignore_index=True) if pinned else new.iloc[:0].drop(columns=PART_COLUMN)
    pinned_frame = pinned_frame.drop_duplicates(subset=spec.columns)
    pinned_frame = pinned_frame[~_row_keys(pinned_frame, spec).isin(set(_row_keys(new, spec)))]
    evaluation = pd.concat([new, pinned_frame.assign(**{PART_COLUMN: PINNED})], ignore_index=True)

    # a fixed order (by id): the same window gives the same rows in the same order, so the same model
    training = pd.concat([parts[s.dataset_id][0] for s in sorted(chosen, key=lambda s: s.dataset_id)])
    before = len(training)
    training = training.drop_duplicates(subset=spec.columns)
    deduplicated = len(training)
    training = training[~_row_keys(training, spec).isin(set(_row_keys(evaluation, spec)))]

    snapshots = tuple(
        WindowSnapshot(
            s.dataset_id,
            len(parts[s.dataset_id][0]) + len(parts[s.dataset_id][1]),
            s.validated_at,
            len(parts[s.dataset_id][0]),
            len(parts[s.dataset_id][1]),
        )
        for s in chosen
    )
    window = TrainingWindow(
        setting=settings.training_window,
        current=dataset_id,
        snapshots=snapshots,
        pinned=tuple(sorted(pinned_ids)),
        train_rows=len(training),
        duplicates_dropped=before - deduplicated,
        overlap_dropped=deduplicated - len(training),
        new_rows=len(new),
        pinned_rows=len(pinned_frame),
    )
    return window, training.reset_index(drop=True), evaluation


def parts_of(evaluation: pd.DataFrame) -> pd.Series:
    """Each evaluation row's part; a holdout logged before windows existed is all `new`."""
    import pandas as pd

    if PART_COLUMN in evaluation:
        return evaluation[PART_COLUMN].astype(str)
    return pd.Series(NEW, index=evaluation.index)
