"""Serve `models:/<name>@champion`: resolve the alias, cache the model per version, check inputs.

Shared by the CLI and the Streamlit app. A promotion is picked up without a restart (the alias
is re-resolved every `alias_refresh_seconds`); when the registry cannot be reached the last
loaded model keeps answering and says it may be stale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec, FeatureSpec
from mlstack.errors import InputError, NoChampionError, RegistryError
from mlstack.model.evaluate import scores
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

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """One row per prediction: `prediction`, then `proba_<class>` columns for classifiers."""
        out = pd.DataFrame({"prediction": self.predictions}, index=index)
        if self.probabilities:
            for cls in self.probabilities[0]:
                out[f"proba_{cls}"] = [p[cls] for p in self.probabilities]
        return out


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


def registry_reachable(settings: Settings, timeout: float = 2.0) -> bool:
    """Quick check that a registry *server* answers at all (any HTTP status counts).

    MLflow's own client retries a refused connection with backoff for about a minute; a page
    that already holds a model should not wait that long to learn it must serve it as stale.
    Local stores (SQLite, files) are always "reachable" here.
    """
    import requests

    uri = settings.registry_uri or settings.resolved_tracking_uri
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout)
    except requests.RequestException:
        return False
    return True


def resolve_alias(settings: Settings, name: str, alias: str = CHAMPION) -> str:
    """The version an alias points at; NoChampionError when none; RegistryError when unreachable."""
    client = tracking.configure(settings)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception as exc:
        text = str(exc)
        if "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower():
            raise NoChampionError(
                f"model {name} has no @{alias} yet: train one with `mlstack run` "
                "(or trigger the training DAG)"
            ) from None
        raise RegistryError(f"registry unreachable while resolving {name}@{alias}: {text[:200]}") from exc


Loader = Callable[[Settings, str, str], LoadedModel]


class ModelServer:
    """Serves one alias of one registered model, re-resolving the alias on an interval.

    `loader` loads one version (default `load_version`); the Streamlit app passes one wrapped
    in `st.cache_resource` so models are cached per version by Streamlit as well.
    """

    def __init__(
        self,
        settings: Settings,
        spec: DatasetSpec,
        alias: str = CHAMPION,
        loader: Loader | None = None,
    ) -> None:
        self.settings, self.spec, self.alias = settings, spec, alias
        self.name = tracking.model_name(settings, spec)
        self.loader: Loader = loader or load_version
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
                if self._current is not None and not registry_reachable(self.settings):
                    raise RegistryError(f"registry {self.settings.resolved_tracking_uri} is unreachable")
                version = resolve_alias(self.settings, self.name, self.alias)
                self._current = self.loader(self.settings, self.name, version)
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


def _score(
    loaded: LoadedModel, features: pd.DataFrame, spec: DatasetSpec
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted values and, for classifiers, class probabilities (columns: `loaded.classes`)."""
    return scores(loaded.model, features, spec)


def _prediction(
    loaded: LoadedModel, values: np.ndarray, proba: np.ndarray | None, alias: str, stale: bool
) -> Prediction:
    probabilities = None
    if proba is not None:
        names = loaded.classes
        probabilities = [dict(zip(names, row, strict=True)) for row in proba.tolist()]
    return Prediction(
        values.tolist(), probabilities, loaded.name, loaded.version, alias, loaded.run_id, stale
    )


def predict_with(
    loaded: LoadedModel, features: pd.DataFrame, spec: DatasetSpec, alias: str, stale: bool = False
) -> Prediction:
    values, proba = _score(loaded, features, spec)
    return _prediction(loaded, values, proba, alias, stale)


def _as_frame(rows: pd.DataFrame | list[dict] | dict) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError("input: expected a JSON object (one row) or a list of objects")
    return pd.DataFrame.from_records(rows)


_MISSING_TEXT = frozenset({"", "None", "nan", "NaN"})

# The checks below run on plain NumPy arrays, one per column: a one-row request pays
# microseconds per check instead of pandas' per-operation overhead (B5 in benchmarks/), and a
# large batch stays vectorised (B6).


def _is_number_dtype(values: np.ndarray) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _per_value(values: np.ndarray, fn: Callable[[Any], Any], na_value: Any) -> np.ndarray:
    """`fn` of every non-missing value (`na_value` for missing ones), as an object array.

    Columns of text (what CSV readers give) have few distinct values: `fn` runs once per
    distinct value instead of once per row, which keeps large batches cheap.
    """
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        mapped = np.empty(len(uniques) + 1, dtype=object)
        mapped[: len(uniques)] = [fn(u) for u in uniques]
        mapped[-1] = na_value  # code -1 (missing) picks the last slot
        return mapped[codes]
    out = np.empty(len(values), dtype=object)
    out[:] = [na_value if _scalar_missing(v) else fn(v) for v in values]
    return out


def _scalar_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like cell
        return False


def _missing(values: np.ndarray) -> np.ndarray:
    """Missing: NA, or text that is empty / "None" / "nan" / "NaN" once stripped."""
    na = pd.isna(values)
    if _is_number_dtype(values):
        return na  # str() of a number is never one of the missing texts but NaN's
    text_missing = _per_value(values, lambda v: str(v).strip() in _MISSING_TEXT, True)
    return na | text_missing.astype(bool)


def _without_missing(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """An object copy of `values` with the missing cells set to None."""
    kept = values.astype(object)
    kept[missing] = None
    return kept


def _numbers(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The column as numbers (text stripped first); values that are not numbers become NaN.

    Integer and float columns keep their dtype (messages print 2031, not 2031.0)."""
    if _is_number_dtype(values):
        return values
    kept = _without_missing(values, missing)
    stripped = _per_value(kept, lambda v: v.strip() if isinstance(v, str) else v, None)
    return pd.to_numeric(stripped, errors="coerce")


Flag = Callable[[np.ndarray, Callable[[int], str]], None]


def _check_column(name: str, feature: FeatureSpec, column: np.ndarray, flag: Flag) -> np.ndarray:
    """The column cast to the feature's type; problems reported through `flag(mask, message)`."""
    missing = _missing(column)
    if feature.is_numeric:
        numbers = _numbers(column, missing)
        floats = numbers.astype("float64", copy=False)
        nan = np.isnan(floats)
        flag(nan & ~missing, lambda i: f"field {name!r}: {column[i]!r} is not a number")
        infinite = np.isinf(floats)
        flag(infinite, lambda i: f"field {name!r}: {column[i]!r} is not finite")
        low, high = feature.min, feature.max
        bad_range = np.zeros(len(floats), dtype=bool)
        if low is not None:
            bad_range |= floats < low
        if high is not None:
            bad_range |= floats > high
        flag(bad_range & ~infinite, lambda i: f"field {name!r}: {numbers[i]} is outside [{low}, {high}]")
        if feature.type == "integer":
            with np.errstate(invalid="ignore"):
                fractional = ~nan & (floats % 1 != 0)
            flag(fractional, lambda i: f"field {name!r}: {numbers[i]} is not a whole number")
        result = floats
    else:
        values = _per_value(_without_missing(column, missing), lambda v: str(v).strip(), None)
        allowed = set(feature.categories or [])
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # values are text or None
        unknown = np.array([u not in allowed for u in uniques] + [False], dtype=bool)[codes]
        flag(unknown, lambda i: f"field {name!r}: {values[i]!r} is not one of {sorted(allowed)}")
        result = values
    if not feature.nullable:
        flag(missing, lambda i: f"field {name!r}: a value is required")
    return result


def check_rows(
    rows: pd.DataFrame | list[dict] | dict, spec: DatasetSpec
) -> tuple[pd.DataFrame, list[RowProblems]]:
    """Cast rows to the spec's types; return the valid rows and, per bad row, every reason.

    Vectorised per column (Python runs per distinct text value and per bad row, never per valid
    row): checking a batch costs a small fraction of scoring it. The valid rows keep their
    position in the input as index.
    """
    frame = _as_frame(rows)
    if frame.empty and not len(frame.columns):  # `[]` or `{}`: say so, not "field ... is required"
        raise InputError("input: no rows to predict")
    unknown = [c for c in frame.columns if c not in spec.features and c != spec.target]
    if unknown:
        raise InputError(f"unknown field(s) {unknown}; expected fields: {', '.join(spec.feature_names)}")
    problems: dict[int, list[str]] = {}

    def flag(mask: np.ndarray, message: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask).tolist():
            problems.setdefault(i, []).append(message(i))

    n = len(frame)
    out: dict[str, np.ndarray] = {}
    for name, feature in spec.features.items():
        if name in frame.columns:
            out[name] = _check_column(name, feature, frame[name].to_numpy(), flag)
        elif feature.nullable:
            out[name] = np.full(n, np.nan) if feature.is_numeric else np.full(n, None, dtype=object)
        else:
            raise InputError(f"field {name!r} is required")
    keep = None
    if problems:
        keep = np.ones(n, dtype=bool)
        keep[list(problems)] = False
        out = {name: values[keep] for name, values in out.items()}
    for name, feature in spec.features.items():
        if feature.type == "integer":
            out[name] = out[name].astype("int64")
    index = pd.RangeIndex(n) if keep is None else pd.Index(np.flatnonzero(keep))
    valid = pd.DataFrame(out, index=index, copy=False)
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


@dataclass
class BatchResult:
    """A scored batch: valid rows with their predictions, and every invalid row with reasons."""

    scored: pd.DataFrame  # index: row position in the input; features, [target], prediction, proba_*
    problems: list[RowProblems]
    rows: int
    name: str
    version: str
    alias: str
    run_id: str
    stale: bool = False


ChunkCallback = Callable[[pd.DataFrame, Prediction, int, int], None]


def score_batch(
    server: ModelServer,
    rows: pd.DataFrame | list[dict],
    *,
    chunk_size: int = 100_000,
    on_chunk: ChunkCallback | None = None,
) -> BatchResult:
    """Check every row, score the valid ones in chunks with one model version.

    `on_chunk(features, prediction, rows_done, rows_valid)` runs after each chunk (progress bars,
    the prediction log). Raises InputError only for problems of the whole file (unknown or
    missing required columns); bad rows are returned in `problems`. Chunks are large on purpose:
    every model call has a fixed cost (a forest pays it per tree).
    """
    loaded = server.current()  # one version for the whole batch, even if the alias moves
    spec = server.spec
    frame = _as_frame(rows).reset_index(drop=True)
    valid, problems = check_rows(frame, spec)
    step = max(1, chunk_size)
    values_parts: list[np.ndarray] = []
    proba_parts: list[np.ndarray] = []
    total = len(valid)
    for start in range(0, total, step):
        features = valid.iloc[start : start + step]
        values, proba = _score(loaded, features, spec)
        values_parts.append(values)
        if proba is not None:
            proba_parts.append(proba)
        if on_chunk is not None:
            prediction = _prediction(loaded, values, proba, server.alias, server.stale)
            on_chunk(features, prediction, start + len(features), total)
    scored = valid.copy()
    if spec.target in frame:
        scored[spec.target] = frame.loc[valid.index, spec.target]
    scored["prediction"] = np.concatenate(values_parts) if values_parts else np.array([], dtype=object)
    if proba_parts:
        proba_all = np.concatenate(proba_parts)
        for j, cls in enumerate(loaded.classes):
            scored[f"proba_{cls}"] = proba_all[:, j]
    return BatchResult(
        scored, problems, len(frame), loaded.name, loaded.version, server.alias, loaded.run_id, server.stale
    )
