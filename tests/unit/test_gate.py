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
        "gate.tolerance": "0.0",
        "gate.comparisons": "[]",
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
    assert (default.tolerance, default.min_slice_rows) == (0.03, 20)
    tuned = gate.rule_for(
        make_settings(
            tmp_path,
            gate_metric="log_loss",
            gate_floor=0.5,
            gate_min_improvement=0.02,
            gate_tolerance=0.1,
            gate_min_slice_rows=5,
        ),
        spec,
    )
    assert tuned == GateRule(
        metric="log_loss",
        higher_is_better=False,
        floor=0.5,
        min_improvement=0.02,
        tolerance=0.1,
        min_slice_rows=5,
    )


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


# --- the evidence rule: parts (new batch, pinned set) and declared slices -----------------

JUDGED = GateRule(metric="accuracy", higher_is_better=True, floor=0.8, tolerance=0.05, min_slice_rows=20)
RMSE_JUDGED = GateRule(metric="rmse", higher_is_better=False, floor=80.0, tolerance=0.05, min_slice_rows=20)


def judged(rule: GateRule, value: float, champion_value: float, evidence: list[gate.Evidence]):
    return gate.decide(
        rule,
        name="m",
        version="3",
        challenger_value=value,
        champion_version="2",
        champion_value=champion_value,
        holdout_rows=200,
        decided_at=AT,
        evidence=evidence,
    )


def test_better_overall_and_no_regression_anywhere_is_promoted_with_every_comparison_shown():
    evidence = [
        gate.Evidence("part:new", 100, 0.95, 0.60),
        gate.Evidence("part:pinned", 100, 0.97, 0.98),  # -1%: within the 5% tolerance
        gate.Evidence("slice:island=Dream", 40, 0.96, 0.70),
    ]
    decision = judged(JUDGED, 0.96, 0.79, evidence)
    assert decision.promoted, decision.reason
    assert [(c.group, c.outcome) for c in decision.comparisons] == [
        ("part:new", "better"),
        ("part:pinned", "within tolerance"),
        ("slice:island=Dream", "better"),
    ]
    assert decision.comparisons[1].delta == pytest.approx(-0.01)
    assert "on the same 200 evaluation rows (new 100, pinned 100)" in decision.reason
    assert "no part or slice regresses beyond 5% of the champion's value (3 judged)" in decision.reason


def test_a_regression_on_the_pinned_part_refuses_a_challenger_better_overall():
    """A batch crafted to favour a model: it wins on the new batch and overall, loses the pinned set."""
    evidence = [gate.Evidence("part:new", 300, 0.99, 0.40), gate.Evidence("part:pinned", 86, 0.70, 0.99)]
    decision = judged(JUDGED, 0.92, 0.53, evidence)
    assert decision.verdict == "refused" and decision.delta > 0
    assert "regresses beyond the tolerance (5% of the champion's value) on part:pinned" in decision.reason
    assert "0.7000 vs 0.9900 (-0.2900 on 86 rows)" in decision.reason
    assert [c.outcome for c in decision.comparisons] == ["better", "regressed"]


def test_a_regression_on_a_declared_slice_refuses():
    evidence = [
        gate.Evidence("part:new", 100, 0.95, 0.90),
        gate.Evidence("slice:island=Torgersen", 30, 0.80, 0.95),
    ]
    decision = judged(JUDGED, 0.95, 0.90, evidence)
    assert decision.verdict == "refused"
    assert "slice:island=Torgersen" in decision.reason


def test_a_slice_with_too_few_rows_is_shown_not_judged():
    evidence = [gate.Evidence("slice:island=Torgersen", 19, 0.10, 0.95)]
    decision = judged(JUDGED, 0.95, 0.90, evidence)
    assert decision.promoted
    assert decision.comparisons[0].outcome == "too few rows"
    assert "(0 judged)" in decision.reason


def test_the_tolerance_is_a_share_of_the_champion_value_in_either_direction():
    # rmse 50 -> 52 is a 4% loss (within 5%), 50 -> 53 a 6% loss (regressed)
    within = judged(RMSE_JUDGED, 40.0, 45.0, [gate.Evidence("part:pinned", 80, 52.0, 50.0)])
    assert within.promoted and within.comparisons[0].outcome == "within tolerance"
    beyond = judged(RMSE_JUDGED, 40.0, 45.0, [gate.Evidence("part:pinned", 80, 53.0, 50.0)])
    assert beyond.verdict == "refused" and beyond.comparisons[0].outcome == "regressed"
    assert beyond.comparisons[0].delta == pytest.approx(-3.0)


def test_not_better_overall_is_refused_even_without_regressions():
    decision = judged(JUDGED, 0.90, 0.90, [gate.Evidence("part:new", 100, 0.90, 0.90)])
    assert decision.verdict == "refused"
    assert "is not positive" in decision.reason


def test_the_floor_applies_to_all_evaluation_rows_before_any_comparison():
    decision = judged(JUDGED, 0.70, 0.60, [gate.Evidence("part:new", 100, 0.99, 0.10)])
    assert decision.verdict == "refused" and "does not meet the floor" in decision.reason
    assert decision.comparisons == ()


def test_comparisons_survive_the_tags_and_stay_short():
    evidence = [gate.Evidence("part:new", 100, 0.95, 0.60), gate.Evidence("part:pinned", 86, 0.70, 0.99)]
    decision = judged(JUDGED, 0.9, 0.8, evidence)
    assert gate.from_tags("m", "3", gate.as_tags(decision)) == decision
    many = [gate.Evidence(f"slice:city=c{i:03d}", 50, 0.9, 0.9) for i in range(200)]
    crowded = judged(JUDGED, 0.9, 0.8, [*evidence, *many])
    tag = gate.as_tags(crowded)["gate.comparisons"]
    assert len(tag) <= 4000
    assert [c.group for c in gate.from_tags("m", "3", gate.as_tags(crowded)).comparisons] == [
        "part:new",
        "part:pinned",
    ]
