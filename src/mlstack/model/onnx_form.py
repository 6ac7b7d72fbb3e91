"""The ONNX form of a fitted pipeline: converted at training, served only where it matched.

The skops pipeline stays the source of truth. The ONNX graph answers the same rows much faster
and carries no code; it is logged next to the model only when, on the version's holdout and on
a seeded sample with missing values in every nullable feature, it gives the same labels and
probabilities within `TOLERANCE` of the pipeline's (regression: relative error). The outcome,
passed or not, or why there is no ONNX form, is the run tag `ONNX_TAG`, which registration
copies onto the model version.

Missing values. Pipelines see a missing category as None (`estimator.model_inputs`, and the
serving input checks, make every missing category None). scikit-learn's categorical imputer
does not count None as missing (only NaN), so None reaches the one-hot encoder as a category of
its own when training saw it, and encodes as all zeros otherwise. ONNX string tensors have no
None: `Layout.feed` (the one function that turns checked features into the session's inputs) sends
`MISSING` instead, and the converted copy's encoder knows `MISSING` where scikit-learn's knows
None. Numbers are imputed and scaled by `Layout.feed` in float64 with the pipeline's
fitted statistics, exactly as scikit-learn does, then go in as float32, as scikit-learn's trees
read them (onnxruntime has no double-precision imputer, and a float32 scaler moves values across
split thresholds).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlstack.data.spec import DatasetSpec

ONNX_TAG = "mlstack.onnx"
ONNX_ARTIFACT = "onnx/model.onnx"
TOLERANCE = 1e-5
MISSING = "\x00missing"  # no spec category can be this (inputs are checked against the spec)
_NEVER = "\x00never"  # the categorical imputer's missing value in the graph: never fed
SYNTHETIC_ROWS = 500
Features = pd.DataFrame | Mapping[str, np.ndarray]  # a frame, or one array per feature


@dataclass(frozen=True)
class Layout:
    """What the session needs to know of the fitted pipeline: its columns by kind, the numeric
    imputer's and scaler's statistics (applied in float64 as scikit-learn does), the task."""

    numeric: list[str]
    categorical: list[str]
    fill: np.ndarray
    mean: np.ndarray | None
    scale: np.ndarray | None
    classifier: bool

    @classmethod
    def of(cls, pipeline: Any) -> Layout:
        """The layout of a pipeline made by `estimator.build`."""
        from sklearn.base import is_classifier

        preprocess = pipeline.named_steps["preprocess"]
        columns = {name: list(cols) for name, _, cols in preprocess.transformers_}
        steps = preprocess.named_transformers_["numeric"].named_steps
        scaler = steps["scale"]
        return cls(
            columns.get("numeric", []),
            columns.get("categorical", []),
            steps["impute"].statistics_,
            scaler.mean_,
            scaler.scale_,
            is_classifier(pipeline),
        )

    def feed(self, features: Features) -> dict[str, np.ndarray]:
        """The session inputs for checked `features` (a frame, or one array per feature as
        `serving.plain_rows` gives them): one (n, 1) tensor per feature."""
        if isinstance(features, pd.DataFrame):
            x = features[self.numeric].to_numpy(dtype="float64", na_value=np.nan)
        else:
            rows = len(features[(self.numeric or self.categorical)[0]])
            x = np.empty((rows, len(self.numeric)), dtype="float64")
            for i, name in enumerate(self.numeric):
                x[:, i] = features[name]
        x = np.where(np.isnan(x), self.fill, x)
        if self.mean is not None:
            x = x - self.mean
        if self.scale is not None:
            x = x / self.scale
        scaled = x.astype(np.float32)
        out = {name: scaled[:, i : i + 1] for i, name in enumerate(self.numeric)}
        for name in self.categorical:
            values = np.asarray(features[name], dtype=object)
            text = [MISSING if v is None or v != v else str(v) for v in values]
            out[name] = np.array(text, dtype=object).reshape(-1, 1)
        return out


class OnnxModel:
    """An onnxruntime session that answers like the pipeline (`predict`, `predict_proba`, `classes_`)."""

    def __init__(self, data: bytes, pipeline: Any) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One request at a time per call: threads cost more than they give on one row.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.layout = Layout.of(pipeline)
        self.sha256 = hashlib.sha256(data).hexdigest()
        if self.layout.classifier:
            self.classes_ = np.asarray(pipeline.classes_, dtype=object)

    def _run(self, features: Features) -> list[Any]:
        return self.session.run(None, self.layout.feed(features))

    def predict(self, features: Features) -> np.ndarray:
        """Labels (classification) or values (regression), one per row."""
        out = self._run(features)[0]
        return (
            np.asarray(out, dtype=object).reshape(-1)
            if self.layout.classifier
            else np.asarray(out).reshape(-1)
        )

    def predict_proba(self, features: Features) -> np.ndarray:
        """Class probabilities, columns in the order of `classes_` (rows sum to 1 in float64)."""
        proba = np.asarray(self._run(features)[1], dtype="float64")
        return proba / proba.sum(axis=1, keepdims=True)


def _graph_copy(pipeline: Any, layout: Layout) -> Any:
    """A copy of the fitted pipeline whose numeric steps are done by `Layout.feed` and whose categorical
    steps read `MISSING` where scikit-learn reads None."""
    graph = copy.deepcopy(pipeline)
    preprocess = graph.named_steps["preprocess"]
    preprocess.transformers_ = [
        (name, "passthrough" if name == "numeric" else step, columns)
        for name, step, columns in preprocess.transformers_
    ]
    if not layout.categorical:
        return graph
    categorical = graph.named_steps["preprocess"].named_transformers_["categorical"]
    categorical.named_steps["impute"].missing_values = _NEVER
    encoder = categorical.named_steps["onehot"]
    encoder.categories_ = [
        np.array([MISSING if c is None else c for c in cats], dtype=object) for cats in encoder.categories_
    ]
    return graph


def convert(pipeline: Any) -> bytes:
    """The pipeline as an ONNX graph (skl2onnx); raises whatever skl2onnx raises."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    layout = Layout.of(pipeline)
    graph = _graph_copy(pipeline, layout)
    inputs: list[tuple[str, Any]] = [(n, FloatTensorType([None, 1])) for n in layout.numeric]
    inputs += [(n, StringTensorType([None, 1])) for n in layout.categorical]
    options = {}
    if layout.classifier:
        options = {id(graph.named_steps["estimator"]): {"zipmap": False}}
    onx = convert_sklearn(graph, initial_types=inputs, options=options)
    return onx.SerializeToString()


def with_missing(
    features: pd.DataFrame, spec: DatasetSpec, seed: int, rows: int = SYNTHETIC_ROWS
) -> pd.DataFrame:
    """A seeded sample of `features` with about a third of every nullable feature missing."""
    if features.empty:
        return features
    rng = np.random.default_rng(seed)
    sample = features.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    for name, feature in spec.features.items():
        if not feature.nullable:
            continue
        gone = rng.random(rows) < 1 / 3
        if feature.type == "categorical":
            sample[name] = sample[name].astype(object).where(~gone, None)
        else:
            sample[name] = sample[name].astype("float64").where(~gone, np.nan)
    return sample


def parity(pipeline: Any, fast: OnnxModel, features: pd.DataFrame, spec: DatasetSpec) -> dict[str, Any]:
    """How far the ONNX form is from the pipeline on `features`, as the serving path scores them."""
    from mlstack.model.evaluate import scores

    expected, expected_p = scores(pipeline, features, spec)
    got, got_p = scores(fast, features, spec)
    if expected_p is not None and got_p is not None:
        labels = int(np.sum(np.asarray(expected, dtype=object) != np.asarray(got, dtype=object)))
        error = float(np.max(np.abs(expected_p - got_p))) if len(features) else 0.0
        return {"rows": len(features), "label_mismatches": labels, "max_abs_dp": error}
    want, have = np.asarray(expected, dtype="float64"), np.asarray(got, dtype="float64")
    rel = np.abs(want - have) / np.maximum(np.abs(want), np.finfo("float64").tiny)
    return {"rows": len(features), "max_rel_error": float(rel.max()) if len(rel) else 0.0}


def _passes(figures: dict[str, Any]) -> bool:
    if "max_rel_error" in figures:
        return bool(figures["max_rel_error"] <= TOLERANCE)
    return figures["label_mismatches"] == 0 and figures["max_abs_dp"] <= TOLERANCE


@dataclass(frozen=True)
class OnnxForm:
    """The outcome at training: the graph when it passed parity, and the tag that says how it went."""

    data: bytes | None
    tag: dict[str, Any]

    @property
    def tag_value(self) -> str:
        """The tag as one JSON string (MLflow tags are text)."""
        return json.dumps(self.tag, sort_keys=True)


def build(pipeline: Any, holdout: pd.DataFrame, spec: DatasetSpec, seed: int) -> OnnxForm:
    """Convert and check the pipeline (holdout, then a seeded sample with missing values)."""
    try:
        data = convert(pipeline)
        fast = OnnxModel(data, pipeline)
    except Exception as exc:  # any converter or runtime refusal: served by skops, and why
        return OnnxForm(None, {"status": "unavailable", "reason": f"{type(exc).__name__}: {first_line(exc)}"})
    checks = {
        "holdout": parity(pipeline, fast, holdout, spec),
        "synthetic_missing": parity(pipeline, fast, with_missing(holdout, spec, seed), spec),
    }
    passed = all(_passes(figures) for figures in checks.values())
    tag = {"status": "passed" if passed else "failed", "tolerance": TOLERANCE, **checks}
    if passed:
        tag["sha256"] = fast.sha256
    return OnnxForm(data if passed else None, tag)


def first_line(exc: Exception) -> str:
    """The first line of an error, cut to 200 characters (converter errors dump whole nodes)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def read_tag(value: str | None) -> dict[str, Any]:
    """The parsed `ONNX_TAG` of a version ({} when absent or unreadable)."""
    try:
        parsed = json.loads(value) if value else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
