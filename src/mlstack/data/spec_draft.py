"""A first dataset spec proposed from a table (`mlstack spec init data.csv`), for a person to review.

The draft reads what the data shows: each column's type, its observed range (widened a little, so
tomorrow's batch is not refused for one new extreme), its categories and whether it has nulls;
the task from the target column. What the data cannot tell (the gate's floor, which columns are
really features) is proposed with a note that says so. The draft is a valid spec the same data
passes, never a final one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlstack.data.spec import DatasetSpec, looks_personal
from mlstack.errors import InputError

MAX_CATEGORIES = 50  # more distinct texts than this: an id or free text, not a category
MAX_CLASS_CODES = 10  # an integer target with at most this many values reads as class codes
MARGIN = 0.1  # observed ranges widened by this share of their span on each side


@dataclass
class SpecDraft:
    """The proposed spec (YAML-ready, validated) and what the reviewer should look at."""

    spec: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _name(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "dataset"


def _round(value: float, down: bool) -> float | int:
    """A readable bound: whole numbers stay whole; others keep 3 significant digits, outward."""
    if float(value).is_integer():
        return int(value)
    digits = 2 - math.floor(math.log10(abs(value))) if value else 0
    scale = 10.0**digits
    rounded = (math.floor if down else math.ceil)(value * scale) / scale
    return round(rounded, max(digits, 0))


def _range(values: pd.Series, integer: bool) -> tuple[float | int, float | int]:
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * MARGIN or abs(high) * MARGIN or 1.0
    low, high = low - pad, high + pad
    if integer:
        return math.floor(low), math.ceil(high)
    return _round(low, down=True), _round(high, down=False)


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _feature(name: str, column: pd.Series, notes: list[str]) -> dict[str, Any] | None:
    """One feature's entry, or None for a column that is no feature (the note says why)."""
    present = column.dropna()
    out: dict[str, Any]
    if looks_personal(name):
        notes.append(f"{name}: looks like personal data (PII): left out (or list it in allow_personal_data)")
        return None
    if present.empty:
        notes.append(f"{name}: every value is empty: left out")
        return None
    if pd.api.types.is_bool_dtype(column):
        out = {"type": "boolean"}
    elif _is_number(column):
        # integer only as read (no empty cell): validation holds integers in int64, which has no NaN
        integer = pd.api.types.is_integer_dtype(column)
        if integer and present.is_unique and len(present) > 20:
            notes.append(
                f"{name}: every value differs, like an id: left out (add it back if it is a feature)"
            )
            return None
        low, high = _range(present, integer)
        out = {"type": "integer" if integer else "float", "min": low, "max": high}
    else:
        categories = sorted({str(v).strip() for v in present})
        if len(categories) > MAX_CATEGORIES:
            notes.append(f"{name}: {len(categories)} distinct texts, like an id or free text: left out")
            return None
        out = {"type": "categorical", "categories": categories}
    out["nullable"] = bool(column.isna().any())
    return out


def _task(target: pd.Series, name: str, notes: list[str]) -> tuple[str, dict[str, Any]]:
    """The task and its target keys (classes or target_range)."""
    present = target.dropna()
    if not _is_number(target):
        return "classification", {"classes": sorted({str(v).strip() for v in present})}
    codes = present.nunique()
    if (present % 1 == 0).all() and codes <= MAX_CLASS_CODES:
        notes.append(
            f"target {name!r}: {codes} integer values, read as class codes (classification); "
            "if it is a count or a score, set task: regression and a target_range"
        )
        return "classification", {"classes": [str(int(v)) for v in sorted(present.unique())]}
    low, high = _range(present, integer=False)
    return "regression", {"target_range": {"min": low, "max": high}}


def draft_spec(frame: pd.DataFrame, source: str, *, name: str, target: str | None = None) -> SpecDraft:
    """A spec proposed from ``frame`` (read from ``source``); ``target`` defaults to the last column."""
    if frame.empty or len(frame.columns) < 2:
        raise InputError(f"{source}: needs a header and data rows with at least two columns")
    target = target if target is not None else str(frame.columns[-1])
    if target not in frame.columns:
        raise InputError(
            f"--target {target!r}: not a column of {source}; columns: {', '.join(map(str, frame.columns))}"
        )
    notes: list[str] = []
    if target == str(frame.columns[-1]):
        notes.append(f"target: {target!r}, the last column (--target names another)")
    if frame[target].isna().any():
        notes.append(
            f"target {target!r}: {int(frame[target].isna().sum())} empty value(s): validation refuses them"
        )
    task, target_keys = _task(frame[target], target, notes)
    features = {str(c): f for c in frame.columns if c != target and (f := _feature(str(c), frame[c], notes))}
    if not features:
        raise InputError(f"{source}: no column besides the target can be a feature")
    if task == "classification":
        gate = {"metric": "f1_macro", "floor": 0.5}
    else:
        gate = {"metric": "r2", "floor": 0.0}
    notes.append(f"gate: {gate['metric']} with floor {gate['floor']}: set the lowest score you accept")
    notes.append(f"min/max: the observed range widened by {MARGIN:.0%} of its span: narrow or widen them")
    spec = {
        "name": name,
        "description": f"Proposed by `mlstack spec init` from {source}: review before use.",
        "task": task,
        "target": target,
        "source": source,
        "model_name": f"{name}-{'classifier' if task == 'classification' else 'regressor'}",
        "estimator": "random_forest",
        "hyperparams": {"n_estimators": 200},
        "gate": gate,
        "min_rows": max(1, min(50, len(frame) // 2)),
        "max_duplicate_share": 0.2,
        "features": features,
        **target_keys,
    }
    if looks_personal(target):
        spec["allow_personal_data"] = [target]
        notes.append(f"target {target!r}: looks like personal data (PII): review allow_personal_data")
    DatasetSpec.model_validate(spec)  # a draft that does not load is a bug here, not the user's
    return SpecDraft(spec, notes)


def default_name(source: str) -> str:
    """A spec name from a file name or URI (`data/Wine Quality.csv` -> `wine-quality`)."""
    stem = re.split(r"[/\\]", source.rstrip("/"))[-1].split("?")[0]
    return _name(stem.rsplit(".", 1)[0] if "." in stem else stem)
