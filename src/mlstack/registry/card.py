"""A model card per version: data (the training window), metrics, slices, the gate's decision
and limitations, as a markdown artifact of the version's run and as the version's description.

`render()` is pure (facts in, markdown out); `publish()` gathers the facts from MLflow and
writes both. The promote step publishes it once the gate has decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.lineage import TAG_PREFIX
from mlstack.registry.gate import GateDecision

CARD_ARTIFACT = "model_card/model_card.md"
CARD_TAG = TAG_PREFIX + "model_card"
# The registry keeps a version's description in a 5000-character column.
DESCRIPTION_LIMIT = 4800


@dataclass(frozen=True)
class CardFacts:
    """What a card states, gathered from the run, the version and the gate's decision."""

    name: str
    version: str
    run_id: str
    spec: DatasetSpec
    estimator: str
    params: dict[str, str]
    metrics: dict[str, float]
    window: dict[str, Any] | None
    decision: GateDecision
    lineage: dict[str, str] = field(default_factory=dict)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def _data(facts: CardFacts) -> list[str]:
    window = facts.window
    if not window:
        return ["Trained on one snapshot, before training windows were recorded.", ""]
    lines = [
        f"Training window `{window['setting']}` (MLSTACK_TRAINING_WINDOW): "
        f"{len(window['snapshots'])} validated snapshot(s), new batch `{window['current']}`.",
        "",
        *_table(
            ["snapshot", "rows", "train rows", "holdout rows", "validated at"],
            [
                [s["dataset_id"], s["rows"], s["train_rows"], s["holdout_rows"], s["validated_at"]]
                for s in window["snapshots"]
            ],
        ),
        "",
        f"- training rows: {window['train_rows']} after dropping {window['duplicates_dropped']} "
        f"duplicate(s) and {window['overlap_dropped']} row(s) equal to an evaluation row",
        f"- evaluation rows: {window['new_rows']} from the new batch's holdout, "
        f"{window['pinned_rows']} pinned (holdouts of {', '.join(window['pinned']) or 'no other snapshot'})",
        "",
    ]
    return lines


def _metrics(facts: CardFacts) -> list[str]:
    overall = {k: v for k, v in facts.metrics.items() if "." not in k}
    parts = sorted(k for k in facts.metrics if k.startswith("part."))
    lines = [*_table(["metric", "all evaluation rows"], [[k, v] for k, v in sorted(overall.items())]), ""]
    if parts:
        lines += [*_table(["metric per part", "value"], [[k, facts.metrics[k]] for k in parts]), ""]
    return lines


def _slices(facts: CardFacts) -> list[str]:
    metric = facts.decision.metric
    rows = [
        [key.removeprefix("slice.").removesuffix(f".{metric}"), value]
        for key, value in sorted(facts.metrics.items())
        if key.startswith("slice.") and key.endswith(f".{metric}")
    ]
    if not facts.spec.slices:
        return ["The dataset spec declares no slices.", ""]
    if not rows:
        return [f"No slice scores recorded for {metric}.", ""]
    return [f"Declared slices: {', '.join(facts.spec.slices)}.", "", *_table(["slice", metric], rows), ""]


def _gate(facts: CardFacts) -> list[str]:
    d = facts.decision
    lines = [
        f"**{d.verdict}** at {d.decided_at}: {d.reason}",
        "",
        f"Rule: {d.metric} meets the floor {d.floor}; beats the champion on all evaluation rows by "
        f"more than 0 and at least {d.min_improvement}; loses no more than {d.tolerance:.0%} of the "
        "champion's value on any part or declared slice.",
        "",
    ]
    if d.comparisons:
        lines += [
            *_table(
                ["group", "rows", "challenger", f"champion v{d.champion_version}", "delta", "outcome"],
                [[c.group, c.rows, c.challenger, c.champion, c.delta, c.outcome] for c in d.comparisons],
            ),
            "",
        ]
    return lines


def _hyperparameters(facts: CardFacts) -> list[str]:
    fitted = {k.removeprefix("hp."): v for k, v in sorted(facts.params.items()) if k.startswith("hp.")}
    lines = [*_table(["hyperparameter", "fitted value"], [[k, v] for k, v in fitted.items()]), ""]
    best = facts.lineage.get("tuning.best_params")
    if best:
        lines.insert(
            0,
            f"Searched with Optuna: {facts.lineage.get('tuning.trials', '?')} trial(s) "
            f"(nested runs of run `{facts.run_id}`), best {facts.lineage.get('tuning.best_cv_score', '?')} "
            f"on the training rows; best parameters `{best}`.\n",
        )
    else:
        lines.insert(0, "As the dataset spec gives them: no search was run (MLSTACK_TUNING_TRIALS=0).\n")
    return lines


def _limitations(facts: CardFacts) -> list[str]:
    window = facts.window or {}
    evaluated = int(window.get("new_rows", 0)) + int(window.get("pinned_rows", 0))
    judged = (
        f"- Judged on {evaluated} held-out rows: one row moves accuracy by {100 / evaluated:.2f} "
        "points; slices too small to judge are shown, not judged."
        if evaluated
        else "- Judged on its holdout rows only."
    )
    lines = [
        judged,
        f"- Knows only the {len(facts.spec.features)} features of the `{facts.spec.name}` spec; "
        "inputs outside the spec's ranges or categories are refused at serving.",
        "- Learns from the training window only: data older than the window is forgotten.",
        "- Live quality: not known at registration (it needs labelled predictions).",
    ]
    if facts.spec.description:
        lines.append(f"- Intended use: {facts.spec.description}")
    return [*lines, ""]


def render(facts: CardFacts) -> str:
    """The card as markdown."""
    lineage = facts.lineage
    lines = [
        f"# Model card: {facts.name} v{facts.version}",
        "",
        f"- dataset: `{facts.spec.name}` ({facts.spec.task}, target `{facts.spec.target}`)",
        f"- estimator: `{facts.estimator}`; run `{facts.run_id}`",
        f"- code: git `{lineage.get('git_commit', 'unknown')}`, mlstack {lineage.get('package_version', '?')}; "
        f"trained by {lineage.get('orchestrator', '?')} {lineage.get('dag_id', '')}".rstrip(),
        "",
        "## Data",
        "",
        *_data(facts),
        "## Hyperparameters",
        "",
        *_hyperparameters(facts),
        "## Metrics",
        "",
        *_metrics(facts),
        "## Slices",
        "",
        *_slices(facts),
        "## Gate decision",
        "",
        *_gate(facts),
        "## Limitations",
        "",
        *_limitations(facts),
    ]
    return "\n".join(lines)


def description(card: str, run_id: str) -> str:
    """The version's description: the card, cut before the slices when too long for the registry."""
    if len(card) <= DESCRIPTION_LIMIT:
        return card
    note = f"\n\n(shortened: the full card is the artifact `{CARD_ARTIFACT}` of run `{run_id}`)"
    return card[: DESCRIPTION_LIMIT - len(note)] + note


def publish(settings: Settings, spec: DatasetSpec, decision: GateDecision) -> str:
    """Write the card of `decision.version`: run artifact, version description and tag; its URI."""
    import mlflow

    from mlstack import tracking
    from mlstack.model.train import WINDOW_ARTIFACT

    client = tracking.configure(settings)
    version = client.get_model_version(decision.name, decision.version)
    run = client.get_run(version.run_id)
    try:
        local = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=WINDOW_ARTIFACT)
        with open(local, encoding="utf-8") as handle:
            window = json.load(handle)
    except (OSError, mlflow.exceptions.MlflowException):
        window = None  # a run trained before windows were recorded
    facts = CardFacts(
        name=decision.name,
        version=decision.version,
        run_id=version.run_id,
        spec=spec,
        estimator=run.data.params.get("estimator", "?"),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        window=window,
        decision=decision,
        lineage={k.removeprefix(TAG_PREFIX): v for k, v in run.data.tags.items() if k.startswith(TAG_PREFIX)},
    )
    card = render(facts)
    client.log_text(version.run_id, card, CARD_ARTIFACT)
    client.update_model_version(
        decision.name, decision.version, description=description(card, version.run_id)
    )
    uri = f"runs:/{version.run_id}/{CARD_ARTIFACT}"
    client.set_model_version_tag(decision.name, decision.version, CARD_TAG, uri)
    return uri
