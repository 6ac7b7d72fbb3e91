"""The gate's rule without MLflow: every branch of `gate.decide()`, both metric directions."""

from __future__ import annotations

import pytest

from mlstack.data.spec import load_spec
from mlstack.registry import gate
from mlstack.registry.gate import GateRule

from .conftest import make_settings

ACCURACY = GateRule(metric="accuracy", higher_is_better=True, floor=0.8, min_improvement=0.01)
RMSE = GateRule(metric="rmse", higher_is_better=False, floor=10.0, min_improvement=0.5)
AT = "2026-01-01T00:00:00+00:00"


def decide(rule: GateRule, value: float, champion: str | None = None, champion_value: float | None = None):
    return gate.decide(
        rule,
        name="m",
        version="3",
        challenger_value=value,
        champion_version=champion,
        champion_value=champion_value,
        holdout_rows=50,
        decided_at=AT,
    )


def test_no_champion_and_above_floor_is_promoted():
    decision = decide(ACCURACY, 0.9)
    assert decision.promoted and decision.verdict == "promoted"
    assert decision.reason == "no champion yet and accuracy=0.9000 meets the floor 0.8"
    assert decision.champion_version is None and decision.champion_value is None and decision.delta is None
    assert (decision.floor, decision.min_improvement, decision.decided_at) == (0.8, 0.01, AT)
    assert not gate.needs_champion_score(ACCURACY, "3", 0.9, None)


def test_exactly_on_the_floor_meets_it():
    assert decide(ACCURACY, 0.8).promoted
    assert decide(RMSE, 10.0).promoted


@pytest.mark.parametrize(("rule", "value", "sense"), [(ACCURACY, 0.79, "higher"), (RMSE, 10.5, "lower")])
def test_under_the_floor_is_refused_without_scoring_the_champion(rule: GateRule, value: float, sense: str):
    decision = decide(rule, value, champion="2", champion_value=None)
    assert decision.verdict == "refused" and not decision.promoted
    assert f"does not meet the floor {rule.floor} ({sense} is better)" in decision.reason
    assert decision.champion_version == "2" and decision.champion_value is None and decision.delta is None
    assert not gate.needs_champion_score(rule, "3", value, "2")


def test_already_the_champion_is_refused():
    decision = decide(ACCURACY, 0.95, champion="3")
    assert decision.verdict == "refused"
    assert decision.reason == "version 3 is already the champion"
    assert not gate.needs_champion_score(ACCURACY, "3", 0.95, "3")


def test_enough_improvement_is_promoted():
    assert gate.needs_champion_score(ACCURACY, "3", 0.95, "2")
    decision = decide(ACCURACY, 0.95, champion="2", champion_value=0.90)
    assert decision.promoted
    assert decision.delta == pytest.approx(0.05)
    assert decision.reason == (
        "accuracy 0.9500 vs champion v2 0.9000 on the same 50 holdout rows: improvement +0.0500 >= 0.01"
    )


@pytest.mark.parametrize(("value", "champion_value"), [(0.905, 0.90), (0.90, 0.90), (0.85, 0.90)])
def test_not_enough_improvement_is_refused(value: float, champion_value: float):
    decision = decide(ACCURACY, value, champion="2", champion_value=champion_value)
    assert decision.verdict == "refused"
    assert decision.delta == pytest.approx(value - champion_value)
    assert decision.reason.endswith("is not positive and >= 0.01")
    assert decision.champion_value == champion_value


def test_equal_scores_are_refused_even_without_a_minimum_improvement():
    rule = GateRule(metric="accuracy", higher_is_better=True, floor=0.0)
    decision = decide(rule, 0.9, champion="2", champion_value=0.9)
    assert decision.verdict == "refused" and decision.delta == 0
    assert "improvement +0.0000 is not positive and >= 0.0" in decision.reason


def test_lower_is_better_metric_counts_a_drop_as_improvement():
    better = decide(RMSE, 7.0, champion="2", champion_value=8.0)
    assert better.promoted and better.delta == pytest.approx(1.0)
    worse = decide(RMSE, 8.0, champion="2", champion_value=7.0)
    assert worse.verdict == "refused" and worse.delta == pytest.approx(-1.0)
    small = decide(RMSE, 7.8, champion="2", champion_value=8.0)
    assert small.verdict == "refused" and small.delta == pytest.approx(0.2)


def test_comparison_without_the_champion_score_is_a_bug_not_a_verdict():
    with pytest.raises(ValueError, match="champion v2 must be scored"):
        decide(ACCURACY, 0.95, champion="2", champion_value=None)


def test_lost_race_refuses_and_names_both_champions():
    won = decide(ACCURACY, 0.95, champion="2", champion_value=0.90)
    lost = gate.lost_race(won, "4", decided_at="later")
    assert lost.verdict == "refused" and lost.decided_at == "later"
    assert lost.reason.startswith("lost a race: the champion moved from v2 to v4 while this gate")
    assert f"({won.reason})" in lost.reason and lost.reason.endswith("compare against v4")
    assert (lost.delta, lost.champion_value) == (won.delta, won.champion_value)
    first = gate.lost_race(decide(ACCURACY, 0.9), None, decided_at="later")
    assert "from no champion to no champion" in first.reason


def test_decision_tags_use_empty_strings_for_missing_values():
    tags = gate.as_tags(decide(ACCURACY, 0.9))
    assert tags == {
        "gate.verdict": "promoted",
        "gate.reason": "no champion yet and accuracy=0.9000 meets the floor 0.8",
        "gate.metric": "accuracy",
        "gate.challenger_value": "0.9",
        "gate.champion_version": "",
        "gate.champion_value": "",
        "gate.delta": "",
        "gate.floor": "0.8",
        "gate.min_improvement": "0.01",
        "gate.decided_at": AT,
    }
    compared = gate.as_tags(decide(ACCURACY, 0.95, champion="2", champion_value=0.9))
    assert compared["gate.champion_version"] == "2" and compared["gate.champion_value"] == "0.9"


def test_rule_for_takes_settings_over_the_spec(tmp_path):
    spec = load_spec("penguins")
    default = gate.rule_for(make_settings(tmp_path), spec)
    assert (default.metric, default.floor, default.min_improvement) == (
        spec.gate.metric,
        spec.gate.floor,
        0.0,
    )
    assert default.higher_is_better == spec.higher_is_better(spec.gate.metric)
    tuned = gate.rule_for(
        make_settings(tmp_path, gate_metric="log_loss", gate_floor=0.5, gate_min_improvement=0.02), spec
    )
    assert tuned == GateRule(metric="log_loss", higher_is_better=False, floor=0.5, min_improvement=0.02)


def test_recorded_tags_give_the_same_decision_back():
    for decision in (decide(ACCURACY, 0.9), decide(ACCURACY, 0.95, champion="2", champion_value=0.9)):
        tags = gate.as_tags(decision)
        assert gate.from_tags("m", "3", tags) == decision
    assert gate.from_tags("m", "3", {"gate.reason": "half written"}) is None


def test_a_champion_using_a_removed_feature_is_a_recorded_refusal_not_a_crash():
    kwargs = {"champion_missing": ("flipper_length_mm",)}
    assert not gate.needs_champion_score(ACCURACY, "3", 0.95, "2", **kwargs)
    decision = gate.decide(
        ACCURACY,
        name="m",
        version="3",
        challenger_value=0.95,
        champion_version="2",
        champion_value=None,
        holdout_rows=50,
        decided_at=AT,
        **kwargs,
    )
    assert decision.verdict == "refused"
    assert decision.reason.startswith("schema change: champion v2 uses ['flipper_length_mm']")
    assert "mlstack rollback --to 3" in decision.reason
    # the floor still comes first: a weak model is refused for that, not for the schema
    weak = gate.decide(
        ACCURACY,
        name="m",
        version="3",
        challenger_value=0.5,
        champion_version="2",
        champion_value=None,
        holdout_rows=50,
        decided_at=AT,
        **kwargs,
    )
    assert "floor" in weak.reason


def test_lost_lock_refuses_and_says_why():
    lost = gate.lost_lock(
        decide(ACCURACY, 0.95, champion="2", champion_value=0.9), "fence 4 took over", "later"
    )
    assert lost.verdict == "refused" and "lost the promotion lock" in lost.reason
    assert "fence 4 took over" in lost.reason and lost.decided_at == "later"
