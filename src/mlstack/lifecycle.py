"""The lifecycle steps as the front doors call them: small references in, small references out.

A DAG task, a CLI command or a test calls one of these; only ids and URIs travel between them
(what Airflow XComs carry), never DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlstack.config import Settings, get_settings
from mlstack.data.spec import DatasetSpec, load_spec


@dataclass(frozen=True)
class Context:
    settings: Settings
    spec: DatasetSpec
    trusted_caller: bool = False  # True only for the user's own shell: sources outside the allowlist


def context(
    settings: Settings | None = None, dataset: str | None = None, trusted_caller: bool = False
) -> Context:
    settings = settings or get_settings()
    return Context(settings, load_spec(dataset or settings.dataset), trusted_caller)


def ingest(ctx: Context, source: str | None = None) -> dict:
    from mlstack.data.ingest import ingest as run

    return run(source or ctx.settings.source or ctx.spec.source, ctx.settings, ctx.trusted_caller).to_dict()


def validate(ctx: Context, dataset_id: str) -> dict:
    """Check the snapshot against the spec; save JSON + text reports; raise if any check fails."""
    from mlstack.data.ingest import load_snapshot
    from mlstack.data.store import ArtifactStore
    from mlstack.data.validation import check_batch, raise_if_failed, report_json

    store = ArtifactStore.from_settings(ctx.settings)
    report = check_batch(load_snapshot(dataset_id, ctx.settings), ctx.spec, dataset_id)
    store.put_bytes(f"reports/validation/{dataset_id}.txt", report.to_text().encode())
    report.report_uri = store.put_bytes(f"reports/validation/{dataset_id}.json", report_json(report))
    raise_if_failed(report)
    from mlstack.data.window import record_validated

    record_validated(ctx.settings, ctx.spec, dataset_id, report.rows)  # a later window may use it
    return {
        "dataset_id": dataset_id,
        "passed": True,
        "rows": report.rows,
        "report_uri": report.report_uri,
    }


def train(ctx: Context, dataset_id: str, snapshot_uri: str) -> dict:
    """Fit on the training window of `dataset_id` (MLSTACK_TRAINING_WINDOW), log run and model."""
    from mlstack.model.train import train as run

    return run(dataset_id, snapshot_uri, ctx.settings, ctx.spec).to_dict()


def evaluate(ctx: Context, run_id: str) -> dict:
    from mlstack.model.train import evaluate as run

    return {"run_id": run_id, "metrics": run(run_id, ctx.settings, ctx.spec)}


def register(ctx: Context, run_id: str) -> dict:
    from mlstack.registry.versions import register as run

    return run(run_id, ctx.settings, ctx.spec).to_dict()


def promote(ctx: Context, version: str) -> dict:
    """The gate on `version`, then its model card (artifact + version description)."""
    from mlstack.registry.card import publish
    from mlstack.registry.promotion import promote as run

    decision = run(version, ctx.settings, ctx.spec)
    publish(ctx.settings, ctx.spec, decision)
    return decision.to_dict()


STEPS = ("ingest", "validate", "train", "evaluate", "register", "promote")


def run_all(ctx: Context, source: str | None = None, on_step: Callable[[str], None] | None = None) -> dict:
    """Every step in-process, in order; returns one summary of small references."""
    notify = on_step or (lambda _step: None)
    notify("ingest")
    ingested = ingest(ctx, source)
    notify("validate")
    validated = validate(ctx, ingested["dataset_id"])
    notify("train")
    trained = train(ctx, ingested["dataset_id"], ingested["snapshot_uri"])
    notify("evaluate")
    evaluated = evaluate(ctx, trained["run_id"])
    notify("register")
    registered = register(ctx, trained["run_id"])
    notify("promote")
    decision = promote(ctx, registered["version"])
    from mlstack.registry.versions import champion_version

    return {
        "ingest": ingested,
        "validate": validated,
        "train": trained,
        "metrics": evaluated["metrics"],
        "register": registered,
        "gate": decision,
        "champion": champion_version(ctx.settings, registered["name"]),
    }
