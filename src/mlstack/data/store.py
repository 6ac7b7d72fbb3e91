"""The artifact store for data: raw batches, Parquet snapshots, reports.

A thin layer over a local folder or an S3 bucket (boto3; any S3-compatible endpoint), keyed by
relative paths such as `snapshots/<dataset_id>/data.parquet`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlstack.config import Settings
from mlstack.errors import SourceError, UnreadableSourceError


def s3_client(endpoint_url: str | None = None):
    """A boto3 S3 client; retries with backoff are botocore's own (standard mode)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or os.environ.get("MLSTACK_S3_ENDPOINT_URL") or None,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5),
    )


@dataclass(frozen=True)
class ArtifactStore:
    root: str
    endpoint_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        return cls(settings.resolved_data_root, settings.s3_endpoint_url)

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def _bucket_prefix(self) -> tuple[str, str]:
        parts = urlsplit(self.root)
        return parts.netloc, parts.path.strip("/")

    def _key(self, key: str) -> str:
        _, prefix = self._bucket_prefix()
        return f"{prefix}/{key}" if prefix else key

    def uri(self, key: str) -> str:
        if self.is_s3:
            bucket, _ = self._bucket_prefix()
            return f"s3://{bucket}/{self._key(key)}"
        return str(Path(self.root).expanduser().resolve() / key)

    def put_bytes(self, key: str, data: bytes) -> str:
        if self.is_s3:
            bucket, _ = self._bucket_prefix()
            s3_client(self.endpoint_url).put_object(Bucket=bucket, Key=self._key(key), Body=data)
        else:
            path = Path(self.uri(key))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # atomic: a reader never sees half a file
        return self.uri(key)

    def get_bytes(self, key: str) -> bytes:
        return read_uri_bytes(self.uri(key), self.endpoint_url)

    def exists(self, key: str) -> bool:
        if self.is_s3:
            from botocore.exceptions import ClientError

            bucket, _ = self._bucket_prefix()
            try:
                s3_client(self.endpoint_url).head_object(Bucket=bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            return True
        return Path(self.uri(key)).exists()

    def list(self, prefix: str) -> list[str]:
        """Keys (relative to the root) under a prefix, sorted."""
        if self.is_s3:
            bucket, _ = self._bucket_prefix()
            paginator = s3_client(self.endpoint_url).get_paginator("list_objects_v2")
            base = self._key("")
            keys = []
            for page in paginator.paginate(Bucket=bucket, Prefix=self._key(prefix)):
                keys += [o["Key"][len(base) :] for o in page.get("Contents", [])]
            return sorted(keys)
        root = Path(self.uri(""))
        folder = root / prefix
        if not folder.exists():
            return []
        return sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file())


def read_uri_bytes(uri: str, endpoint_url: str | None = None) -> bytes:
    """Bytes of a local path or s3:// object, with a clear error when it is missing."""
    if uri.startswith("s3://"):
        from botocore.exceptions import ClientError

        parts = urlsplit(uri)
        try:
            obj = s3_client(endpoint_url).get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            # A missing key or bucket will not appear by retrying; anything else may pass.
            missing = code in ("NoSuchKey", "NoSuchBucket", "404")
            raise (UnreadableSourceError if missing else SourceError)(
                f"source {uri}: S3 says {code or exc}"
            ) from None
        return obj["Body"].read()
    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise UnreadableSourceError(f"source {uri}: no such file")
    return path.read_bytes()
