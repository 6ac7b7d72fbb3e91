"""The lifecycle against real servers: MLflow on PostgreSQL, artifacts proxied to S3 (SeaweedFS).

Asserts what a platform operator would check by hand: the model's files are objects in the bucket,
the registry rows are in Postgres, and a fresh process loads models:/<name>@champion and predicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mlstack import lifecycle
from mlstack.config import Settings
from mlstack.data import sources
from mlstack.errors import SourceError
from mlstack.registry.versions import champion_version

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(mlflow_server, s3_server, postgres, tmp_path_factory):
    data_bucket = s3_server.create_bucket("mlstack-data-lifecycle")
    saved = dict(os.environ)
    # boto3 in this process writes snapshots to S3; MLflow artifacts go through the server proxy.
    os.environ.update({k: v for k, v in s3_server.env().items() if k.startswith("AWS_")})
    os.environ.pop("MLFLOW_S3_ENDPOINT_URL", None)
    settings = Settings(
        _env_file=None,
        home=tmp_path_factory.mktemp("home"),
        tracking_uri=mlflow_server.tracking_uri,
        data_root=f"s3://{data_bucket}/data",
        s3_endpoint_url=s3_server.endpoint_url,
        model_name="penguins-int",
    )
    ctx = lifecycle.context(settings, "penguins")
    summary = lifecycle.run_all(ctx)
    yield ctx, summary, data_bucket
    os.environ.clear()
    os.environ.update(saved)


def test_champion_set_and_model_files_are_s3_objects(stack, mlflow_server, s3_server):
    ctx, summary, _ = stack
    assert summary["gate"]["verdict"] == "promoted"
    assert champion_version(ctx.settings, "penguins-int") == summary["register"]["version"]
    keys = s3_server.list_keys(mlflow_server.bucket)
    assert any(k.endswith("MLmodel") for k in keys), keys
    assert any(k.endswith(("model.skops", "model.pkl")) for k in keys), keys
    assert any(k.endswith("holdout.parquet") for k in keys)
    assert any(k.endswith("confusion_matrix.png") for k in keys)


def test_snapshot_and_raw_batch_are_s3_objects(stack, s3_server):
    _, summary, bucket = stack
    keys = s3_server.list_keys(bucket, "data/")
    dataset_id = summary["ingest"]["dataset_id"]
    assert f"data/snapshots/{dataset_id}/data.parquet" in keys
    assert any(k.startswith("data/raw/") for k in keys)
    assert any(k.startswith("data/reports/validation/") for k in keys)


def test_registry_rows_are_in_postgres(stack, mlflow_server, postgres):
    _, summary, _ = stack
    with postgres.connect(mlflow_server.database) as conn:
        versions = conn.execute(
            "select version, run_id from model_versions where name = %s", ("penguins-int",)
        ).fetchall()
        aliases = conn.execute(
            "select alias, version from registered_model_aliases where name = %s", ("penguins-int",)
        ).fetchall()
        tags = dict(
            conn.execute(
                "select key, value from model_version_tags where name = %s and version = %s",
                ("penguins-int", int(summary["register"]["version"])),
            ).fetchall()
        )
    assert (int(summary["register"]["version"]), summary["train"]["run_id"]) in versions
    assert ("champion", int(summary["champion"])) in aliases
    assert tags["mlstack.dataset_id"] == summary["ingest"]["dataset_id"]
    assert tags["mlstack.gate.verdict"] == "promoted"


def test_fresh_process_loads_champion_without_s3_keys(stack, mlflow_server):
    ctx, summary, _ = stack
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "MLSTACK_"))}
    env.update(
        {
            "MLFLOW_TRACKING_URI": mlflow_server.tracking_uri,
            "MLSTACK_MODEL_NAME": "penguins-int",
            "MLSTACK_HOME": str(ctx.settings.home),
        }
    )
    out = subprocess.run(
        [str(Path(sys.executable).parent / "mlstack"), "predict", "--example", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["version"] == summary["champion"]
    assert result["predictions"] == ["Adelie"]


def test_s3_source_and_missing_key(stack, s3_server):
    ctx, _, bucket = stack
    frame = sources.parse(sources.fetch("builtin:penguins")).sample(200, random_state=1)
    s3_server.client().put_object(Bucket=bucket, Key="incoming/b.csv", Body=frame.to_csv(index=False))
    result = lifecycle.ingest(ctx, f"s3://{bucket}/incoming/b.csv")
    assert result["rows"] == 200
    assert result["raw_uri"].startswith(f"s3://{bucket}/data/raw/")
    with pytest.raises(SourceError, match="NoSuchKey"):
        lifecycle.ingest(ctx, f"s3://{bucket}/incoming/missing.csv")


def test_postgres_table_and_query_sources(stack, postgres):
    ctx, _, _ = stack
    db = postgres.create_database("landing")
    with pytest.raises(SourceError, match="not in the allowlist"):  # a DAG run reads only its allowlist
        lifecycle.ingest(ctx, f"{db.url}?table=penguins_batch")
    allowed = ctx.settings.model_copy(
        update={"source_allowlist": [f"postgresql://127.0.0.1:{postgres.port}/landing"]}
    )
    ctx = lifecycle.context(allowed, "penguins")
    frame = sources.parse(sources.fetch("builtin:penguins"))
    import sqlalchemy as sa

    engine = sa.create_engine(db.sqlalchemy_url)
    frame.to_sql("penguins_batch", engine, index=False)
    engine.dispose()
    by_table = lifecycle.ingest(ctx, f"{db.url}?table=penguins_batch")
    assert by_table["rows"] == 344
    by_query = lifecycle.ingest(ctx, f"{db.url}?query=select * from penguins_batch where year = 2007")
    assert by_query["rows"] == int((frame["year"] == 2007).sum())
    assert lifecycle.validate(ctx, by_table["dataset_id"])["passed"]
    with pytest.raises(SourceError, match='relation "nope" does not exist'):
        lifecycle.ingest(ctx, f"{db.url}?table=nope")
    # the password never appears in an error
    with pytest.raises(SourceError) as info:
        lifecycle.ingest(ctx, f"{db.url}?table=nope")
    assert postgres.password not in str(info.value)


def test_diabetes_regression_on_the_same_server(mlflow_server, tmp_path):
    settings = Settings(
        _env_file=None,
        home=tmp_path,
        tracking_uri=mlflow_server.tracking_uri,
        dataset="diabetes",
    )
    ctx = lifecycle.context(settings)
    summary = lifecycle.run_all(ctx)
    assert set(summary["metrics"]) == {"rmse", "mae", "r2"}
    assert summary["gate"]["metric"] == "rmse"
    assert summary["gate"]["verdict"] == "promoted", summary["gate"]["reason"]
    assert isinstance(pd.Series(summary["metrics"]).sum(), float)
