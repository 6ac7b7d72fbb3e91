"""The two sides of a drift check: the champion's training snapshot and the current data.

Reference: the Parquet snapshot the current @champion was trained on, found through its lineage
tag `mlstack.dataset_id`. Current: either a new batch URI (ingested through the normal ingest, so
the raw batch is kept and gets a dataset id) or the prediction log over a window
(`predictions:24h`, `predictions:30m`, `predictions:7d`).

Large inputs and the sample size (`MLSTACK_DRIFT_SAMPLE_SIZE`, default 20 000; 0 = every row):
a side with more rows than this is replaced by a uniform random sample of that many rows, seeded
from `MLSTACK_SEED` (default 42; the current side uses seed + 1), so a re-run on the same data gives
the same verdict. The result states the rows seen and the rows compared on each side. Effect on
detection power:

- Evidently picks the method by the reference size. Above 1 000 reference rows it uses distance
  measures with fixed thresholds, not significance tests: normed Wasserstein distance >= 0.1
  (a mean shift of about 0.1 reference standard deviations) for numeric columns, Jensen-Shannon
  distance >= 0.1 for categorical ones. A distance does not grow with the row count, so sampling
  does not raise or lower the bar; it adds estimation noise, which only matters for columns whose
  true distance lies close to the threshold (benchmarks/README.md, B7, gives the measured noise
  and checks the sampled verdicts against all rows).
- At or below 1 000 reference rows Evidently uses p-value tests (KS, chi-square, Z) whose power
  grows with n. A large current sample against <= 1 000 reference rows leaves their power set by
  the smaller side, i.e. practically unchanged. This is also why the sample size cannot be set
  below 2 000: it would switch a large reference from distance measures to p-value tests and
  change what "drift" means (on a million rows a KS test flags even a tiny shift).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlstack.errors import ConfigError, InputError, MlstackError, NoChampionError

if TYPE_CHECKING:
    from mlstack.config import Settings
    from mlstack.data.spec import DatasetSpec
    from mlstack.lifecycle import Context

PREDICTIONS = "predictions:"
MIN_SAMPLE_SIZE = 2_000  # below ~1 000 reference rows Evidently switches methods (see above)
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class NotEnoughData(InputError):
    """The current data has too few rows for a meaningful verdict (e.g. a quiet prediction log)."""


@dataclass
class Side:
    """One side of the comparison: its rows and what to report about where they came from."""

    frame: pd.DataFrame
    info: dict[str, Any]


def parse_window(text: str) -> timedelta:
    """`30m`, `24h`, `7d`, `2w`, `90s` -> timedelta; anything else is a ConfigError."""
    match = _WINDOW.match(text)
    if not match:
        raise ConfigError(
            f"drift window {text!r}: expected a number and a unit s|m|h|d|w, e.g. predictions:24h"
        )
    value = float(match.group(1))
    if value <= 0:
        raise ConfigError(f"drift window {text!r}: must be positive")
    return timedelta(**{_UNITS[match.group(2)]: value})


def champion_reference(settings: Settings, spec: DatasetSpec) -> Side:
    """The training snapshot of the current @champion, found through its lineage tags."""
    from mlstack import tracking
    from mlstack.data.ingest import load_snapshot
    from mlstack.lineage import TAG_PREFIX
    from mlstack.registry import CHAMPION

    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        raise NoChampionError(
            f"model {name}: no @champion to compare with; train and promote one first (mlstack run)"
        ) from None
    dataset_id = version.tags.get(TAG_PREFIX + "dataset_id")
    if not dataset_id:
        raise MlstackError(
            f"model {name} v{version.version}: no lineage tag {TAG_PREFIX}dataset_id, "
            "so its training snapshot is unknown"
        )
    frame = load_snapshot(dataset_id, settings)
    info = {
        "model_name": name,
        "champion_version": str(version.version),
        "run_id": version.run_id,
        "dataset_id": dataset_id,
        "snapshot_uri": version.tags.get(TAG_PREFIX + "snapshot_uri", ""),
        "rows": len(frame),
    }
    return Side(frame, info)


def ensure_champion(ctx: Context) -> str:
    """The champion version; on embedded defaults with none yet, train one first (`mlstack run`).

    With a tracking server and no champion this raises NoChampionError: a drift check against a
    model trained on the spot would hide a real misconfiguration.
    """
    from mlstack import lifecycle, tracking
    from mlstack.registry.versions import champion_version

    settings = ctx.settings
    name = tracking.model_name(settings, ctx.spec)
    version = champion_version(settings, name)
    if version:
        return version
    if not settings.embedded:
        raise NoChampionError(f"model {name}: no @champion on {settings.masked()['tracking_uri']}")
    print(f"no @champion of {name} in the embedded store yet: training one (mlstack run) ...", flush=True)
    summary = lifecycle.run_all(ctx)
    if not summary["champion"]:
        raise NoChampionError(f"model {name}: the bootstrap run was refused: {summary['gate']['reason']}")
    return summary["champion"]


def load_current(ctx: Context, current: str, model_name: str) -> Side:
    """A batch URI (ingested, raw kept) or `predictions:<window>` from the prediction log."""
    from mlstack.config import mask_url_password

    if not current or not current.strip():
        raise ConfigError("drift: --current is empty; give a batch URI or predictions:<window>")
    current = current.strip()
    if current.startswith(PREDICTIONS):
        from mlstack.monitoring.prediction_log import read_predictions

        window_text = current.removeprefix(PREDICTIONS)
        window = parse_window(window_text)
        frame = read_predictions(ctx.settings, window=window, model_name=model_name)
        info = {
            "kind": "predictions",
            "source": current,
            "window": window_text,
            "rows": len(frame),
        }
        return Side(frame, info)

    from mlstack import lifecycle
    from mlstack.data.ingest import load_snapshot

    ingested = lifecycle.ingest(ctx, current)
    frame = load_snapshot(ingested["dataset_id"], ctx.settings)
    info = {
        "kind": "batch",
        "source": mask_url_password(current),
        "dataset_id": ingested["dataset_id"],
        "raw_uri": ingested["raw_uri"],
        "snapshot_uri": ingested["snapshot_uri"],
        "rows": len(frame),
    }
    return Side(frame, info)


def features_frame(frame: pd.DataFrame, spec: DatasetSpec, side: str) -> pd.DataFrame:
    """The spec's features only, with one dtype per feature type on both sides."""
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise InputError(
            f"drift: the {side} data has no column(s) {missing} "
            f"(dataset {spec.name} expects {spec.feature_names})"
        )
    out = pd.DataFrame(index=frame.index)
    for name, feature in spec.features.items():
        column = frame[name]
        if feature.is_numeric:
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        else:
            text = column.astype("object")
            out[name] = text.where(text.isna(), text.astype(str))
    return out.reset_index(drop=True)


def sample_rows(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded uniform sample of `size` rows when the frame is larger (0 = keep every row)."""
    if size and len(frame) > size:
        return frame.sample(n=size, random_state=seed).reset_index(drop=True)
    return frame


def check_sample_size(size: int) -> int:
    """`size` itself when it is 0 (every row) or at least MIN_SAMPLE_SIZE; else a ConfigError."""
    if size and size < MIN_SAMPLE_SIZE:
        raise ConfigError(
            f"MLSTACK_DRIFT_SAMPLE_SIZE={size}: use 0 (every row) or at least {MIN_SAMPLE_SIZE}; "
            "smaller samples of a large reference make Evidently switch from distance measures "
            "to p-value tests, which changes what drift means"
        )
    return size
