"""Seedable synthetic batches in a spec's schema, with optional drift of named features.

Rows are drawn class by class from the spec's reference data (its builtin source) and jittered,
so feature correlations and missing-value patterns stay realistic. Drift per feature:
  shift=<k>     add k standard deviations
  scale=<f>     stretch deviations from the mean by f
  mix=<a:p,b:q> redraw a categorical feature with these category probabilities
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlstack.data import sources
from mlstack.data.spec import DatasetSpec, load_spec
from mlstack.errors import ConfigError

JITTER = 0.05  # of each numeric column's std: enough that rows are not copies


@dataclass(frozen=True)
class Drift:
    shift: float = 0.0
    scale: float = 1.0
    mix: dict[str, float] = field(default_factory=dict)


def parse_drift(items: list[str] | None) -> dict[str, Drift]:
    """`["bill_length_mm:shift=2", "island:mix=Biscoe:0.9,Dream:0.1"]` -> {feature: Drift}."""
    out: dict[str, Drift] = {}
    for item in items or []:
        try:
            feature, spec = item.split(":", 1)
            kind, value = spec.split("=", 1)
            if kind == "shift":
                out[feature] = Drift(shift=float(value))
            elif kind == "scale":
                out[feature] = Drift(scale=float(value))
            elif kind == "mix":
                mix = {k: float(p) for k, p in (pair.rsplit(":", 1) for pair in value.split(","))}
                out[feature] = Drift(mix=mix)
            else:
                raise ValueError(kind)
        except ValueError:
            raise ConfigError(
                f"drift {item!r}: expected <feature>:shift=<k>, <feature>:scale=<f> "
                "or <feature>:mix=<cat>:<p>,<cat>:<p>"
            ) from None
    return out


def reference_frame(spec: DatasetSpec) -> pd.DataFrame:
    return sources.parse(sources.fetch(spec.source))


def generate(
    rows: int,
    seed: int = 0,
    spec: DatasetSpec | str = "penguins",
    drift: dict[str, Drift] | None = None,
    reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    spec = load_spec(spec) if isinstance(spec, str) else spec
    drift = drift or {}
    unknown = set(drift) - set(spec.features)
    if unknown:
        raise ConfigError(f"drift: unknown feature(s) {sorted(unknown)} for dataset {spec.name}")
    ref = (reference if reference is not None else reference_frame(spec)).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ref), size=rows)
    frame = ref.iloc[picks].reset_index(drop=True)

    for name, feature in spec.features.items():
        if not feature.is_numeric or name not in frame:
            continue
        column = frame[name].to_numpy(dtype="float64", copy=True)
        std = float(np.nanstd(ref[name].to_numpy(dtype="float64"))) or 1.0
        if feature.type == "float":
            column += rng.normal(0.0, JITTER * std, size=rows)
        d = drift.get(name)
        if d is not None:
            mean = float(np.nanmean(column))
            column = mean + (column - mean) * d.scale + d.shift * std
        column = np.clip(
            column,
            feature.min if feature.min is not None else -np.inf,
            feature.max if feature.max is not None else np.inf,
        )
        if feature.type == "integer":
            column = np.round(column)
            frame[name] = column.astype("int64") if not np.isnan(column).any() else column
        else:
            frame[name] = np.round(column, 3)

    for name, d in drift.items():
        if d.mix:
            cats = list(d.mix)
            probs = np.array([d.mix[c] for c in cats], dtype="float64")
            frame[name] = rng.choice(cats, size=rows, p=probs / probs.sum())
    return frame
