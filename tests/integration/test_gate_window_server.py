"""Retraining on a window and the gate on the union, against real servers (MLflow on PostgreSQL,
artifacts and snapshots on an S3 server), as issue 17 §0 and §8 ask:

- after a real drift, the retrained model is promoted because it is better on the union of the
  new batch's holdout and the pinned set, and regresses on no part and no island;
- running again on the old data does not flip the champion back;
- a batch crafted to favour a model (labels swapped, big enough to win overall) is refused
  because the model regresses on the pinned set, and the reason says so;
- every version has a model card: the markdown artifact and the version description, read back
  from the server, with the window, the metrics, the slices and the gate's comparisons; the
  metrics are on MLflow's LoggedModel too, and the window is the run's logged input.
"""

from __future__ import annotations

import os

import pytest

from mlstack import lifecycle
from mlstack.config import Settings
from mlstack.data.synthetic import generate, parse_drift
from mlstack.registry.versions import champion_version

pytestmark = pytest.mark.integration

MODEL = "penguins-window"
STRONG = [
    "bill_length_mm:shift=2",
    "flipper_length_mm:shift=-1.5",
    "body_mass_g:scale=1.8",
    "island:mix=Biscoe:0.1,Dream:0.1,Torgersen:0.8",
]


def _put(s3_server, bucket: str, name: str, frame) -> str:
    s3_server.client().put_object(Bucket=bucket, Key=f"incoming/{name}", Body=frame.to_csv(index=False))
    return f"s3://{bucket}/incoming/{name}"


@pytest.fixture(scope="module")
def history(mlflow_server, s3_server, tmp_path_factory):
    """Four retrains in order: original data, a drifted batch, the original again, a crafted batch."""
    bucket = s3_server.create_bucket("mlstack-data-window")
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in s3_server.env().items() if k.startswith("AWS_")})
    os.environ.pop("MLFLOW_S3_ENDPOINT_URL", None)
    settings = Settings(
        _env_file=None,
        home=tmp_path_factory.mktemp("home"),
        tracking_uri=mlflow_server.tracking_uri,
        data_root=f"s3://{bucket}/data",
        s3_endpoint_url=s3_server.endpoint_url,
        model_name=MODEL,
    )
    ctx = lifecycle.context(settings, "penguins", trusted_caller=True)
    drifted = generate(400, seed=11, spec="penguins", drift=parse_drift(STRONG))
    crafted = generate(1200, seed=5, spec="penguins")  # real penguins, Adelie and Chinstrap swapped
    crafted["species"] = crafted["species"].replace({"Adelie": "Chinstrap", "Chinstrap": "Adelie"})
    runs = {"original": lifecycle.run_all(ctx)}
    runs["drift"] = lifecycle.run_all(ctx, _put(s3_server, bucket, "drifted.csv", drifted))
    runs["original_again"] = lifecycle.run_all(ctx)
    runs["crafted"] = lifecycle.run_all(ctx, _put(s3_server, bucket, "crafted.csv", crafted))
    yield ctx, runs
    os.environ.clear()
    os.environ.update(saved)


def _groups(decision: dict) -> dict[str, dict]:
    return {c["group"]: c for c in decision["comparisons"]}


def test_after_a_real_drift_the_retrained_model_wins_on_the_union(history):
    _, runs = history
    gate = runs["drift"]["gate"]
    assert gate["verdict"] == "promoted", gate["reason"]
    assert gate["champion_version"] == runs["original"]["register"]["version"]
    groups = _groups(gate)
    assert set(groups) == {
        "part:new",
        "part:pinned",
        "slice:island=Biscoe",
        "slice:island=Dream",
        "slice:island=Torgersen",
    }
    # the old champion fails the drifted batch; the new model keeps the original data too
    assert groups["part:new"]["champion"] < 0.6 < 0.9 < groups["part:new"]["challenger"]
    assert groups["part:pinned"]["outcome"] in {"better", "within tolerance"}
    assert groups["part:pinned"]["challenger"] >= 0.95
    assert gate["delta"] > 0.1
    assert "no part or slice regresses" in gate["reason"]
    window = runs["drift"]["train"]
    assert window["train_rows"] > runs["original"]["train"]["train_rows"]  # both snapshots


def test_running_on_the_old_data_again_does_not_flip_the_champion_back(history):
    ctx, runs = history
    gate = runs["original_again"]["gate"]
    assert gate["verdict"] == "refused", gate["reason"]
    assert gate["champion_version"] == runs["drift"]["register"]["version"]
    assert "is not positive" in gate["reason"]
    # the drifted batch is still in the window: the old champion's blind spot is pinned now
    assert _groups(gate)["part:pinned"]["rows"] == runs["drift"]["gate"]["comparisons"][0]["rows"]
    assert runs["original_again"]["champion"] == runs["drift"]["register"]["version"]


def test_a_batch_crafted_to_favour_a_model_is_refused_with_the_reason_recorded(history):
    import mlflow

    ctx, runs = history
    gate = runs["crafted"]["gate"]
    groups = _groups(gate)
    assert gate["verdict"] == "refused", gate["reason"]
    # on the crafted batch's own holdout the challenger wins by far (the old gate's only evidence)
    assert groups["part:new"]["delta"] > 0.3
    assert groups["part:pinned"]["outcome"] == "regressed"
    assert "regresses beyond the tolerance" in gate["reason"] and "part:pinned" in gate["reason"]
    assert champion_version(ctx.settings, MODEL) == runs["drift"]["register"]["version"]
    tags = mlflow.MlflowClient().get_model_version(MODEL, runs["crafted"]["register"]["version"]).tags
    assert tags["mlstack.gate.verdict"] == "refused"
    assert tags["mlstack.gate.reason"] == gate["reason"]
    assert '"group":"part:pinned"' in tags["mlstack.gate.comparisons"]


def test_each_version_has_a_model_card_read_back_from_the_server(history):
    import mlflow

    ctx, runs = history
    client = mlflow.MlflowClient()
    run = runs["drift"]
    version = client.get_model_version(MODEL, run["register"]["version"])
    card = mlflow.artifacts.load_text(version.tags["mlstack.model_card"])
    assert version.description == card  # short enough to be the whole card
    for needle in (
        f"# Model card: {MODEL} v{run['register']['version']}",
        "## Data",
        "Training window `5` (MLSTACK_TRAINING_WINDOW): 2 validated snapshot(s)",
        run["ingest"]["dataset_id"],
        runs["original"]["ingest"]["dataset_id"],
        "## Metrics",
        "| f1_macro |",
        "## Slices",
        "| island.Torgersen |",
        "## Gate decision",
        "**promoted**",
        "| part:pinned |",
        "## Limitations",
    ):
        assert needle in card, needle
    refused = client.get_model_version(MODEL, runs["crafted"]["register"]["version"])
    assert "**refused**" in refused.description and "| regressed |" in refused.description

    # MLflow's own lineage: the window is the run's training input, metrics sit on the LoggedModel
    train_run = client.get_run(run["train"]["run_id"])
    inputs = {d.dataset.name: d for d in train_run.inputs.dataset_inputs}
    assert "penguins-window" in inputs and "penguins-evaluation" in inputs
    assert {t.key: t.value for t in inputs["penguins-window"].tags}["mlflow.data.context"] == "training"
    model_id = train_run.data.tags["mlstack.model_uri"].removeprefix("models:/")
    logged = client.get_logged_model(model_id)
    metrics = {m.key: m.value for m in logged.metrics}
    assert metrics["f1_macro"] == pytest.approx(run["metrics"]["f1_macro"])
