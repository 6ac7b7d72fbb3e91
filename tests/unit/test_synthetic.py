import numpy as np
import pytest

from mlstack.data.spec import load_spec
from mlstack.data.synthetic import Drift, generate, parse_drift
from mlstack.data.validation import check_batch
from mlstack.errors import ConfigError


def test_seeded_and_in_schema():
    a = generate(2000, seed=7)
    b = generate(2000, seed=7)
    assert a.equals(b)
    assert not a.equals(generate(2000, seed=8))
    assert check_batch(a, load_spec("penguins")).passed


def test_any_size_and_regression_spec():
    frame = generate(50_000, seed=1, spec="diabetes")
    assert len(frame) == 50_000
    assert check_batch(frame, load_spec("diabetes")).passed


def test_shift_scale_and_mix_drift():
    base = generate(5000, seed=3)
    drifted = generate(
        5000,
        seed=3,
        drift={
            "bill_length_mm": Drift(shift=1.0),
            "body_mass_g": Drift(scale=0.3),
            "island": Drift(mix={"Torgersen": 1.0}),
        },
    )
    std = base["bill_length_mm"].std()
    assert drifted["bill_length_mm"].mean() - base["bill_length_mm"].mean() == pytest.approx(std, rel=0.15)
    assert drifted["body_mass_g"].std() < 0.5 * base["body_mass_g"].std()
    assert set(drifted["island"]) == {"Torgersen"}
    assert np.allclose(drifted["flipper_length_mm"].dropna(), base["flipper_length_mm"].dropna())


def test_parse_drift_and_errors():
    parsed = parse_drift(["bill_length_mm:shift=2", "island:mix=Biscoe:0.9,Dream:0.1"])
    assert parsed["bill_length_mm"].shift == 2
    assert parsed["island"].mix == {"Biscoe": 0.9, "Dream": 0.1}
    with pytest.raises(ConfigError, match="expected"):
        parse_drift(["bill_length_mm:tilt=2"])
    with pytest.raises(ConfigError, match="unknown feature"):
        generate(10, drift={"wingspan": Drift(shift=1)})
