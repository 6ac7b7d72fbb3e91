"""The drift check against real servers: MLflow on PostgreSQL with artifacts proxied to S3 (SeaweedFS),
and the data root (snapshots, raw batches, drift reports) in an S3 bucket.

What an operator would check: the reference is the champion's snapshot read back from S3, the
reports are objects in the data bucket (dated + latest), the MLflow run of the monitoring
experiment holds both reports in the artifact bucket, and the report link is the run's URL.
"""

from __future__ import annotations

import json
import os

import pytest

from mlstack import lifecycle, tracking
from mlstack.config import Settings
from mlstack.data.synthetic import generate, parse_drift
from mlstack.drift import check, reports

pytestmark = pytest.mark.integration

STRONG = [
    "bill_length_mm:shift=2",
    "flipper_length_mm:shift=-1.5",
    "body_mass_g:scale=1.8",
    "island:mix=Biscoe:0.1,Dream:0.1,Torgersen:0.8",
]


@pytest.fixture(scope="module")
def stack(mlflow_server, s3_server, tmp_path_factory):
    data_bucket = s3_server.create_bucket("mlstack-data-drift")
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in s3_server.env().items() if k.startswith("AWS_")})
    os.environ.pop("MLFLOW_S3_ENDPOINT_URL", None)
    settings = Settings(
        _env_file=None,
        home=tmp_path_factory.mktemp("home"),
        tracking_uri=mlflow_server.tracking_uri,
        data_root=f"s3://{data_bucket}/data",
        s3_endpoint_url=s3_server.endpoint_url,
        model_name="penguins-drift",
    )
    ctx = lifecycle.context(settings, "penguins", trusted_caller=True)  # local batch files, as the CLI
    summary = lifecycle.run_all(ctx)
    assert summary["champion"]
    yield ctx, summary, data_bucket
    os.environ.clear()
    os.environ.update(saved)


def test_drifted_batch_on_s3_and_mlflow_server(stack, mlflow_server, s3_server, tmp_path):
    ctx, summary, bucket = stack
    path = tmp_path / "drifted.csv"
    generate(300, seed=11, spec=ctx.spec, drift=parse_drift(STRONG)).to_csv(path, index=False)

    result = check.check_drift(ctx, str(path))

    assert result.drift_detected
    assert result.reference["dataset_id"] == summary["ingest"]["dataset_id"]
    assert result.current["raw_uri"].startswith(f"s3://{bucket}/data/raw/")

    keys = s3_server.list_keys(bucket, "data/reports/drift/")
    assert "data/reports/drift/latest.html" in keys and "data/reports/drift/latest.json" in keys
    assert f"data/reports/drift/{result.report['id']}.html" in keys
    assert result.report["latest_json_uri"] == f"s3://{bucket}/data/reports/drift/latest.json"

    run_id = result.mlflow["run_id"]
    assert result.report["link"] == (
        f"{mlflow_server.tracking_uri.rstrip('/')}/#/experiments/{result.mlflow['experiment_id']}/runs/{run_id}"
    )
    client = tracking.configure(ctx.settings)
    run = client.get_run(run_id)
    assert run.data.tags["mlstack.champion_version"] == summary["champion"]
    assert run.data.tags["mlstack.drift.detected"] == "true"
    assert client.get_experiment(run.info.experiment_id).name == "penguins-monitoring"
    artifact_keys = s3_server.list_keys(mlflow_server.bucket)
    assert any(k.endswith(f"{run_id}/artifacts/drift/drift_report.html") for k in artifact_keys), (
        artifact_keys
    )
    local = client.download_artifacts(run_id, "drift/drift_report.json", str(tmp_path))
    with open(local, encoding="utf-8") as fh:
        assert json.load(fh)["drift_detected"] is True

    latest = reports.latest_report(ctx.settings)
    assert latest.result.report["id"] == result.report["id"]
    assert latest.html_uri.startswith("s3://")
    assert reports.latest_report_html(ctx.settings).lstrip().lower().startswith("<!doctype html")
