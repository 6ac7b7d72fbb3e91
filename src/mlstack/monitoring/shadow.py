"""The challenger in shadow against the champion: how often they agree, how each does on labelled
live rows, and the opt-in promotion rule built on that.

The rule (`mlstack shadow-promote`, a dry run unless someone adds `--apply`): promote
`@challenger` when both models answered at least `min_rows` of the same labelled live rows
(MLSTACK_SHADOW_MIN_ROWS), the challenger meets the gate's floor on them and beats the champion on
them by more than the gate's least improvement. The move goes through the promotion lock and is
recorded like any other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.monitoring.prediction_log import engine_for, predictions


def agreement(settings: Settings, model_name: str | None = None) -> pd.DataFrame:
    """Per (champion version, challenger version): shadowed rows and the share the two agreed on."""
    engine = engine_for(settings.resolved_prediction_log_url)
    served, shadow = predictions.alias("served"), predictions.alias("shadow")
    query = sa.select(served.c.model_version, shadow.c.model_version, served.c.output, shadow.c.output).join(
        shadow,
        sa.and_(
            shadow.c.prediction_id == served.c.prediction_id,
            shadow.c.shadow.is_(True),
            sa.or_(served.c.shadow.is_(None), served.c.shadow.is_(False)),
        ),
    )
    if model_name:
        query = query.where(served.c.model_name == model_name)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    columns = ["champion_version", "challenger_version", "rows", "agreement"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(
        {
            "champion_version": [str(r[0]) for r in rows],
            "challenger_version": [str(r[1]) for r in rows],
            "agree": [r[2].get("prediction") == r[3].get("prediction") for r in rows],
        }
    )
    grouped = frame.groupby(["champion_version", "challenger_version"], sort=True)["agree"]
    out = grouped.agg(rows="size", agreement="mean").reset_index()
    return out[columns]


@dataclass(frozen=True)
class ShadowVerdict:
    """The shadow promotion rule applied once: both models on the same labelled live rows."""

    model: str
    champion: str | None
    challenger: str | None
    metric: str
    rows: int
    min_rows: int
    champion_value: float | None
    challenger_value: float | None
    promote: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def compare_on_labels(labelled: pd.DataFrame, champion: str, challenger: str) -> pd.DataFrame:
    """Labelled rows both answered: prediction_id, label, champion, challenger (their predictions)."""
    served = labelled[(~labelled["shadow"].astype(bool)) & (labelled["model_version"] == champion)]
    shadow = labelled[labelled["shadow"].astype(bool) & (labelled["model_version"] == challenger)]
    left = served[["prediction_id", "label", "prediction"]].rename(columns={"prediction": "champion"})
    right = shadow[["prediction_id", "prediction"]].rename(columns={"prediction": "challenger"})
    return left.merge(right, on="prediction_id").drop_duplicates("prediction_id")


def shadow_verdict(settings: Settings, spec: DatasetSpec, min_rows: int | None = None) -> ShadowVerdict:
    """Whether `@challenger` has earned promotion on labelled live rows (see module doc)."""
    from mlstack import tracking
    from mlstack.monitoring.feedback import labelled_predictions
    from mlstack.monitoring.live_quality import live_metric, metric_value
    from mlstack.registry import CHALLENGER
    from mlstack.registry.gate import rule_for
    from mlstack.registry.versions import champion_version
    from mlstack.serving.loader import resolve_alias

    rule = rule_for(settings, spec)
    metric = live_metric(spec, rule.metric)
    higher = spec.higher_is_better(metric)
    needed = settings.shadow_min_rows if min_rows is None else min_rows
    name = tracking.model_name(settings, spec)
    champion = champion_version(settings, name)
    try:
        challenger: str | None = resolve_alias(settings, name, CHALLENGER)
    except Exception:
        challenger = None

    def verdict(
        rows: int, champ: float | None, chall: float | None, promote: bool, why: str
    ) -> ShadowVerdict:
        return ShadowVerdict(name, champion, challenger, metric, rows, needed, champ, chall, promote, why)

    if champion is None or challenger is None or champion == challenger:
        return verdict(0, None, None, False, "no challenger other than the champion")
    both = compare_on_labels(labelled_predictions(settings, model_name=name), champion, challenger)
    if len(both) < needed:
        return verdict(
            len(both), None, None, False, f"{len(both)} labelled rows answered by both; need {needed}"
        )
    champ = metric_value(metric, both["label"], both["champion"])
    chall = metric_value(metric, both["label"], both["challenger"])
    gain = chall - champ if higher else champ - chall
    floor_ok = metric != rule.metric or (chall >= rule.floor if higher else chall <= rule.floor)
    if not floor_ok:
        why = f"challenger {metric}={chall:.4f} does not meet the floor {rule.floor}"
        return verdict(len(both), champ, chall, False, why)
    if gain <= settings.gate_min_improvement:
        why = f"challenger {metric}={chall:.4f} does not beat champion {champ:.4f} on {len(both)} live rows"
        return verdict(len(both), champ, chall, False, why)
    why = f"challenger {metric}={chall:.4f} beats champion {champ:.4f} on {len(both)} labelled live rows"
    return verdict(len(both), champ, chall, True, why)


def apply_shadow_verdict(settings: Settings, verdict: ShadowVerdict) -> bool:
    """Move `@champion` to the challenger under the promotion lock when the verdict says so and
    the champion has not moved since; True when it moved."""
    from mlstack import tracking
    from mlstack.registry.aliases import move_champion
    from mlstack.registry.lock import promotion_lock
    from mlstack.registry.versions import champion_version

    if not verdict.promote or verdict.challenger is None:
        return False
    client = tracking.configure(settings)
    with promotion_lock(client, verdict.model, ttl=settings.promotion_lock_ttl_seconds) as lock:
        if champion_version(settings, verdict.model) != verdict.champion:
            return False  # someone moved it meanwhile: the comparison no longer holds
        move_champion(
            client, verdict.model, verdict.challenger, verdict.champion, "shadow: " + verdict.reason, lock
        )
    return True
