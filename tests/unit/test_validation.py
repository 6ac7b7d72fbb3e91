import pandas as pd
import pytest

from mlstack.data import sources
from mlstack.data.spec import load_spec
from mlstack.data.validation import check_batch, raise_if_failed
from mlstack.errors import DataValidationError

SPEC = load_spec("penguins")


@pytest.fixture
def good() -> pd.DataFrame:
    return sources.parse(sources.fetch("builtin:penguins"))


def failures(frame):
    return {(f.column, f.check.split("(")[0].split(" ")[0]): f for f in check_batch(frame, SPEC).failures}


def test_real_data_passes(good):
    report = check_batch(good, SPEC)
    assert report.passed, report.to_text()


def test_diabetes_passes_its_own_spec():
    spec = load_spec("diabetes")
    frame = sources.parse(sources.fetch(spec.source))
    assert check_batch(frame, spec).passed


def test_every_failing_check_is_listed_with_column_and_count(good):
    bad = good.drop(columns=["year"])
    bad.loc[0:4, "bill_length_mm"] = 999.0
    bad.loc[7, "island"] = "Atlantis"
    report = check_batch(bad, SPEC)
    found = {(f.column, f.check.split("(")[0]): f.count for f in report.failures}
    assert found[("year", "required column is missing")] == 1
    assert found[("bill_length_mm", "in_range")] == 5
    assert found[("island", "isin")] == 1
    with pytest.raises(DataValidationError) as info:
        raise_if_failed(report)
    text = str(info.value)
    for needle in ("year", "bill_length_mm", "999.0", "Atlantis", "5 row(s)"):
        assert needle in text


def test_wrong_dtype_reports_cause_only(good):
    bad = good.assign(body_mass_g=good["body_mass_g"].astype(str))
    report = check_batch(bad, SPEC)
    checks = [f for f in report.failures if f.column == "body_mass_g"]
    assert len(checks) == 1
    assert "dtype should be float64" in checks[0].check


def test_all_null_nullable_column_fails(good):
    report = check_batch(good.assign(sex=None), SPEC)
    assert any(f.column == "sex" and f.check.startswith("null_share") for f in report.failures)


def test_min_rows_and_duplicates(good):
    assert not check_batch(good.head(10), SPEC).passed
    dupes = pd.concat([good.head(20)] * 10)
    report = check_batch(dupes, SPEC)
    assert any(f.check.startswith("duplicate_share") for f in report.failures)


def test_bad_target_label(good):
    bad = good.copy()
    bad.loc[0, "species"] = "Emperor"
    assert any(f.column == "species" and "Emperor" in f.examples for f in check_batch(bad, SPEC).failures)


def test_integers_widen_to_float(good):
    ints = good.dropna().astype({"flipper_length_mm": "int64", "body_mass_g": "int64"})
    assert check_batch(ints, SPEC).passed
