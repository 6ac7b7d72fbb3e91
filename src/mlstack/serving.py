"""Serve `models:/<name>@champion`: resolve the alias, cache the model per version, check inputs.

Shared by the CLI and the Streamlit app. A promotion is picked up without a restart (the alias
is re-resolved every `alias_refresh_seconds`); when the registry cannot be reached the last
loaded model keeps answering and says it may be stale.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import InputError, NoChampionError, RegistryError
from mlstack.registry import CHAMPION


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    run_id: str
    model: Any  # the scikit-learn Pipeline
    loaded_at: float

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in getattr(self.model, "classes_", [])]


@dataclass
class Prediction:
    predictions: list
    probabilities: list[dict[str, float]] | None
    name: str
    version: str
    alias: str
    run_id: str
    stale: bool = False
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))


@dataclass
class RowProblems:
    """Per-row reasons for rows a batch could not score."""

    index: int
    reasons: list[str]


_MODEL_CACHE: dict[tuple[str, str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def load_version(settings: Settings, name: str, version: str) -> LoadedModel:
    """Load one model version once per process (versions are immutable)."""
    import mlflow

    key = (settings.resolved_tracking_uri, name, str(version))
    with _CACHE_LOCK:
        cached = _MODEL_CACHE.get(key)
    if cached is not None:
        return cached
    client = tracking.configure(settings)
    info = client.get_model_version(name, str(version))
    model = mlflow.sklearn.load_model(f"models:/{name}/{version}")
    loaded = LoadedModel(name, str(version), info.run_id, model, time.time())
    with _CACHE_LOCK:
        _MODEL_CACHE[key] = loaded
    return loaded


def resolve_alias(settings: Settings, name: str, alias: str = CHAMPION) -> str:
    """The version an alias points at; NoChampionError when none; RegistryError when unreachable."""
    client = tracking.configure(settings)
    try:
        return client.get_model_version_by_alias(name, alias).version
    except Exception as exc:
        text = str(exc)
        if "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower():
            raise NoChampionError(
                f"model {name} has no @{alias} yet: train one with `mlstack run` "
                "(or trigger the training DAG)"
            ) from None
        raise RegistryError(f"registry unreachable while resolving {name}@{alias}: {text[:200]}") from exc


class ModelServer:
    """Serves one alias of one registered model, re-resolving the alias on an interval."""

    def __init__(self, settings: Settings, spec: DatasetSpec, alias: str = CHAMPION) -> None:
        self.settings, self.spec, self.alias = settings, spec, alias
        self.name = tracking.model_name(settings, spec)
        self._current: LoadedModel | None = None
        self._checked_at = 0.0
        self.stale = False
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def current(self) -> LoadedModel:
        with self._lock:
            due = time.monotonic() - self._checked_at >= self.settings.alias_refresh_seconds
            if self._current is not None and not due:
                return self._current
            try:
                version = resolve_alias(self.settings, self.name, self.alias)
                self._current = load_version(self.settings, self.name, version)
                self.stale, self.last_error = False, None
            except NoChampionError:
                raise
            except Exception as exc:
                if self._current is None:
                    raise RegistryError(f"cannot load {self.name}@{self.alias}: {exc}") from exc
                # Keep answering with what we have; the page shows it may be stale.
                self.stale, self.last_error = True, str(exc)[:300]
            self._checked_at = time.monotonic()
            return self._current

    def predict(self, rows: pd.DataFrame | list[dict] | dict) -> Prediction:
        loaded = self.current()
        features = prepare_inputs(rows, self.spec)
        return predict_with(loaded, features, self.spec, self.alias, self.stale)


def predict_with(
    loaded: LoadedModel, features: pd.DataFrame, spec: DatasetSpec, alias: str, stale: bool = False
) -> Prediction:
    predicted = loaded.model.predict(features)
    probabilities = None
    if spec.task == "classification" and hasattr(loaded.model, "predict_proba"):
        proba = loaded.model.predict_proba(features)
        classes = loaded.classes
        probabilities = [dict(zip(classes, map(float, row), strict=True)) for row in proba]
    values = [p.item() if isinstance(p, np.generic) else p for p in predicted]
    return Prediction(values, probabilities, loaded.name, loaded.version, alias, loaded.run_id, stale)


def _as_frame(rows: pd.DataFrame | list[dict] | dict) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError("input: expected a JSON object (one row) or a list of objects")
    return pd.DataFrame.from_records(rows)


def check_rows(
    rows: pd.DataFrame | list[dict] | dict, spec: DatasetSpec
) -> tuple[pd.DataFrame, list[RowProblems]]:
    """Cast rows to the spec's types; return the valid rows and, per bad row, every reason."""
    frame = _as_frame(rows).reset_index(drop=True)
    unknown = [c for c in frame.columns if c not in spec.features and c != spec.target]
    if unknown:
        raise InputError(f"unknown field(s) {unknown}; expected fields: {', '.join(spec.feature_names)}")
    problems: dict[int, list[str]] = {}
    out = pd.DataFrame(index=frame.index)
    for name, feature in spec.features.items():
        if name not in frame:
            if feature.nullable:
                out[name] = np.nan if feature.is_numeric else None
                continue
            raise InputError(f"field {name!r} is required")
        column = frame[name]
        missing = column.isna() | column.astype(str).str.strip().isin(["", "None", "nan", "NaN"])
        if feature.is_numeric:
            text = column.where(~missing).astype("object")
            if text.map(lambda v: isinstance(v, str)).any():
                text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
            numbers = pd.to_numeric(text, errors="coerce")
            for i in frame.index[numbers.isna() & ~missing]:
                problems.setdefault(i, []).append(f"field {name!r}: {column[i]!r} is not a number")
            finite = numbers.map(lambda v: v is None or math.isnan(v) or math.isfinite(v))
            for i in frame.index[~finite]:
                problems.setdefault(i, []).append(f"field {name!r}: {column[i]!r} is not finite")
            low, high = feature.min, feature.max
            bad_range = (low is not None and numbers < low) | (high is not None and numbers > high)
            for i in frame.index[bad_range & finite]:
                problems.setdefault(i, []).append(f"field {name!r}: {numbers[i]} is outside [{low}, {high}]")
            if feature.type == "integer":
                fractional = numbers.notna() & (numbers % 1 != 0)
                for i in frame.index[fractional]:
                    problems.setdefault(i, []).append(f"field {name!r}: {numbers[i]} is not a whole number")
            out[name] = numbers.astype("float64")
        else:
            values = column.where(~missing).map(lambda v: None if pd.isna(v) else str(v).strip())
            allowed = set(feature.categories or [])
            for i in frame.index[values.notna() & ~values.isin(allowed)]:
                problems.setdefault(i, []).append(
                    f"field {name!r}: {values[i]!r} is not one of {sorted(allowed)}"
                )
            out[name] = values.astype("object")
        if not feature.nullable:
            for i in frame.index[missing]:
                problems.setdefault(i, []).append(f"field {name!r}: a value is required")
    valid_index = [i for i in frame.index if i not in problems]
    valid = out.loc[valid_index]
    for name, feature in spec.features.items():
        if feature.type == "integer":
            valid[name] = valid[name].astype("int64")
    bad = [RowProblems(int(i), reasons) for i, reasons in sorted(problems.items())]
    return valid, bad


def prepare_inputs(rows: pd.DataFrame | list[dict] | dict, spec: DatasetSpec) -> pd.DataFrame:
    """All rows must be valid; otherwise one InputError naming every field and problem."""
    valid, bad = check_rows(rows, spec)
    if bad:
        lines = [f"row {b.index}: " + "; ".join(b.reasons) for b in bad[:20]]
        more = f"\n... and {len(bad) - 20} more rows" if len(bad) > 20 else ""
        raise InputError("invalid input:\n  " + "\n  ".join(lines) + more)
    if valid.empty:
        raise InputError("input: no rows to predict")
    return valid
