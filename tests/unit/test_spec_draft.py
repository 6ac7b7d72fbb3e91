"""`mlstack spec init`: a spec proposed from a table loads, and the table passes its validation."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from mlstack.data import sources
from mlstack.data.spec import DatasetSpec, load_spec
from mlstack.data.spec_draft import default_name, draft_spec
from mlstack.data.validation import check_batch
from mlstack.errors import InputError


def builtin(name: str) -> pd.DataFrame:
    return sources.parse(sources.fetch(f"builtin:{name}"))


def test_penguins_draft_matches_the_bundled_spec_where_the_data_can_tell(tmp_path):
    frame = builtin("penguins")
    path = tmp_path / "penguins.csv"
    frame.to_csv(path, index=False)
    reread = sources.parse(sources.fetch(str(path)))  # what `spec init` and `ingest` read
    draft = draft_spec(reread, str(path), name="penguins", target="species")
    spec = DatasetSpec.model_validate(draft.spec)
    bundled = load_spec("penguins")
    assert spec.task == "classification" and spec.classes == bundled.classes
    assert spec.feature_names == bundled.feature_names
    for name, feature in spec.features.items():
        assert feature.nullable == bundled.features[name].nullable, name
        assert feature.categories == bundled.features[name].categories, name
    assert spec.features["year"].type == "integer"
    assert spec.features["body_mass_g"].type == "float"  # whole numbers with empty cells: float64
    assert check_batch(reread, spec).passed


def test_regression_target_gets_a_range_and_the_last_column_by_default():
    frame = builtin("diabetes")
    draft = draft_spec(frame, "diabetes.csv", name="diabetes")
    spec = DatasetSpec.model_validate(draft.spec)
    assert (spec.task, spec.target) == ("regression", "target")
    assert spec.target_range is not None
    assert spec.target_range.min < frame["target"].min() and spec.target_range.max > frame["target"].max()
    assert any("last column" in n for n in draft.notes) and any("gate" in n for n in draft.notes)
    assert check_batch(frame, spec).passed


def test_ids_free_text_and_class_codes_are_said_not_guessed():
    frame = pd.DataFrame(
        {
            "id": range(100),
            "comment": [f"note {i}" for i in range(100)],
            "size": [float(i % 7) for i in range(100)],
            "flag": [i % 2 == 0 for i in range(100)],
            "grade": [i % 3 for i in range(100)],
        }
    )
    draft = draft_spec(frame, "x.csv", name="x")
    assert set(draft.spec["features"]) == {"size", "flag"}
    assert draft.spec["features"]["flag"]["type"] == "boolean"
    assert draft.spec["classes"] == ["0", "1", "2"]
    said = " ".join(draft.notes)
    assert (
        "id: every value differs" in said and "comment: 100 distinct texts" in said and "class codes" in said
    )


def test_a_table_that_cannot_be_a_dataset_says_why():
    with pytest.raises(InputError, match="at least two columns"):
        draft_spec(pd.DataFrame({"a": [1, 2]}), "one.csv", name="one")
    with pytest.raises(InputError, match="--target 'nope': not a column"):
        draft_spec(builtin("penguins"), "p.csv", name="p", target="nope")


def test_default_name():
    assert default_name("data/Wine Quality.csv") == "wine-quality"
    assert default_name("s3://bucket/batches/red_wine.parquet") == "red-wine"


def test_cli_writes_a_spec_that_loads_and_keeps_an_existing_one(tmp_path, monkeypatch):
    from mlstack.cli import app

    monkeypatch.chdir(tmp_path)
    builtin("penguins").to_csv("Penguins Data.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["spec", "init", "Penguins Data.csv", "--target", "species"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "penguins-data.yaml"
    assert written.read_text().startswith("# Dataset spec proposed by `mlstack spec init`")
    assert load_spec(str(written)).model_name == "penguins-data-classifier"
    assert "review: gate: f1_macro" in result.stderr
    assert yaml.safe_load(written.read_text())["source"] == "Penguins Data.csv"
    again = runner.invoke(app, ["spec", "init", "Penguins Data.csv", "--target", "species"])
    assert again.exit_code == 2 and "exists: kept" in again.output


def test_the_spec_reference_documents_every_field_estimator_and_metric():
    from pathlib import Path

    from mlstack.data.spec import HIGHER_IS_BETTER, FeatureSpec
    from mlstack.model.estimator import _estimators

    doc = (Path(__file__).resolve().parents[2] / "docs" / "dataset-spec.md").read_text()
    fields = [*DatasetSpec.model_fields, *FeatureSpec.model_fields, "metric", "floor"]
    assert [f for f in fields if f"`{f}`" not in doc] == []
    assert [e for e in _estimators() if f"`{e}`" not in doc] == []
    assert [m for m in [*HIGHER_IS_BETTER, "log_loss", "rmse", "mae"] if f"`{m}`" not in doc] == []
    for kind in ("float", "integer", "categorical", "boolean"):
        assert f"`{kind}`" in doc


def test_a_column_named_like_personal_data_is_left_out_of_a_draft():
    frame = builtin("penguins").assign(
        email=lambda f: [f"p{i}@example.org" for i in range(len(f))], phone=1.0
    )
    frame = frame[[*frame.columns.drop("species"), "species"]]
    draft = draft_spec(frame, "penguins.csv", name="p", target="species")
    assert "email" not in draft.spec["features"] and "phone" not in draft.spec["features"]
    assert any(n.startswith("phone: looks like personal data") for n in draft.notes)
