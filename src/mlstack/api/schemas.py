"""Request and response models generated from the dataset spec.

They document the API: /docs and /openapi.json show each feature with its type, range or
categories and whether it may be null. Requests are not validated by them: the rows go to
`serving.inputs`, so a refused row gets the same words from the API as from the CLI and the app.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from mlstack.data.spec import DatasetSpec, FeatureSpec

_PYTHON_TYPES: dict[str, Any] = {"float": float, "integer": int, "boolean": bool}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _feature_field(name: str, feature: FeatureSpec) -> tuple[Any, Any]:
    """(type, Field) of one feature: categories as an enum, numbers with their range."""
    kind: Any
    if feature.type == "categorical":
        kind = Literal[tuple(feature.categories or [])]
    else:
        kind = _PYTHON_TYPES[feature.type]
    description = feature.description or name
    limits: dict[str, Any] = {}
    if feature.is_numeric:
        if feature.min is not None:
            limits["ge"] = int(feature.min) if feature.type == "integer" else feature.min
        if feature.max is not None:
            limits["le"] = int(feature.max) if feature.type == "integer" else feature.max
    if feature.nullable:
        return kind | None, Field(None, description=description + " (may be null or left out)", **limits)
    return kind, Field(..., description=description, **limits)


def row_model(spec: DatasetSpec) -> type[BaseModel]:
    """One input row of `spec`: every feature, typed, with its range or categories."""
    fields = {name: _feature_field(name, feature) for name, feature in spec.features.items()}
    return create_model(  # type: ignore[call-overload]
        f"{_camel(spec.name)}Row",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"One row of {spec.name} features ({spec.description.strip() or spec.name}).",
        **fields,
    )


def predict_request_model(spec: DatasetSpec, max_rows: int) -> type[BaseModel]:
    """The body of `POST /v1/predict`: `{"rows": [row, ...]}`, at most `max_rows` rows."""
    row = row_model(spec)
    return create_model(
        "PredictRequest",
        __doc__="Rows to predict; each is checked against the dataset spec.",
        rows=(list[row], Field(..., min_length=1, max_length=max_rows)),  # type: ignore[valid-type]
    )


def predict_response_model(spec: DatasetSpec) -> type[BaseModel]:
    """The answer of `POST /v1/predict`: which model answered, and one prediction per row."""
    value: Any = Literal[tuple(spec.classes)] if spec.classes else float
    fields: dict[str, Any] = {
        "prediction_id": (str, Field(..., description="Key of this prediction in the prediction log")),
        "prediction": (value, Field(..., description=f"Predicted {spec.target}")),
    }
    if spec.task == "classification":
        fields["probabilities"] = (
            dict[str, float],
            Field(..., description="Probability of each class"),
        )
    row = create_model("RowPrediction", **fields)
    return create_model(
        "PredictResponse",
        model=(str, Field(..., description="Registered model name")),
        version=(str, Field(..., description="Model version that answered")),
        alias=(str, Field(..., description="Alias served (the version it pointed at answered)")),
        stale=(bool, Field(False, description="True when the registry could not be re-checked")),
        predictions=(list[row], ...),  # type: ignore[valid-type]
        prediction_log_error=(
            str | None,
            Field(None, description="Why the predictions are not in the prediction log, if not"),
        ),
    )


class InputProblem(BaseModel):
    """One problem of a refused request: the row (when it is about one), the field, the words."""

    row: int | None = None
    field: str | None = None
    message: str


class ErrorResponse(BaseModel):
    """A refused request: a summary for people, and each problem on its own."""

    detail: str
    problems: list[InputProblem] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """The served model version, where it came from and why it serves."""

    model_config = ConfigDict(protected_namespaces=())

    model: str
    alias: str
    version: str
    run_id: str
    stale: bool
    loaded_at: float
    lineage: dict[str, str]
    gate: dict[str, str]
