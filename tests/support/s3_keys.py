"""What a client of an S3 store with a wrong key must meet: a 403 naming why, on reads and writes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def assert_refused_reads_and_writes(client: Any, code: str, bucket: str, existing_key: str) -> None:
    """``client`` can neither read ``existing_key`` nor write a new object: 403 with ``code``
    (``SignatureDoesNotMatch`` for a wrong secret, ``InvalidAccessKeyId`` for an unknown key)."""
    for call in (
        lambda: client.get_object(Bucket=bucket, Key=existing_key),
        lambda: client.put_object(Bucket=bucket, Key=f"{existing_key}.planted", Body=b"planted\n"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == code
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
