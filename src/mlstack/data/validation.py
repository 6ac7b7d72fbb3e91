"""Validate a batch against its dataset spec with pandera; every failing check is reported."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from mlstack.data.spec import DatasetSpec
from mlstack.errors import DataValidationError

PANDAS_DTYPES = {"float": "float64", "integer": "int64", "categorical": "str", "boolean": "bool"}
MAX_NULL_SHARE = 0.5  # a nullable feature may miss values, but not in most rows


@dataclass
class CheckFailure:
    column: str
    check: str
    count: int
    examples: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.examples and self.count <= 1:
            return f"column {self.column!r}: {self.check}"
        sample = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"column {self.column!r}: {self.check} failed for {self.count} row(s){sample}"


@dataclass
class ValidationReport:
    dataset: str
    rows: int
    passed: bool
    failures: list[CheckFailure]
    report_uri: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        head = f"Validation of {self.dataset}: {self.rows} rows, "
        if self.passed:
            return head + "PASSED"
        lines = [head + f"FAILED {len(self.failures)} check(s):"]
        lines += [f"  - {f.describe()}" for f in self.failures]
        return "\n".join(lines)


def conform(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Safe widening only (int -> float where the spec wants float); anything else is checked."""
    frame = frame.copy()
    for name, feature in spec.features.items():
        if name in frame and feature.type == "float" and pd.api.types.is_integer_dtype(frame[name]):
            frame[name] = frame[name].astype("float64")
    target = frame.get(spec.target)
    if spec.task == "regression" and target is not None and pd.api.types.is_integer_dtype(target):
        frame[spec.target] = frame[spec.target].astype("float64")
    return frame


def build_schema(spec: DatasetSpec, with_target: bool = True) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for name, feature in spec.features.items():
        checks = []
        if feature.is_numeric and (feature.min is not None or feature.max is not None):
            low = feature.min if feature.min is not None else float("-inf")
            high = feature.max if feature.max is not None else float("inf")
            checks.append(pa.Check.in_range(low, high))
        if feature.categories:
            checks.append(pa.Check.isin(feature.categories))
        if feature.nullable:
            checks.append(
                pa.Check(
                    lambda s: s.isna().mean() <= MAX_NULL_SHARE,
                    ignore_na=False,
                    name=f"null_share<={MAX_NULL_SHARE}",
                )
            )
        columns[name] = pa.Column(PANDAS_DTYPES[feature.type], checks, nullable=feature.nullable)
    if with_target:
        if spec.task == "classification":
            target_checks = [pa.Check.isin(spec.classes or [])]
            target_dtype = "str"
        else:
            target_checks = []
            if spec.target_range is not None:
                target_checks.append(
                    pa.Check.in_range(
                        spec.target_range.min if spec.target_range.min is not None else -1e300,
                        spec.target_range.max if spec.target_range.max is not None else 1e300,
                    )
                )
            target_dtype = "float64"
        columns[spec.target] = pa.Column(target_dtype, target_checks, nullable=False)
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name=spec.name)


def check_batch(frame: pd.DataFrame, spec: DatasetSpec, dataset: str = "batch") -> ValidationReport:
    """Run every check; never raises for bad data, returns the full report."""
    frame = conform(frame, spec)
    failures: list[CheckFailure] = []
    if len(frame) < spec.min_rows:
        failures.append(CheckFailure("<table>", f"min_rows>={spec.min_rows}", len(frame)))
    if len(frame):
        duplicated = frame.duplicated()
        dup_share = float(duplicated.mean())
        if dup_share > spec.max_duplicate_share:
            failures.append(
                CheckFailure(
                    "<table>",
                    f"duplicate_share<={spec.max_duplicate_share} (is {dup_share:.2f})",
                    int(duplicated.sum()),
                )
            )
    try:
        build_schema(spec).validate(frame, lazy=True)
    except SchemaErrors as exc:
        failures += _summarise(exc.failure_cases, frame)
    return ValidationReport(dataset, len(frame), not failures, failures)


def _summarise(cases: pd.DataFrame, frame: pd.DataFrame) -> list[CheckFailure]:
    """pandera's failure cases, grouped per (column, check), worded for a person."""
    out = []
    cases = cases.assign(column=cases["column"].fillna("<table>").astype(str))
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        values = [str(v) for v in group["failure_case"].drop_duplicates()]
        column, check = str(column), str(check)
        if check == "column_in_dataframe":
            out += [CheckFailure(v, "required column is missing", 1) for v in values]
        elif check.startswith("dtype("):
            expected = check.removeprefix("dtype(").rstrip(")").strip("'")
            out.append(CheckFailure(column, f"dtype should be {expected}, is {values[0]}", 1))
        elif check.startswith("null_share"):
            nulls = int(frame[column].isna().sum())
            share = nulls / max(len(frame), 1)
            out.append(CheckFailure(column, f"{check} (is {share:.2f})", nulls))
        else:
            out.append(CheckFailure(column, check, len(group), values[:3]))
    # a column of the wrong dtype fails its value checks too: report the cause only
    wrong_type = {f.column for f in out if f.check.startswith("dtype should be")}
    return [f for f in out if f.column not in wrong_type or f.check.startswith("dtype should")]


def raise_if_failed(report: ValidationReport) -> None:
    if not report.passed:
        raise DataValidationError(report.to_text(), report)


def report_json(report: ValidationReport) -> bytes:
    return json.dumps(report.to_dict(), indent=2, default=str).encode()
