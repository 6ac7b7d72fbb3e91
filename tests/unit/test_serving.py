import pandas as pd
import pytest

from mlstack import lifecycle
from mlstack.errors import InputError, NoChampionError
from mlstack.serving import service
from mlstack.serving.inputs import check_rows, prepare_inputs
from mlstack.serving.loader import ModelServer

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


def test_numbers_as_strings_and_null_nullable_fields(trained):
    ctx, _ = trained
    row = {k: str(v) for k, v in ROW.items()}
    row["sex"] = None  # an explicit null where the spec allows it
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


def _year_spec(low: float | None, high: float | None):
    """Penguins with the integer `year` given another range (None: unbounded)."""
    from mlstack.data.spec import load_spec

    spec = load_spec("penguins")
    features = {**spec.features, "year": spec.features["year"].model_copy(update={"min": low, "max": high})}
    return spec.model_copy(update={"features": features})


@pytest.mark.parametrize("bounds", [(None, None), (-1e30, 1e30)], ids=["unbounded", "range-past-int64"])
@pytest.mark.parametrize(
    "value, shown",
    [
        (2**63, "9223372036854775808"),  # was cast to -2**63
        (2**63 - 1, "9223372036854775807"),  # its float is 2**63: also -2**63
        (-(2**63) - 1, "-9223372036854775809"),
        (2**70, "1180591620717411303424"),
        (2**53 + 1, "9007199254740993"),  # was taken as 2**53, one off
        ("-9007199254740993", "'-9007199254740993'"),
        (1e19, "1e+19"),
    ],
)
def test_an_integer_the_model_cannot_take_exactly_is_refused_naming_the_field(bounds, value, shown):
    spec = _year_spec(*bounds)
    for rows in (
        {**ROW, "year": value},
        [ROW, {**ROW, "year": value}],
        pd.DataFrame([{**ROW, "year": value}]),
    ):
        valid, bad = check_rows(rows, spec)
        said = f"field 'year': {shown} is beyond ±2**53 (9007199254740992), the whole numbers the model"
        assert [b.reasons for b in bad] == [[said + " (float64) takes exactly"]], rows
        assert valid["year"].tolist() == ([2008] if isinstance(rows, list) else [])
    with pytest.raises(InputError, match=r"row 0: field 'year': .* is beyond ±2\*\*53"):
        prepare_inputs({**ROW, "year": value}, spec)


@pytest.mark.parametrize("value", [2**53, -(2**53), float(2**53), "9007199254740992", 2**53 - 1])
def test_an_integer_up_to_2_53_is_taken_exactly(value):
    features = prepare_inputs([{**ROW, "year": value}, ROW], _year_spec(None, None))
    assert features["year"].dtype == "int64"
    assert features["year"].tolist() == [int(float(value)) if isinstance(value, str) else int(value), 2008]


def test_absent_fields_are_all_named_even_nullable_ones():
    from mlstack.data.spec import load_spec

    row = {k: v for k, v in ROW.items() if k not in ("island", "sex", "body_mass_g")}
    with pytest.raises(InputError) as info:
        prepare_inputs(row, load_spec("penguins"))
    assert "absent field(s) 'island', 'body_mass_g', 'sex'" in str(info.value)
    assert "a value is required" not in str(info.value)  # absent is said once, not as a null


def test_explicit_null_allowed_where_nullable():
    from mlstack.data.spec import load_spec

    nulls = {"sex": None, "bill_length_mm": None, "body_mass_g": ""}
    features = prepare_inputs({**ROW, **nulls}, load_spec("penguins"))
    assert features["sex"].tolist() == [None]
    assert features[["bill_length_mm", "body_mass_g"]].isna().all(axis=None)


def test_empty_object_is_one_row_with_every_field_absent():
    from mlstack.data.spec import load_spec

    spec = load_spec("penguins")
    valid, bad = check_rows({}, spec)
    assert valid.empty and len(bad) == 1 and bad[0].index == 0
    assert bad[0].reasons == [
        "absent field(s) " + ", ".join(map(repr, spec.feature_names)) + ": "
        "give every field (null or empty where the spec allows it)"
    ]


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("NaN", "'NaN' is not a number"),
        (" nan ", "' nan ' is not a number"),
        (float("nan"), "'NaN' is not a number"),  # JSON's bare NaN, as Python's json reads it
        ("Infinity", "'Infinity' is not finite"),
        (True, "True is not a number"),
    ],
)
def test_nan_text_and_booleans_are_not_numbers(value, fragment):
    from mlstack.data.spec import load_spec

    with pytest.raises(InputError) as info:
        prepare_inputs({**ROW, "bill_length_mm": value}, load_spec("penguins"))
    assert f"field 'bill_length_mm': {fragment}" in str(info.value)


def test_boolean_column_is_not_numbers():
    from mlstack.data.spec import load_spec

    rows = [{**ROW, "year": True}, {**ROW, "year": False}]
    _, bad = check_rows(rows, load_spec("penguins"))
    assert [b.reasons for b in bad] == [
        ["field 'year': True is not a number"],
        ["field 'year': False is not a number"],
    ]


def test_table_missing_columns_names_every_one():
    from mlstack.data.spec import load_spec

    table = pd.DataFrame([ROW]).drop(columns=["sex", "year"])
    with pytest.raises(InputError, match="absent field\\(s\\) 'sex', 'year'"):
        check_rows(table, load_spec("penguins"))


def test_check_rows_splits_good_and_bad():
    from mlstack.data.spec import load_spec

    rows = pd.DataFrame([ROW, {**ROW, "island": "Mars"}, ROW, {**ROW, "year": "x"}])
    valid, bad = check_rows(rows, load_spec("penguins"))
    assert list(valid.index) == [0, 2]
    assert [b.index for b in bad] == [1, 3]
    assert valid["year"].dtype == "int64"
    assert valid["flipper_length_mm"].dtype == "float64"


def test_shadow_looks_for_a_challenger_again_only_when_the_alias_is_due(trained):
    from mlstack.serving.shadow import Shadow

    ctx, summary = trained  # a champion and no challenger
    shadow = Shadow(ctx.settings, ctx.spec, share=1.0)
    assert not shadow.idle
    assert shadow.challenger(summary["champion"]) is None
    assert shadow.idle  # no registry query per prediction until the alias is due again
    every_time = ctx.settings.model_copy(update={"alias_refresh_seconds": 0.0})
    shadow = Shadow(every_time, ctx.spec, share=1.0)
    assert shadow.challenger(summary["champion"]) is None
    assert not shadow.idle
    assert Shadow(ctx.settings, ctx.spec, share=0.0).idle


def test_no_champion_says_how_to_train(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path), "penguins")
    with pytest.raises(NoChampionError, match="mlstack run"):
        ModelServer(ctx.settings, ctx.spec).current()


def test_default_refresh_is_30_s_and_each_version_loads_once_per_process(trained, monkeypatch):
    """The README: the alias is re-resolved every MLSTACK_ALIAS_REFRESH_SECONDS (default 30) and
    each version is loaded once per process, however many servers (sessions, workers) share it.
    The clock is the loader's: 29 s of calls resolve once, 31 s re-resolves, nothing reloads."""
    import types

    from mlstack.config import Settings
    from mlstack.model import artifact
    from mlstack.serving import loader

    ctx, summary = trained
    assert Settings.model_fields["alias_refresh_seconds"].default == 30.0
    assert ctx.settings.alias_refresh_seconds == 30.0  # the tests' settings keep the default
    now = [1000.0]
    monkeypatch.setattr(loader, "time", types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0]))
    monkeypatch.setattr(loader, "_MODEL_CACHE", {})  # this test's process view: nothing loaded yet
    loads, resolves = [], []
    load_pipeline, resolve_alias = artifact.load_pipeline, loader.resolve_alias
    monkeypatch.setattr(artifact, "load_pipeline", lambda *a, **k: loads.append(a) or load_pipeline(*a, **k))
    monkeypatch.setattr(loader, "resolve_alias", lambda *a: resolves.append(a) or resolve_alias(*a))

    servers = [ModelServer(ctx.settings, ctx.spec) for _ in range(3)]  # e.g. three sessions
    for second in range(30):
        now[0] = 1000.0 + second
        for server in servers:
            assert server.predict([ROW]).version == str(summary["champion"])
    assert len(resolves) == 3  # once per server in the first 30 s
    assert len(loads) == 1  # one load of the version for the whole process
    now[0] = 1031.0
    for server in servers:
        server.predict([ROW])
    assert len(resolves) == 6 and len(loads) == 1  # re-resolved, the same version not reloaded


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


# --------------------------------------------------------------------------------------------
# the predict-and-log service (every front door: CLI, Predict and Batch pages, the API)
# --------------------------------------------------------------------------------------------

# A PostgreSQL log nobody listens on: connecting is refused at once, like a log that is down.
DOWN_LOG = "postgresql://mlstack:hunter2@127.0.0.1:9/predictions"  # pragma: allowlist secret


def _logged(settings, source: str) -> pd.DataFrame:
    from mlstack.monitoring.prediction_log import read_predictions

    frame = read_predictions(settings)
    return frame[frame["source"] == source] if not frame.empty else frame


def test_service_predicts_and_logs_every_prediction(trained):
    ctx, summary = trained
    served = service.predict(ModelServer(ctx.settings, ctx.spec), [ROW, ROW], "unit-service")
    assert served.prediction.predictions == ["Gentoo", "Gentoo"]
    assert served.prediction.version == summary["champion"]
    assert served.log.ok and served.log.written == 2 and served.log.failed == 0
    assert list(served.features.columns) == ctx.spec.feature_names
    rows = _logged(ctx.settings, "unit-service")
    assert rows["prediction"].tolist() == ["Gentoo", "Gentoo"]
    assert set(rows["model_version"]) == {summary["champion"]}


def test_service_refuses_bad_input_before_anything_is_logged(trained):
    ctx, _ = trained
    with pytest.raises(InputError, match="field 'island': 'Atlantis' is not one of"):
        service.predict(ModelServer(ctx.settings, ctx.spec), {**ROW, "island": "Atlantis"}, "unit-refused")
    assert _logged(ctx.settings, "unit-refused").empty


def test_service_keeps_the_prediction_when_the_log_is_down(trained):
    ctx, summary = trained
    settings = ctx.settings.model_copy(update={"prediction_log_url": DOWN_LOG})
    served = service.predict(ModelServer(settings, ctx.spec), ROW, "unit-down")
    assert served.prediction.predictions == ["Gentoo"]
    assert served.prediction.version == summary["champion"]
    assert not served.log.ok and served.log.written == 0 and served.log.failed == 1
    assert served.log.error.startswith("The prediction could not be written to the prediction log")
    assert "127.0.0.1:9" in served.log.error and "hunter2" not in served.log.error


def test_service_batch_logs_valid_rows_and_reports_progress(trained):
    ctx, summary = trained
    rows = [ROW, {**ROW, "island": "Mars"}, ROW, ROW]
    progress: list[tuple[int, int]] = []
    served = service.predict_batch(
        ModelServer(ctx.settings, ctx.spec),
        rows,
        "unit-batch",
        chunk_size=2,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert progress == [(2, 3), (3, 3)]
    assert list(served.batch.scored.index) == [0, 2, 3]
    assert [p.index for p in served.batch.problems] == [1]
    assert served.batch.version == summary["champion"]
    assert served.log.ok and served.log.written == 3
    assert len(_logged(ctx.settings, "unit-batch")) == 3


def test_service_batch_with_the_log_down_scores_everything_and_says_what_was_not_logged(trained):
    ctx, _ = trained
    settings = ctx.settings.model_copy(update={"prediction_log_url": DOWN_LOG})
    served = service.predict_batch(
        ModelServer(settings, ctx.spec), [ROW] * 5, "unit-batch-down", chunk_size=2
    )
    assert served.batch.scored["prediction"].tolist() == ["Gentoo"] * 5
    assert not served.log.ok and served.log.written == 0 and served.log.failed == 5
    assert served.log.error.startswith("5 of 5 predictions could not be written to the prediction log")


def test_cli_prints_the_prediction_and_warns_when_the_log_is_down(trained, monkeypatch, tmp_path):
    import json
    import os

    from typer.testing import CliRunner

    from mlstack.cli import app
    from mlstack.config import get_settings

    ctx, summary = trained
    for var in list(os.environ):
        if var.startswith("MLSTACK_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLSTACK_HOME", str(ctx.settings.home))
    monkeypatch.setenv("MLSTACK_PREDICTION_LOG_URL", DOWN_LOG)
    monkeypatch.chdir(tmp_path)  # no .env/.secrets of the checkout
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["predict", "--json-row", json.dumps(ROW), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["predictions"] == ["Gentoo"] and answer["version"] == summary["champion"]
    assert answer["prediction_log_error"].startswith("The prediction could not be written")
    assert "warning:" in result.stderr and "could not be written to the prediction log" in result.stderr


def test_rows_checked_without_pandas_are_scored_by_the_pipeline_when_there_is_no_onnx_form(trained):
    """The direct path hands columns to the ONNX form; a version without one gets the frame."""
    import dataclasses

    from mlstack.serving.loader import load_version

    ctx, _ = trained
    onnx = ModelServer(ctx.settings, ctx.spec)
    skops = ModelServer(
        ctx.settings, ctx.spec, loader=lambda s, n, v: dataclasses.replace(load_version(s, n, v), fast=None)
    )
    assert onnx.current().fast is not None and skops.current().fast is None
    rows = [ROW, {**ROW, "sex": None, "bill_depth_mm": None}]
    by_onnx, by_pipeline = onnx.predict(rows), skops.predict(rows)
    assert by_onnx.predictions == by_pipeline.predictions
    for fast, slow in zip(by_onnx.probabilities, by_pipeline.probabilities, strict=True):
        assert max(abs(fast[k] - slow[k]) for k in slow) <= 1e-5
