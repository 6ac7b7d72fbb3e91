import pandas as pd
import pytest

from mlstack import lifecycle
from mlstack.errors import InputError, NoChampionError
from mlstack.serving import ModelServer, check_rows, prepare_inputs

from .conftest import make_settings

ROW = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.8,
    "flipper_length_mm": 217,  # int where the model expects float: cast, not rejected
    "body_mass_g": 5200,
    "sex": "female",
    "year": 2008,
}


def test_champion_predicts_and_says_which_version(trained):
    ctx, summary = trained
    server = ModelServer(ctx.settings, ctx.spec)
    result = server.predict(ROW)
    assert result.predictions == ["Gentoo"]
    assert result.version == summary["champion"]
    assert result.alias == "champion"
    assert abs(sum(result.probabilities[0].values()) - 1) < 1e-9
    assert set(result.probabilities[0]) == {"Adelie", "Chinstrap", "Gentoo"}


def test_numbers_as_strings_and_missing_nullable_fields(trained):
    ctx, _ = trained
    row = {k: str(v) for k, v in ROW.items()}
    del row["sex"]
    result = ModelServer(ctx.settings, ctx.spec).predict(row)
    assert result.predictions == ["Gentoo"]


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"bill_length_mm": "abc"}, "field 'bill_length_mm': 'abc' is not a number"),
        ({"island": "Atlantis"}, "field 'island': 'Atlantis' is not one of"),
        ({"body_mass_g": 1e9}, "field 'body_mass_g': 1000000000.0 is outside"),
        ({"year": 2008.5}, "field 'year': 2008.5 is not a whole number"),
        ({"island": None}, "field 'island': a value is required"),
        ({"bill_depth_mm": float("inf")}, "field 'bill_depth_mm'"),
        ({"beak": 3}, "unknown field(s) ['beak']"),
    ],
)
def test_bad_inputs_name_field_and_problem(change, fragment):
    from mlstack.data.spec import load_spec

    with pytest.raises(InputError) as info:
        prepare_inputs({**ROW, **change}, load_spec("penguins"))
    assert fragment in str(info.value)


def test_missing_required_field():
    from mlstack.data.spec import load_spec

    row = dict(ROW)
    del row["island"]
    with pytest.raises(InputError, match="field 'island' is required"):
        prepare_inputs(row, load_spec("penguins"))


def test_check_rows_splits_good_and_bad():
    from mlstack.data.spec import load_spec

    rows = pd.DataFrame([ROW, {**ROW, "island": "Mars"}, ROW, {**ROW, "year": "x"}])
    valid, bad = check_rows(rows, load_spec("penguins"))
    assert list(valid.index) == [0, 2]
    assert [b.index for b in bad] == [1, 3]
    assert valid["year"].dtype == "int64"
    assert valid["flipper_length_mm"].dtype == "float64"


def test_no_champion_says_how_to_train(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path), "penguins")
    with pytest.raises(NoChampionError, match="mlstack run"):
        ModelServer(ctx.settings, ctx.spec).current()


def test_registry_unreachable_keeps_last_model_and_flags_stale(trained, tmp_path):
    ctx, summary = trained
    settings = ctx.settings.model_copy(update={"alias_refresh_seconds": 0.0})
    server = ModelServer(settings, ctx.spec)
    assert server.predict(ROW).version == summary["champion"]
    # the registry goes away: point the server at a tracking server that is not there
    server.settings = settings.model_copy(update={"tracking_uri": "http://127.0.0.1:9"})
    import os

    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        result = server.predict(ROW)
    finally:
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "5"
    assert result.stale is True
    assert result.version == summary["champion"]
    assert server.last_error
