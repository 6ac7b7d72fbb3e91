"""The promotion gate's rule, pure: scores in, a verdict and its reason out. No MLflow here.

Both models are scored on the same evaluation rows: the new batch's holdout (part `new`) plus
a pinned set (part `pinned`, by default the holdouts of the training window's other snapshots;
see `data.window`). A challenger is promoted when it is not already the champion and:
1. its primary metric on all evaluation rows meets the floor;
2. there is no champion, or it beats the champion on all evaluation rows by a strictly
   positive improvement of at least `min_improvement`;
3. it regresses by more than `tolerance` (a share of the champion's value there) on no part
   and on no value of a slice the dataset spec declares (slices with fewer than
   `min_slice_rows` rows are shown, not judged).
Every comparison is recorded with the decision. `promotion.promote()` gathers the scores and
applies the verdict to the registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec

TAG_GROUP = "gate."  # recorded decisions are tags mlstack.gate.<field> on the version
VERDICT_TAG = TAG_GROUP + "verdict"  # a version holding it holds its whole decision (promotion.record)


@dataclass(frozen=True)
class GateRule:
    """What the gate compares: the metric, its direction, the floor and the least improvement."""

    metric: str
    higher_is_better: bool
    floor: float
    min_improvement: float = 0.0
    tolerance: float = 0.0  # share of the champion's value a part or slice may lose
    min_slice_rows: int = 1

    @property
    def sense(self) -> str:
        """The metric's direction in words."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def meets_floor(self, value: float) -> bool:
        """True when `value` is on the right side of the floor (equal counts)."""
        return value >= self.floor if self.higher_is_better else value <= self.floor

    def improvement(self, challenger: float, champion: float) -> float:
        """How much better the challenger is (negative when worse), whatever the direction."""
        return (challenger - champion) if self.higher_is_better else (champion - challenger)

    def regressed(self, delta: float, champion: float) -> bool:
        """True when a loss of `-delta` exceeds the tolerance (a share of the champion's value)."""
        return delta < -self.tolerance * abs(champion)


def rule_for(settings: Settings, spec: DatasetSpec) -> GateRule:
    """The gate rule in force: settings (MLSTACK_GATE_*) over the dataset spec's defaults."""
    metric = settings.gate_metric or spec.gate.metric
    return GateRule(
        metric=metric,
        higher_is_better=spec.higher_is_better(metric),
        floor=settings.gate_floor if settings.gate_floor is not None else spec.gate.floor,
        min_improvement=settings.gate_min_improvement,
        tolerance=settings.gate_tolerance,
        min_slice_rows=settings.gate_min_slice_rows,
    )


@dataclass(frozen=True)
class Evidence:
    """Both models' metric on one group of evaluation rows: `part:new`, `part:pinned`,
    `slice:island=Biscoe` (the overall score is `challenger_value`/`champion_value`)."""

    group: str
    rows: int
    challenger: float
    champion: float


@dataclass(frozen=True)
class Comparison:
    """One recorded comparison: `outcome` is better | within tolerance | regressed | too few rows."""

    group: str  # "all", "part:new", "part:pinned", "slice:<feature>=<value>"
    rows: int
    challenger: float
    champion: float
    delta: float  # improvement: positive = the challenger is better
    outcome: str


@dataclass(frozen=True)
class GateDecision:
    """One verdict of the gate on one model version, as recorded on that version."""

    name: str
    version: str
    verdict: str  # "promoted" | "refused"
    reason: str
    metric: str
    challenger_value: float
    champion_version: str | None
    champion_value: float | None
    delta: float | None
    floor: float
    min_improvement: float
    decided_at: str
    tolerance: float = 0.0
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)

    @property
    def promoted(self) -> bool:
        """True when the verdict moves `champion` to this version."""
        return self.verdict == "promoted"

    def to_dict(self) -> dict[str, Any]:
        """Every field, as the CLI, XCom and the lifecycle summary carry it."""
        return asdict(self)


def _verdict_before_comparison(
    rule: GateRule,
    version: str,
    challenger_value: float,
    champion_version: str | None,
    champion_missing: Sequence[str] = (),
) -> tuple[str, str] | None:
    """The verdict when it needs no champion score, else None."""
    if champion_version == version:
        return "refused", f"version {version} is already the champion"
    if not rule.meets_floor(challenger_value):
        return "refused", (
            f"{rule.metric}={challenger_value:.4f} does not meet the floor {rule.floor} ({rule.sense})"
        )
    if champion_version is None:
        return (
            "promoted",
            f"no champion yet and {rule.metric}={challenger_value:.4f} meets the floor {rule.floor}",
        )
    if champion_missing:
        return "refused", (
            f"schema change: champion v{champion_version} uses {sorted(champion_missing)}, which the "
            f"dataset spec no longer has, so the two cannot be scored on the same holdout rows; "
            f"to switch to the new schema, make v{version} the champion by hand "
            f"(mlstack rollback --to {version} --reason ...)"
        )
    return None


def needs_champion_score(
    rule: GateRule,
    version: str,
    challenger_value: float,
    champion_version: str | None,
    champion_missing: Sequence[str] = (),
) -> bool:
    """True when `decide` compares against the champion, so its score must be measured first."""
    early = _verdict_before_comparison(rule, version, challenger_value, champion_version, champion_missing)
    return early is None


def compare(rule: GateRule, evidence: Sequence[Evidence]) -> tuple[Comparison, ...]:
    """Each part and slice judged against the tolerance (slices need `min_slice_rows` rows)."""
    out = []
    for item in evidence:
        delta = rule.improvement(item.challenger, item.champion)
        if item.group.startswith("slice:") and item.rows < rule.min_slice_rows:
            outcome = "too few rows"
        elif rule.regressed(delta, item.champion):
            outcome = "regressed"
        else:
            outcome = "better" if delta > 0 else "within tolerance"
        out.append(
            Comparison(item.group, item.rows, _r(item.challenger), _r(item.champion), _r(delta), outcome)
        )
    return tuple(out)


def _r(value: float) -> float:
    return round(float(value), 6)


def _rows_text(holdout_rows: int, comparisons: Sequence[Comparison]) -> str:
    parts = [c for c in comparisons if c.group.startswith("part:")]
    if not parts:
        return f"{holdout_rows} holdout rows"
    listed = ", ".join(f"{c.group.removeprefix('part:')} {c.rows}" for c in parts)
    return f"{holdout_rows} evaluation rows ({listed})"


def decide(
    rule: GateRule,
    *,
    name: str,
    version: str,
    challenger_value: float,
    champion_version: str | None,
    champion_value: float | None,
    holdout_rows: int,
    decided_at: str,
    champion_missing: Sequence[str] = (),
    evidence: Sequence[Evidence] = (),
) -> GateDecision:
    """The gate's verdict on `version` of model `name`, with a reason a person can check.

    `challenger_value`/`champion_value` are the two models' scores on the same `holdout_rows`
    evaluation rows; `evidence` holds their scores on each part and slice of those rows. The
    champion's scores are required only when `needs_champion_score` says so, and ignored
    otherwise. `champion_missing` names the champion's input features the rows no longer have
    (a schema change): a refusal.
    """
    early = _verdict_before_comparison(rule, version, challenger_value, champion_version, champion_missing)
    delta: float | None = None
    comparisons: tuple[Comparison, ...] = ()
    if early is not None:
        (verdict, reason), champion_value = early, None
    else:
        if champion_value is None:
            raise ValueError(f"the champion v{champion_version} must be scored to decide on v{version}")
        delta = rule.improvement(challenger_value, champion_value)
        comparisons = compare(rule, evidence)
        better = delta > 0 and delta >= rule.min_improvement
        regressions = [c for c in comparisons if c.outcome == "regressed"]
        verdict = "promoted" if better and not regressions else "refused"
        outcome = f">= {rule.min_improvement}" if better else f"is not positive and >= {rule.min_improvement}"
        reason = (
            f"{rule.metric} {challenger_value:.4f} vs champion v{champion_version} {champion_value:.4f} "
            f"on the same {_rows_text(holdout_rows, comparisons)}: improvement {delta:+.4f} {outcome}"
        )
        if regressions:
            listed = "; ".join(
                f"{c.group} {c.challenger:.4f} vs {c.champion:.4f} ({c.delta:+.4f} on {c.rows} rows)"
                for c in regressions
            )
            reason += (
                f"; regresses beyond the tolerance ({rule.tolerance:.0%} of the champion's value) on {listed}"
            )
        elif comparisons:
            judged = sum(c.outcome != "too few rows" for c in comparisons)
            reason += (
                f"; no part or slice regresses beyond {rule.tolerance:.0%} of the champion's value "
                f"({judged} judged)"
            )
    return GateDecision(
        name=name,
        version=version,
        verdict=verdict,
        reason=reason,
        metric=rule.metric,
        challenger_value=challenger_value,
        champion_version=champion_version,
        champion_value=champion_value,
        delta=delta,
        floor=rule.floor,
        min_improvement=rule.min_improvement,
        decided_at=decided_at,
        tolerance=rule.tolerance,
        comparisons=comparisons,
    )


def _v(version: str | None) -> str:
    return f"v{version}" if version else "no champion"


def lost_race(decision: GateDecision, champion_now: str | None, decided_at: str) -> GateDecision:
    """A promotion turned into a refusal: the champion moved while the gate was deciding."""
    compared = decision.champion_version
    return replace(
        decision,
        verdict="refused",
        reason=(
            f"lost a race: the champion moved from {_v(compared)} to {_v(champion_now)} while "
            f"this gate was deciding ({decision.reason}); run the gate again to compare against "
            f"{_v(champion_now)}"
        ),
        decided_at=decided_at,
    )


def lost_lock(decision: GateDecision, why: str, decided_at: str) -> GateDecision:
    """A promotion turned into a refusal: the promotion lock was taken over before the alias moved."""
    return replace(
        decision,
        verdict="refused",
        reason=f"lost the promotion lock before moving the alias ({why}; {decision.reason}); run the gate again",
        decided_at=decided_at,
    )


_FLOATS = ("challenger_value", "champion_value", "delta", "floor", "min_improvement", "tolerance")
_MAX_COMPARISONS_TAG = 4000  # MLflow caps a version tag's value; the model card has every row


def as_tags(decision: GateDecision) -> dict[str, str]:
    """The decision as the version's tags (keys without the `mlstack.` prefix); None -> ""."""
    values = {
        "verdict": decision.verdict,
        "reason": decision.reason,
        "metric": decision.metric,
        "challenger_value": decision.challenger_value,
        "champion_version": decision.champion_version or "",
        "champion_value": "" if decision.champion_value is None else decision.champion_value,
        "delta": "" if decision.delta is None else decision.delta,
        "floor": decision.floor,
        "min_improvement": decision.min_improvement,
        "decided_at": decision.decided_at,
        "tolerance": decision.tolerance,
        "comparisons": _comparisons_tag(decision.comparisons),
    }
    return {TAG_GROUP + key: str(value) for key, value in values.items()}


def from_tags(name: str, version: str, tags: Mapping[str, str]) -> GateDecision | None:
    """The decision recorded by `as_tags` (keys without the `mlstack.` prefix); None if none is."""
    got = {k.removeprefix(TAG_GROUP): v for k, v in tags.items() if k.startswith(TAG_GROUP)}
    if got.get("verdict") not in ("promoted", "refused"):
        return None
    floats = {k: float(got[k]) if got.get(k) else None for k in _FLOATS}
    return GateDecision(
        name=name,
        version=version,
        verdict=got["verdict"],
        reason=got.get("reason", ""),
        metric=got.get("metric", ""),
        challenger_value=floats["challenger_value"] or 0.0,
        champion_version=got.get("champion_version") or None,
        champion_value=floats["champion_value"],
        delta=floats["delta"],
        floor=floats["floor"] or 0.0,
        min_improvement=floats["min_improvement"] or 0.0,
        decided_at=got.get("decided_at", ""),
        tolerance=floats["tolerance"] or 0.0,
        comparisons=tuple(Comparison(**c) for c in json.loads(got.get("comparisons") or "[]")),
    )


def _comparisons_tag(comparisons: Sequence[Comparison]) -> str:
    """JSON of the comparisons; when too long for a tag, the regressions and parts only."""
    text = json.dumps([asdict(c) for c in comparisons], separators=(",", ":"))
    if len(text) > _MAX_COMPARISONS_TAG:
        kept = [c for c in comparisons if c.outcome == "regressed" or not c.group.startswith("slice:")]
        text = json.dumps([asdict(c) for c in kept], separators=(",", ":"))
    return text
