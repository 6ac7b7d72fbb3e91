"""bucket-init: create the stack's S3 bucket once the object store answers (idempotent).

Reads MLSTACK_S3_BUCKET, MLSTACK_S3_ENDPOINT_URL (empty: AWS), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION. Exits 0 when the bucket exists.
"""

from __future__ import annotations

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


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
    deadline = time.monotonic() + float(os.environ.get("BUCKET_INIT_TIMEOUT", "90"))
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            s3.head_bucket(Bucket=bucket)
            print(f"bucket-init: s3://{bucket} exists ({endpoint or 'AWS'})")
            return 0
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                kwargs = {}
                if region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
                s3.create_bucket(Bucket=bucket, **kwargs)
                print(f"bucket-init: created s3://{bucket} ({endpoint or 'AWS'})")
                return 0
            last = exc
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                break
        except (BotoCoreError, OSError) as exc:
            last = exc
        time.sleep(2)
    print(f"bucket-init: s3://{bucket} not ready: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
