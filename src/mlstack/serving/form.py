"""The input form of a prediction, generated from the dataset spec: a typical row to prefill
it, each number field's range, step and format, and each field's help text.

Plain values (no Streamlit import): the Predict page turns them into widgets.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlstack.data.spec import DatasetSpec, FeatureSpec


def form_defaults(spec: DatasetSpec, reference: pd.DataFrame | None = None) -> dict[str, Any]:
    """A typical row to prefill the form: medians and most frequent values of the reference
    data, falling back to the middle of the spec's range and the first category."""
    out: dict[str, Any] = {}
    for name, feature in spec.features.items():
        column = reference[name].dropna() if reference is not None and name in reference else None
        if feature.is_numeric:
            value: float | None = None
            if column is not None and len(column):
                numbers = pd.to_numeric(column, errors="coerce").dropna()
                value = float(numbers.median()) if len(numbers) else None
            if value is None:
                low, high = feature.min, feature.max
                value = (low + high) / 2 if low is not None and high is not None else (low or high or 0.0)
            if feature.min is not None:
                value = max(value, feature.min)
            if feature.max is not None:
                value = min(value, feature.max)
            out[name] = round(value) if feature.type == "integer" else _round_to_step(feature, value)
        elif feature.type == "boolean":
            out[name] = bool(column.mode().iloc[0]) if column is not None and len(column) else False
        else:
            categories = feature.categories or []
            category: str | None = None
            if column is not None and len(column):
                common = column.astype(str).str.strip()
                common = common[common.isin(categories)]
                category = common.mode().iloc[0] if len(common) else None
            out[name] = category if category is not None else (categories[0] if categories else None)
    return out


def _step(feature: FeatureSpec) -> float:
    # about a hundredth of the range, as a power of ten: fine enough to reach typical values
    if feature.type == "integer":
        return 1
    if feature.min is not None and feature.max is not None and feature.max > feature.min:
        return 10 ** math.floor(math.log10((feature.max - feature.min) / 100))
    return 0.1


def _round_to_step(feature: FeatureSpec, value: float) -> float:
    decimals = max(0, -math.floor(math.log10(_step(feature))))
    return round(float(value), decimals)


def number_input_args(feature: FeatureSpec) -> dict[str, Any]:
    """min/max/step/format for a number input of this feature (ints stay ints)."""
    step = _step(feature)
    if feature.type == "integer":
        return {
            "min_value": None if feature.min is None else math.ceil(feature.min),
            "max_value": None if feature.max is None else math.floor(feature.max),
            "step": 1,
            "format": "%d",
        }
    decimals = max(0, -math.floor(math.log10(step)))
    return {
        "min_value": None if feature.min is None else float(feature.min),
        "max_value": None if feature.max is None else float(feature.max),
        "step": float(step),
        "format": f"%.{decimals}f",
    }


def feature_help(name: str, feature: FeatureSpec) -> str:
    """Help text of a form field: its description, range, and whether it may be left empty."""
    parts = [feature.description or name]
    if feature.is_numeric and (feature.min is not None or feature.max is not None):
        parts.append(f"range [{feature.min}, {feature.max}]")
    if feature.nullable:
        parts.append("optional: leave empty if unknown")
    return "; ".join(parts)
