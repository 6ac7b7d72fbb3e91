"""Every page of the Streamlit app through `streamlit.testing.v1.AppTest`, on a real (embedded)
MLflow registry with a model trained by the real pipeline."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mlstack.config import load_settings
from mlstack.monitoring.prediction_log import read_predictions
from mlstack.serving.inputs import check_rows
from mlstack.serving.loader import ModelServer
from tests.app.support import (
    GOOD_ROW,
    SPEC,
    UNKNOWN,
    all_text,
    assert_no_exception,
    click_predict,
    fill_form,
    open_app,
    texts,
)

pytestmark = pytest.mark.app


def logged(source: str | None = None) -> pd.DataFrame:
    frame = read_predictions(load_settings())
    if source and not frame.empty:
        frame = frame[frame["source"] == source]
    return frame


def expected(row: dict) -> tuple[str, dict]:
    """What mlstack.serving itself answers for the row (the page must show the same)."""
    result = ModelServer(load_settings(), SPEC).predict(row)
    return result.predictions[0], result.probabilities[0]


# --------------------------------------------------------------------------------------------
# Predict
# --------------------------------------------------------------------------------------------


def test_predict_form_is_generated_from_the_spec(app_home):
    at = open_app()
    assert texts(at, "title") == ["Predict"]
    for name, feature in SPEC.features.items():
        key = f"predict.{name}"
        if feature.is_numeric:
            widget = at.number_input(key=key)
            assert widget.min == feature.min and widget.max == feature.max, name
            if feature.type == "integer":
                assert widget.step == 1 and isinstance(widget.value, int), name
        else:
            widget = at.selectbox(key=key)
            assert set(feature.categories) <= set(widget.options), name
            assert (UNKNOWN in widget.options) == feature.nullable, name
        assert ("(optional)" in widget.label) == feature.nullable, name
    # Before any click the page already says which model answers.
    assert "version **1**" in all_text(at) and "`@champion`" in all_text(at)


def test_predict_shows_class_probabilities_and_the_version_and_logs_it(app_home):
    at = fill_form(open_app(), GOOD_ROW)
    click_predict(at)
    cls, probabilities = expected(GOOD_ROW)
    assert texts(at, "subheader") == [f"Predicted species: {cls}"]
    text = all_text(at)
    assert f"Probability of **{cls}**: {probabilities[cls]:.1%}" in text
    assert "Model **penguins-classifier** · version **1** · `@champion`" in text
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1  # the probability bar chart
    rows = logged("streamlit-predict")
    assert len(rows) == 1
    assert rows.iloc[0]["model_version"] == "1" and rows.iloc[0]["prediction"] == cls
    assert rows.iloc[0]["bill_length_mm"] == GOOD_ROW["bill_length_mm"]


def test_predict_optional_fields_may_be_left_empty(app_home):
    row = dict(GOOD_ROW, bill_length_mm=None, sex=None)
    at = fill_form(open_app(), row)
    click_predict(at)
    cls, _ = expected(row)
    assert texts(at, "subheader") == [f"Predicted species: {cls}"]
    entry = logged("streamlit-predict").iloc[0]
    assert pd.isna(entry["bill_length_mm"]) and entry["sex"] is None


def test_predict_never_sends_a_value_outside_the_spec_range(app_home):
    # The number inputs carry the spec's range: Streamlit refuses a value outside it (a crafted
    # widget message included) and keeps the field's default, so the model never sees it.
    at = open_app()
    default_year = at.number_input(key="predict.year").value
    fill_form(at, dict(GOOD_ROW, year=2099))
    click_predict(at)
    assert not texts(at, "error")
    entry = logged("streamlit-predict").iloc[0]
    assert entry["year"] == default_year != 2099


# A PostgreSQL prediction log nobody listens on: connecting is refused at once.
DOWN_LOG = "postgresql://mlstack:hunter2@127.0.0.1:9/predictions"  # pragma: allowlist secret


def test_predict_with_the_prediction_log_down_shows_the_prediction_and_warns(app_home, monkeypatch):
    monkeypatch.setenv("MLSTACK_PREDICTION_LOG_URL", DOWN_LOG)
    at = click_predict(fill_form(open_app(), GOOD_ROW))
    cls, _ = expected(GOOD_ROW)
    assert texts(at, "subheader") == [f"Predicted species: {cls}"]
    [warning] = texts(at, "warning")
    assert warning.startswith("The prediction could not be written to the prediction log")
    assert "hunter2" not in warning
    assert "logged to the prediction log as" not in all_text(at).replace(warning, "")


def test_promotion_is_served_without_a_restart(app_home, trained_home):
    import mlflow

    from mlstack import tracking

    at = fill_form(open_app(), GOOD_ROW)
    click_predict(at)
    assert "version **1**" in all_text(at)

    # The gate (or a person) registers version 2 and moves @champion while the app runs.
    settings = load_settings()
    client = tracking.configure(settings)
    version = mlflow.register_model(trained_home[1]["train"]["model_uri"], "penguins-classifier").version
    assert str(version) == "2"
    client.set_registered_model_alias("penguins-classifier", "champion", "2")

    at.run()  # same process, same cached ModelServer: the alias is re-resolved (refresh 0 s)
    click_predict(at)
    assert "Model **penguins-classifier** · version **2** · `@champion`" in all_text(at)
    assert logged("streamlit-predict")["model_version"].tolist() == ["1", "2"]

    at.switch_page("pages/models.py").run()
    assert_no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"@champion": "v2", "@challenger": "none", "registered versions": "2"}
    assert frame_by_key(at, "models.versions")["version"].tolist() == [2, 1]


def test_no_champion_says_so_and_how_to_train_one(empty_home):
    for page in (None, "batch"):
        at = open_app(page)
        [info] = texts(at, "info")
        assert "No champion model yet" in info and "mlstack run" in info and "make demo" in info
        assert not at.number_input and not at.file_uploader
    at = open_app("models")
    [info] = texts(at, "info")
    assert "No registered versions of **penguins-classifier** yet" in info
    at = open_app("monitoring")
    assert any("No predictions logged yet" in i for i in texts(at, "info"))


# --------------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------------


def upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    at.file_uploader(key="batch.file").set_value((name, data, mime)).run()
    assert_no_exception(at)
    return at


def score(at: AppTest) -> AppTest:
    at.button(key="batch.score").click().run()
    assert_no_exception(at)
    return at


# st.dataframe keeps its key only with selections on: tables are told apart by a column of theirs.
TABLES = {
    "batch.invalid": "reasons",
    "batch.scored": "prediction",
    "models.versions": "aliases",
    "models.gate": "verdict",
    "monitoring.by_source": "model_version",
    "monitoring.drift_columns": "severity",
}


def find_frame(at: AppTest, table: str) -> pd.DataFrame | None:
    column = TABLES[table]
    found = [d.value for d in at.dataframe if column in d.value.columns]
    if table == "monitoring.by_source":
        found = [f for f in found if "at" not in f.columns]  # not the "latest predictions" table
    assert len(found) <= 1, f"{len(found)} tables with a {column!r} column"
    return found[0] if found else None


def frame_by_key(at: AppTest, table: str) -> pd.DataFrame:
    frame = find_frame(at, table)
    assert frame is not None, f"no {table} table: {[list(d.value.columns) for d in at.dataframe]}"
    return frame


MIXED = [
    GOOD_ROW,
    dict(GOOD_ROW, island="Atlantis"),  # row 2: unknown category
    dict(GOOD_ROW, island="Dream", bill_length_mm=39.0, sex=None),
    dict(GOOD_ROW, body_mass_g="heavy"),  # row 4: not a number
    dict(GOOD_ROW, year=None, flipper_length_mm=900),  # row 5: required missing + out of range
    dict(GOOD_ROW, island="Torgersen", bill_length_mm=None, body_mass_g=3400.0),
]


def test_batch_scores_valid_rows_and_lists_invalid_ones_with_reasons(app_home):
    at = upload(open_app("batch"), "mixed.csv", pd.DataFrame(MIXED).to_csv(index=False).encode(), "text/csv")
    assert "**mixed.csv**: 6 rows, 7 columns" in all_text(at)
    score(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"rows read": "6", "scored": "3", "invalid": "3"}

    invalid = frame_by_key(at, "batch.invalid")
    assert invalid["row"].tolist() == [2, 4, 5]
    reasons = dict(zip(invalid["row"], invalid["reasons"], strict=True))
    assert "field 'island': 'Atlantis' is not one of ['Biscoe', 'Dream', 'Torgersen']" in reasons[2]
    assert "field 'body_mass_g': 'heavy' is not a number" in reasons[4]
    assert "field 'year': a value is required" in reasons[5]
    assert "field 'flipper_length_mm'" in reasons[5] and "outside" in reasons[5]

    scored = frame_by_key(at, "batch.scored")
    assert scored.index.tolist() == [0, 2, 5]  # positions in the upload
    valid_rows = [MIXED[i] for i in (0, 2, 5)]
    server = ModelServer(load_settings(), SPEC)
    direct = server.predict(valid_rows)
    assert scored["prediction"].tolist() == direct.predictions
    for cls in SPEC.classes:
        assert scored[f"proba_{cls}"].round(6).tolist() == [round(p[cls], 6) for p in direct.probabilities]
    assert any(b.label == "Download predictions (CSV)" for b in at.get("download_button"))
    assert "version **1**" in all_text(at)

    rows = logged("streamlit-batch")
    assert len(rows) == 3 and set(rows["model_version"]) == {"1"}
    assert rows["prediction"].tolist() == direct.predictions


def test_batch_with_the_prediction_log_down_scores_and_says_what_was_not_logged(app_home, monkeypatch):
    monkeypatch.setenv("MLSTACK_PREDICTION_LOG_URL", DOWN_LOG)
    data = pd.DataFrame(MIXED).to_csv(index=False).encode()
    at = score(upload(open_app("batch"), "mixed.csv", data, "text/csv"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"rows read": "6", "scored": "3", "invalid": "3"}
    assert frame_by_key(at, "batch.scored")["prediction"].notna().all()
    [warning] = texts(at, "warning")
    assert warning.startswith("3 of 3 predictions could not be written to the prediction log")
    assert "Every scored row was logged" not in all_text(at)


def test_batch_accepts_parquet_and_keeps_the_target_column(app_home):
    frame = pd.DataFrame(
        [dict(GOOD_ROW, species="Gentoo"), dict(GOOD_ROW, island="Dream", species="Chinstrap")]
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    at = score(upload(open_app("batch"), "two.parquet", buffer.getvalue(), "application/octet-stream"))
    scored = frame_by_key(at, "batch.scored")
    assert scored["species"].tolist() == ["Gentoo", "Chinstrap"]
    assert scored["prediction"].notna().all()
    assert find_frame(at, "batch.invalid") is None


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("extra.csv", pd.DataFrame([dict(GOOD_ROW, colour="red")]).to_csv(index=False).encode(), "colour"),
        (
            "noyear.csv",
            pd.DataFrame([{k: v for k, v in GOOD_ROW.items() if k != "year"}]).to_csv(index=False).encode(),
            "absent field(s) 'year'",
        ),
        ("empty.csv", b"", "the file is empty"),
        ("broken.parquet", b"PAR1 not really", "cannot be read"),
    ],
)
def test_batch_explains_a_file_that_does_not_fit(app_home, name, data, message):
    at = upload(open_app("batch"), name, data, "text/csv")
    if not texts(at, "error"):
        score(at)
    [error] = texts(at, "error")
    assert message in error
    assert logged().empty


def test_batch_progress_on_a_large_file(app_home):
    from mlstack.data.synthetic import generate

    frame = generate(120_000, 7, SPEC)[SPEC.feature_names]
    at = upload(open_app("batch"), "large.csv", frame.to_csv(index=False).encode(), "text/csv")
    score(at)
    [progress] = at.get("progress")
    assert progress.proto.value == 100 and "rows scored" in progress.proto.text
    valid, problems = check_rows(frame, SPEC)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"rows read": "120,000", "scored": f"{len(valid):,}", "invalid": f"{len(problems):,}"}
    assert len(logged("streamlit-batch")) == len(valid)  # logged chunk by chunk


# --------------------------------------------------------------------------------------------
# Models and Monitoring
# --------------------------------------------------------------------------------------------


def test_models_page_lists_versions_aliases_lineage_and_gate(app_home, trained_home):
    at = open_app("models")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"@champion": "v1", "@challenger": "none", "registered versions": "1"}
    table = frame_by_key(at, "models.versions")
    row = table.iloc[0]
    summary = trained_home[1]
    assert row["version"] == 1 and row["aliases"] == "@champion"
    assert row["dataset_id"] == summary["ingest"]["dataset_id"]
    assert row["gate"] == "promoted" and row["f1_macro"] == pytest.approx(summary["metrics"]["f1_macro"])
    assert row["dag_run"] == "cli" and row["run_id"] == summary["train"]["run_id"]
    gate = frame_by_key(at, "models.gate")
    assert gate.iloc[0]["verdict"] == "promoted" and "meets the floor" in gate.iloc[0]["reason"]
    assert len(at.get("vega_lite_chart")) == 1  # f1_macro across versions
    assert "f1_macro across versions" in texts(at, "subheader")


def test_monitoring_shows_volume_and_says_when_there_is_no_drift_report(app_home):
    at = fill_form(open_app(), GOOD_ROW)
    click_predict(at)
    click_predict(at)
    at.switch_page("pages/monitoring.py").run()
    assert_no_exception(at)
    assert any("No drift report yet" in i for i in texts(at, "info"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["predictions logged"] == "2"
    by_source = frame_by_key(at, "monitoring.by_source")
    assert by_source.to_dict("records") == [
        {"source": "streamlit-predict", "model_version": "1", "predictions": 2}
    ]


def test_monitoring_shows_the_latest_drift_report(app_home, tmp_path):
    from mlstack import lifecycle
    from mlstack.data.synthetic import generate, parse_drift
    from mlstack.drift.check import check_drift

    batch = tmp_path / "drifted.csv"
    generate(3000, 11, SPEC, drift=parse_drift(["bill_length_mm:shift=3", "body_mass_g:shift=3"])).to_csv(
        batch, index=False
    )
    ctx = lifecycle.context(load_settings(), "penguins", trusted_caller=True)  # as the local CLI reads
    result = check_drift(ctx, str(batch))
    at = open_app("monitoring")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["verdict"] == ("drift detected" if result.drift_detected else "no drift")
    assert metrics["drifted columns"] == f"{result.drifted_count}/{result.columns_checked}"
    assert metrics["champion checked"] == "v1"
    columns = frame_by_key(at, "monitoring.drift_columns")
    assert set(columns["column"]) == set(SPEC.feature_names)
    drifted = set(columns.loc[columns["drifted"], "column"])
    assert {"bill_length_mm", "body_mass_g"} <= drifted
    # tiny p-values and the huge severities they give read as numbers, the severity in view
    assert list(columns.columns[:5]) == ["column", "drifted", "score", "threshold", "severity"]
    assert set(columns["score"]) == {f"{c.score:.4g}" for c in result.columns}
    assert all(len(text) <= 10 for text in [*columns["score"], *columns["severity"]])
    assert any(b.label == "Download the Evidently report (HTML)" for b in at.get("download_button"))


def test_monitoring_and_models_say_there_is_no_champion_and_how_to_train_one(app_home):
    # given a registry whose only version lost @champion
    from mlstack import tracking
    from mlstack.config import load_settings

    settings = load_settings()
    name = tracking.model_name(settings, SPEC)
    tracking.configure(settings).delete_registered_model_alias(name, "champion")
    for page in ("monitoring", "models"):
        at = open_app(page)
        assert_no_exception(at)
        hints = [i for i in texts(at, "info") if "champion" in i.lower()]
        assert hints, (page, texts(at, "info"))
        assert "`training_pipeline` DAG" in hints[0] and "make demo" in hints[0]
