"""The dataset spec: a declarative description of a dataset (features, target, task, gate).

Bundled specs live in `mlstack/data/specs/<name>.yaml`; `MLSTACK_DATASET` may name one or point at
a YAML file of the same shape, so switching datasets is configuration, not code.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from mlstack.errors import ConfigError

FeatureType = Literal["float", "integer", "categorical", "boolean"]
TaskType = Literal["classification", "regression"]

# Name parts that say a column identifies a person. Raw batches, snapshots and the prediction log
# are readable by anyone with store access, so such a column may enter a spec only when its owner
# lists it in `allow_personal_data` (a reviewed decision, kept in git with the spec).
PERSONAL_DATA_WORDS = frozenset(
    {"email", "phone", "ssn", "passport", "firstname", "lastname", "fullname", "surname",
     "username", "address", "street", "postcode", "zipcode", "zip", "ip", "birthdate", "dob",
     "iban", "creditcard", "name"}
)  # fmt: skip

# Metrics where a larger value is better; every other gate metric is minimised.
HIGHER_IS_BETTER = {"accuracy", "f1_macro", "roc_auc_ovr", "r2"}


class FeatureSpec(BaseModel):
    type: FeatureType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        if self.type == "categorical" and not self.categories:
            raise ValueError("a categorical feature needs `categories`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in ("float", "integer")


class GateSpec(BaseModel):
    metric: str
    floor: float


class SearchParam(BaseModel):
    """One hyperparameter's range for the optional search (`model.tuning`): an integer or float
    interval (`log` samples it on a log scale), or a list of choices."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical search parameter needs `choices`")
            return self
        if self.low is None or self.high is None or self.low > self.high:
            raise ValueError("a numeric search parameter needs `low` <= `high`")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale search parameter needs `low` > 0")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int search parameter needs integer `low` and `high`")
        return self


class Range(BaseModel):
    min: float | None = None
    max: float | None = None


class DatasetSpec(BaseModel):
    name: str
    description: str = ""
    task: TaskType
    target: str
    source: str
    model_name: str
    estimator: str
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    # What the optional hyperparameter search may change (MLSTACK_TUNING_TRIALS > 0); the sampled
    # values override `hyperparams` for the estimator the spec names.
    search_space: dict[str, SearchParam] = Field(default_factory=dict)
    gate: GateSpec
    features: dict[str, FeatureSpec]
    classes: list[str] | None = None
    target_range: Range | None = None
    min_rows: int = Field(20, ge=1)
    max_duplicate_share: float = Field(0.2, ge=0.0, le=1.0)
    # Categorical features the gate also judges per value (no regression on any, e.g. per island).
    slices: list[str] = Field(default_factory=list)
    # Columns whose names look like personal data (PERSONAL_DATA_WORDS) that the owner keeps anyway.
    allow_personal_data: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        personal = [
            n
            for n in [*self.features, self.target]
            if looks_personal(n) and n not in self.allow_personal_data
        ]
        if personal:
            raise ValueError(
                f"column(s) {personal} look like personal data (PII): drop them from the spec or list "
                "them in `allow_personal_data` once reviewed (raw batches and the prediction log keep them)"
            )
        if self.task == "classification" and not self.classes:
            raise ValueError("a classification spec needs `classes`")
        if self.target in self.features:
            raise ValueError(f"target {self.target!r} is also listed as a feature")
        for name in self.slices:
            feature = self.features.get(name)
            if feature is None or feature.is_numeric:
                raise ValueError(f"slice {name!r} is not a categorical or boolean feature of the spec")
        return self

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    @property
    def numeric_features(self) -> list[str]:
        return [n for n, f in self.features.items() if f.is_numeric]

    @property
    def categorical_features(self) -> list[str]:
        return [n for n, f in self.features.items() if not f.is_numeric]

    @property
    def columns(self) -> list[str]:
        return [*self.features, self.target]

    def higher_is_better(self, metric: str) -> bool:
        return metric in HIGHER_IS_BETTER


def looks_personal(column: str) -> bool:
    """True when a part of the column's name (split at `_`, `-`, `.`, spaces), two adjacent parts
    joined, or the whole name is a PERSONAL_DATA_WORDS entry: `email`, `customer_email`,
    `first-name`, `ip_address`. `name` counts only as the whole name (`species_name` passes)."""
    import itertools
    import re

    parts = [p for p in re.split(r"[^a-z0-9]+", column.lower()) if p]
    pairs = {a + b for a, b in itertools.pairwise(parts)}
    words = PERSONAL_DATA_WORDS - {"name"}
    return "".join(parts) in PERSONAL_DATA_WORDS or bool(words & {*parts, *pairs})


def bundled_spec_names() -> list[str]:
    folder = resources.files("mlstack.data") / "specs"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=16)
def load_spec(name_or_path: str) -> DatasetSpec:
    """A bundled spec by name (`penguins`, `diabetes`) or a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"MLSTACK_DATASET: spec file {path} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("mlstack.data") / "specs" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise ConfigError(
                f"MLSTACK_DATASET: unknown dataset spec {name_or_path!r}; "
                f"bundled: {', '.join(bundled_spec_names())}, or give a path to a .yaml file"
            )
        text = resource.read_text(encoding="utf-8")
    try:
        return DatasetSpec.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"dataset spec {name_or_path!r} is invalid: {problems}") from None
