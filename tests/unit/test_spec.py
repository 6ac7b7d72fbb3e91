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


def test_a_column_named_like_personal_data_is_refused_unless_allowed(tmp_path):
    """D4: a feature or target named like an identifier of a person (email, phone, first_name,
    ip_address...) does not enter a spec unless its owner lists it in allow_personal_data."""
    from mlstack.data.spec import looks_personal

    head = (
        "name: p\ntask: regression\ntarget: y\nsource: data.csv\nmodel_name: m\nestimator: ridge\n"
        "gate: {metric: rmse, floor: 10}\nfeatures:\n  x: {type: float}\n"
    )
    for column in ("email", "customer_email", "First Name", "ip_address", "zip_code", "name"):
        assert looks_personal(column), column
        bad = tmp_path / "bad.yaml"
        bad.write_text(head + f"  {column!r}: {{type: float}}\n")
        load_spec.cache_clear()
        with pytest.raises(ConfigError, match=r"look like personal data \(PII\)"):
            load_spec(str(bad))
    allowed = tmp_path / "allowed.yaml"
    allowed.write_text(head + "  phone: {type: float}\nallow_personal_data: [phone]\n")
    assert load_spec(str(allowed)).feature_names == ["x", "phone"]
    for name in bundled_spec_names():  # the bundled specs pass without any allowance
        assert load_spec(name).allow_personal_data == []
    assert not any(looks_personal(c) for c in ("species_name", "island", "bill_length_mm", "s1"))
