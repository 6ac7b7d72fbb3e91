import pytest

from mlstack.data.spec import bundled_spec_names, load_spec
from mlstack.errors import ConfigError


def test_bundled_specs_cover_both_tasks():
    assert {"penguins", "diabetes"} <= set(bundled_spec_names())
    assert load_spec("penguins").task == "classification"
    assert load_spec("diabetes").task == "regression"


def test_penguins_spec_shape():
    spec = load_spec("penguins")
    assert spec.target == "species"
    assert set(spec.categorical_features) == {"island", "sex"}
    assert spec.features["sex"].nullable
    assert spec.higher_is_better(spec.gate.metric)


def test_unknown_spec_lists_choices():
    with pytest.raises(ConfigError, match="penguins"):
        load_spec("no-such-dataset")


def test_spec_from_yaml_file_and_its_errors(tmp_path):
    good = tmp_path / "mini.yaml"
    good.write_text(
        "name: mini\ntask: regression\ntarget: y\nsource: data.csv\nmodel_name: m\n"
        "estimator: ridge\ngate: {metric: rmse, floor: 10}\nfeatures:\n  x: {type: float}\n"
    )
    assert load_spec(str(good)).feature_names == ["x"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ntask: classification\ntarget: y\nsource: s\nmodel_name: m\n"
        "estimator: e\ngate: {metric: f1_macro, floor: 0.5}\nfeatures:\n  c: {type: categorical}\n"
    )
    with pytest.raises(ConfigError, match="categories"):
        load_spec(str(bad))


def test_slices_must_be_categorical_features(tmp_path):
    assert load_spec("penguins").slices == ["island"]
    head = (
        "name: s\ntask: regression\ntarget: y\nsource: data.csv\nmodel_name: m\nestimator: ridge\n"
        "gate: {metric: rmse, floor: 10}\nfeatures:\n  x: {type: float}\n"
        "  c: {type: categorical, categories: [a, b]}\n"
    )
    good = tmp_path / "good.yaml"
    good.write_text(head + "slices: [c]\n")
    assert load_spec(str(good)).slices == ["c"]
    for name, slices in (("numeric", "[x]"), ("unknown", "[nope]")):
        bad = tmp_path / f"{name}.yaml"
        bad.write_text(head + f"slices: {slices}\n")
        with pytest.raises(ConfigError, match=r"slice '.*' is not a categorical or boolean feature"):
            load_spec(str(bad))
