"""Plain helpers behind the Streamlit pages (no Streamlit import here).

The pages stay thin: reading an uploaded table, the defaults and ranges of the Predict form, the
tables and series of the Models page, and links to the MLflow UI. Serving rules themselves live
in `mlstack.serving`, the prediction log in `mlstack.monitor.prediction_log`.
"""

from __future__ import annotations

import io
import math
from typing import Any
from urllib.parse import quote

import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec, FeatureSpec
from mlstack.errors import InputError
from mlstack.serving import RowProblems

# Where the app sends people who have no champion yet.
TRAIN_HINT = (
    "Train one: `make demo` (or `mlstack run`) on embedded defaults, or trigger the "
    "`training` DAG in Airflow. The gate promotes the first version that meets the floor "
    "to `@champion`; this page picks it up without a restart."
)
MAX_UPLOAD_ROWS = 2_000_000


# ------------------------------------------------------------------------------------------
# links to the MLflow UI
# ------------------------------------------------------------------------------------------


def run_url(settings: Settings, experiment_id: str | None, run_id: str | None) -> str | None:
    """Browser link to a run in the MLflow UI, or None when there is no UI (embedded store)."""
    base = settings.resolved_mlflow_ui_url
    if not base or not run_id or not experiment_id:
        return None
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(settings: Settings, name: str, version: str) -> str | None:
    base = settings.resolved_mlflow_ui_url
    if not base:
        return None
    return f"{base}/#/models/{quote(name, safe='')}/versions/{version}"


def run_experiment_id(settings: Settings, run_id: str) -> str | None:
    """The experiment a run belongs to (one registry call; None if it cannot be read)."""
    from mlstack import tracking

    try:
        return tracking.configure(settings).get_run(run_id).info.experiment_id
    except Exception:
        return None


def embedded_ui_hint(settings: Settings) -> str:
    """How to open a UI on the embedded store, for pages that cannot link to one."""
    return (
        f"No MLflow server is configured (store `{settings.resolved_tracking_uri}`). "
        f"Open one with `mlflow ui --backend-store-uri {settings.resolved_tracking_uri}` and set "
        "`MLSTACK_MLFLOW_UI_URL` to get links here."
    )


# ------------------------------------------------------------------------------------------
# the Predict form
# ------------------------------------------------------------------------------------------


def form_defaults(spec: DatasetSpec, reference: pd.DataFrame | None = None) -> dict[str, Any]:
    """A typical row to prefill the form: medians and most frequent values of the reference
    data, falling back to the middle of the spec's range and the first category."""
    out: dict[str, Any] = {}
    for name, feature in spec.features.items():
        column = reference[name].dropna() if reference is not None and name in reference else None
        if feature.is_numeric:
            value = None
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
            value = None
            if column is not None and len(column):
                common = column.astype(str).str.strip()
                common = common[common.isin(categories)]
                value = common.mode().iloc[0] if len(common) else None
            out[name] = value if value is not None else (categories[0] if categories else None)
    return out


def _step(feature: FeatureSpec) -> float:
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
    parts = [feature.description or name]
    if feature.is_numeric and (feature.min is not None or feature.max is not None):
        parts.append(f"range [{feature.min}, {feature.max}]")
    if feature.nullable:
        parts.append("optional: leave empty if unknown")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------
# the Batch page
# ------------------------------------------------------------------------------------------


def read_table(filename: str, data: bytes) -> pd.DataFrame:
    """An uploaded CSV or Parquet file as a DataFrame; InputError says what is wrong with it."""
    lower = filename.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(io.BytesIO(data))
        elif lower.endswith((".csv", ".txt")):
            if not data.strip():
                raise InputError(f"{filename}: the file is empty")
            frame = pd.read_csv(io.BytesIO(data))
        else:
            raise InputError(f"{filename}: expected a .csv or .parquet file")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{filename}: cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None
    if frame.columns.duplicated().any():
        dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InputError(f"{filename}: duplicate column(s) {dupes}")
    if len(frame) > MAX_UPLOAD_ROWS:
        raise InputError(f"{filename}: {len(frame)} rows; at most {MAX_UPLOAD_ROWS} per upload")
    if frame.empty:
        raise InputError(f"{filename}: no data rows")
    return frame


def problems_frame(frame: pd.DataFrame, problems: list[RowProblems], limit: int = 1000) -> pd.DataFrame:
    """Invalid rows: data row number (1 = first row after the header), reasons, values as given."""
    if not problems:
        return pd.DataFrame(columns=["row", "reasons"])
    shown = problems[:limit]
    index = [p.index for p in shown]
    values = frame.reset_index(drop=True).iloc[index].reset_index(drop=True)
    head = pd.DataFrame({"row": [i + 1 for i in index], "reasons": ["; ".join(p.reasons) for p in shown]})
    return pd.concat([head, values.astype("object")], axis=1)


def results_csv(scored: pd.DataFrame) -> bytes:
    """Scored rows as CSV, with the input's 1-based data row number first."""
    out = scored.copy()
    out.insert(0, "row", scored.index + 1)
    return out.to_csv(index=False).encode()
