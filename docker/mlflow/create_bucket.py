"""bucket-init: create the stack's S3 bucket once the object store answers, with versioning on.

Reads MLSTACK_S3_BUCKET, MLSTACK_S3_ENDPOINT_URL (empty: AWS), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION. Exits 0 when the bucket exists and keeps every version
of its objects. Idempotent: compose runs it at every `up`, Kubernetes as a Job.

Versioning is why an overwritten artifact (a model file replaced under the registered champion,
say) can still be recovered: the store keeps the previous version instead of dropping it.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REFUSED = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def ensure_bucket(s3: Any, bucket: str, region: str) -> str:
    """Create ``bucket`` unless it exists; returns "created" or "exists". Raises ClientError."""
    try:
        s3.head_bucket(Bucket=bucket)
        return "exists"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **kwargs)
    return "created"


def ensure_versioning(s3: Any, bucket: str) -> str:
    """Turn versioning on for ``bucket`` unless it is; returns "enabled" or "was enabled"."""
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
        return "was enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        raise RuntimeError(f"s3://{bucket}: the store accepted versioning but does not report it on")
    return "enabled"


def main() -> int:
    bucket = os.environ.get("MLSTACK_S3_BUCKET", "mlstack")
    endpoint = os.environ.get("MLSTACK_S3_ENDPOINT_URL") or None
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(s3={"addressing_style": "path"} if endpoint else {}, retries={"max_attempts": 3}),
    )
    where = endpoint or "AWS"
    deadline = time.monotonic() + float(os.environ.get("BUCKET_INIT_TIMEOUT", "90"))
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            state = ensure_bucket(s3, bucket, region)
            print(f"bucket-init: s3://{bucket} {state} ({where})")
            versioning = ensure_versioning(s3, bucket)
            print(f"bucket-init: s3://{bucket} versioning {versioning}")
            return 0
        except ClientError as exc:
            last = exc
            if exc.response.get("Error", {}).get("Code", "") in REFUSED:
                print(
                    f"bucket-init: s3://{bucket} refused ({where}): {exc}; check the S3 keys", file=sys.stderr
                )
                return 1
        except RuntimeError as exc:
            last = exc
            break
        except (BotoCoreError, OSError) as exc:
            last = exc
        time.sleep(2)
    print(f"bucket-init: s3://{bucket} not ready (with versioning on): {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
