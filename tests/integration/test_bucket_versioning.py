"""bucket-init (docker/mlflow/create_bucket.py) turns versioning on, against a real S3 server.

The devstack S3 server is SeaweedFS, the same server as the stack's rustfs stand-in image. With
versioning on, an overwritten object (a model file replaced under the champion, say) keeps its
previous version, which can be read back by its version id and restored.
"""

from __future__ import annotations

import importlib.util
import secrets
from pathlib import Path
from types import ModuleType

import boto3
import pytest

from devstack.s3 import S3Server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _bucket_init() -> ModuleType:
    spec = importlib.util.spec_from_file_location("create_bucket", ROOT / "docker/mlflow/create_bucket.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bucket_init_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment compose gives bucket-init, for a new bucket of the test S3 server."""
    bucket = f"versioned-{secrets.token_hex(4)}"
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLSTACK_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("MLSTACK_S3_BUCKET", bucket)
    monkeypatch.setenv("BUCKET_INIT_TIMEOUT", "20")
    # boto3's default session keeps the credentials it resolved first: each test reads its own.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return bucket


def test_bucket_init_creates_the_bucket_with_versioning_on(s3_server, bucket_init_env, capsys):
    bucket_init = _bucket_init()
    assert bucket_init.main() == 0
    assert bucket_init.main() == 0  # idempotent: compose runs it at every `up`
    out = capsys.readouterr().out
    assert f"s3://{bucket_init_env} created" in out and f"s3://{bucket_init_env} exists" in out
    assert "versioning enabled" in out and "versioning was enabled" in out
    assert s3_server.client().get_bucket_versioning(Bucket=bucket_init_env)["Status"] == "Enabled"


def test_an_overwritten_artifact_is_recovered_from_its_previous_version(s3_server, bucket_init_env):
    assert _bucket_init().main() == 0
    s3 = s3_server.client()
    key = "mlflow/1/models/m-1/artifacts/model.skops"
    first = s3.put_object(Bucket=bucket_init_env, Key=key, Body=b"the trained model")
    s3.put_object(Bucket=bucket_init_env, Key=key, Body=b"a tampered model")
    assert s3.get_object(Bucket=bucket_init_env, Key=key)["Body"].read() == b"a tampered model"

    versions = s3.list_object_versions(Bucket=bucket_init_env, Prefix=key)["Versions"]
    previous = [v["VersionId"] for v in versions if not v["IsLatest"]]
    assert previous == [first["VersionId"]]
    # Restore: copy the previous version over the current one (a new version, nothing is lost).
    s3.copy_object(
        Bucket=bucket_init_env,
        Key=key,
        CopySource={"Bucket": bucket_init_env, "Key": key, "VersionId": first["VersionId"]},
    )
    assert s3.get_object(Bucket=bucket_init_env, Key=key)["Body"].read() == b"the trained model"
    assert len(s3.list_object_versions(Bucket=bucket_init_env, Prefix=key)["Versions"]) == 3

    # A delete only hides the object behind a delete marker: every version is still there.
    s3.delete_object(Bucket=bucket_init_env, Key=key)
    body = s3.get_object(Bucket=bucket_init_env, Key=key, VersionId=first["VersionId"])["Body"].read()
    assert body == b"the trained model"


def test_bucket_init_with_a_wrong_key_exits_1_and_creates_nothing(
    s3_server, bucket_init_env, monkeypatch, capsys
):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")  # pragma: allowlist secret
    assert _bucket_init().main() == 1
    err = capsys.readouterr().err
    assert "refused" in err and "(403)" in err and "check the S3 keys" in err, err
    buckets = [b["Name"] for b in s3_server.client().list_buckets().get("Buckets", [])]
    assert bucket_init_env not in buckets
