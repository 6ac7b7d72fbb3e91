"""The serving containers' S3 key (issue 15 §1: readers cannot tamper with the champion's files).

Streamlit and the API write under the data root (raw feedback bodies, drift reports read back) and
load models through MLflow's artifact proxy, so their key is limited to ``<bucket>/data/``. Here a
real SeaweedFS (the same binary as the stack's RustFS stand-in) holds a champion's file under
``mlflow/`` and the serving key tries, with raw S3 calls and through mlstack's own store, what an
intruder in a serving container would.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.s3 import start_s3_server
from mlstack.data.store import ArtifactStore

pytestmark = pytest.mark.integration

BUCKET = "mlstack"
CHAMPION = "mlflow/1/0a1b2c/artifacts/model/model.skops"
CHAMPION_BYTES = b"the champion's bytes"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An S3 server with the admin key and one key limited to mlstack/data; the bucket holds a
    champion's file under mlflow/ and a snapshot under data/, put there by the admin."""
    server = start_s3_server(log_dir=tmp_path_factory.mktemp("scoped-s3"), scopes=(f"{BUCKET}/data",))
    try:
        admin = server.client()
        admin.create_bucket(Bucket=BUCKET)
        admin.create_bucket(Bucket="other")
        admin.put_object(Bucket=BUCKET, Key=CHAMPION, Body=CHAMPION_BYTES)
        admin.put_object(Bucket=BUCKET, Key="data/snapshots/penguins.parquet", Body=b"rows")
        yield server
    finally:
        server.stop()


def _serving(server):
    key = server.scoped_keys[f"{BUCKET}/data"]
    return server.client(access_key_id=key.access_key_id, secret_access_key=key.secret_access_key)


def _refused(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_the_serving_key_reads_writes_and_lists_under_the_data_root(store):
    serving = _serving(store)
    serving.put_object(Bucket=BUCKET, Key="data/feedback/raw/one.json", Body=b'{"label": 1}')
    assert (
        serving.get_object(Bucket=BUCKET, Key="data/feedback/raw/one.json")["Body"].read() == b'{"label": 1}'
    )
    assert serving.get_object(Bucket=BUCKET, Key="data/snapshots/penguins.parquet")["Body"].read() == b"rows"
    listed = serving.list_objects_v2(Bucket=BUCKET, Prefix="data/feedback/")
    assert [o["Key"] for o in listed["Contents"]] == ["data/feedback/raw/one.json"]
    # A missing key is "not found", not "denied": mlstack tells the two apart (no report yet).
    assert (
        _refused(lambda: serving.head_object(Bucket=BUCKET, Key="data/reports/drift/latest.json"))[1] == 404
    )
    serving.delete_object(Bucket=BUCKET, Key="data/feedback/raw/one.json")


def test_the_serving_key_cannot_replace_remove_or_read_the_champions_files(store):
    serving = _serving(store)
    attempts = {
        "overwrite": lambda: serving.put_object(Bucket=BUCKET, Key=CHAMPION, Body=b"a pickle"),
        "new file": lambda: serving.put_object(Bucket=BUCKET, Key="mlflow/1/0a1b2c/artifacts/x", Body=b"x"),
        "copy over": lambda: serving.copy_object(
            Bucket=BUCKET,
            Key=CHAMPION,
            CopySource={"Bucket": BUCKET, "Key": "data/snapshots/penguins.parquet"},
        ),
        "multipart": lambda: serving.create_multipart_upload(Bucket=BUCKET, Key=CHAMPION),
        "delete": lambda: serving.delete_object(Bucket=BUCKET, Key=CHAMPION),
        "read": lambda: serving.get_object(Bucket=BUCKET, Key=CHAMPION),
        "copy out": lambda: serving.copy_object(
            Bucket=BUCKET, Key="data/stolen", CopySource={"Bucket": BUCKET, "Key": CHAMPION}
        ),
        "list mlflow/": lambda: serving.list_objects_v2(Bucket=BUCKET, Prefix="mlflow/"),
        "list the bucket": lambda: serving.list_objects_v2(Bucket=BUCKET),
    }
    for name, attempt in attempts.items():
        assert _refused(attempt) == ("AccessDenied", 403), name
    # A batch delete answers 200 with a per-key error: the key must still be refused, and stay.
    batch = serving.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": CHAMPION}]})
    assert [(e["Key"], e["Code"]) for e in batch["Errors"]] == [(CHAMPION, "AccessDenied")]
    assert store.client().get_object(Bucket=BUCKET, Key=CHAMPION)["Body"].read() == CHAMPION_BYTES


def test_the_serving_key_cannot_change_the_bucket_or_reach_another(store):
    serving = _serving(store)
    attempts = {
        "versioning off": lambda: serving.put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"}
        ),
        "bucket policy": lambda: serving.put_bucket_policy(Bucket=BUCKET, Policy='{"Statement": []}'),
        "new bucket": lambda: serving.create_bucket(Bucket="intruder"),
        "delete bucket": lambda: serving.delete_bucket(Bucket=BUCKET),
        "another bucket": lambda: serving.put_object(Bucket="other", Key="data/x", Body=b"x"),
    }
    for name, attempt in attempts.items():
        assert _refused(attempt)[1] == 403, name
    assert serving.list_buckets()["Buckets"] == []  # not even the names of the buckets


def test_mlstack_writes_feedback_with_the_serving_key_and_is_refused_under_mlflow(store, monkeypatch):
    """What the API does with the key the entrypoint makes AWS_* of (mlstack.data.store)."""
    key = store.scoped_keys[f"{BUCKET}/data"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", store.region)
    # boto3's default session keeps the keys it resolved first in this process: start a new one.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    data = ArtifactStore(f"s3://{BUCKET}/data", store.endpoint_url)
    uri = data.put_bytes("feedback/raw/two.json", b'{"label": 0}')
    assert uri == f"s3://{BUCKET}/data/feedback/raw/two.json"
    assert data.get_bytes("feedback/raw/two.json") == b'{"label": 0}'
    assert data.list("feedback/") == ["feedback/raw/two.json"]
    assert not data.exists("reports/drift/latest.json")
    models = ArtifactStore(f"s3://{BUCKET}/mlflow", store.endpoint_url)
    assert _refused(lambda: models.put_bytes("1/0a1b2c/artifacts/model/model.skops", b"a pickle"))[1] == 403
    assert store.client().get_object(Bucket=BUCKET, Key=CHAMPION)["Body"].read() == CHAMPION_BYTES
