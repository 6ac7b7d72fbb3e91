"""moto's S3-compatible server on 127.0.0.1, with dummy credentials.

A ``moto_server`` process of its own rather than moto's ``ThreadedMotoServer``: the threaded
server lives inside the calling process, so every server started there shares moto's global
in-memory backend (two "servers" would see each other's buckets), competes for the GIL with the
tests and benchmarks that time their clients, and cannot be killed. A separate process keeps each
server's objects apart and is stopped like every other :class:`ManagedProcess`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess, venv_tool


def _s3_client(endpoint_url: str, access_key_id: str, secret_access_key: str, region: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
    )


def list_s3_keys(
    endpoint_url: str,
    bucket: str,
    prefix: str = "",
    *,
    access_key_id: str = "testing",
    secret_access_key: str = "testing",
    region: str = "us-east-1",
) -> list[str]:
    """Sorted object keys under ``prefix`` in ``bucket`` (all pages)."""
    client = _s3_client(endpoint_url, access_key_id, secret_access_key, region)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


@dataclass
class S3Server:
    """moto's S3-compatible server on 127.0.0.1 with dummy credentials."""

    host: str
    port: int
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    process: ManagedProcess = field(repr=False)

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        return _s3_client(self.endpoint_url, self.access_key_id, self.secret_access_key, self.region)

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (random name when None) and return its name."""
        name = name or f"bucket-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Sorted object keys under ``prefix``."""
        return list_s3_keys(
            self.endpoint_url,
            bucket,
            prefix,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            region=self.region,
        )

    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this S3 (boto3 and MLflow)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def is_running(self) -> bool:
        """True while the moto server process runs."""
        return self.process.is_running()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (its objects are gone: moto keeps them in memory)."""
        self.process.stop(timeout=timeout)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_s3_server(
    *, port: int | None = None, log_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0
) -> S3Server:
    """Start ``moto_server -H 127.0.0.1 -p <port>`` and wait until it answers."""
    moto = venv_tool("moto_server")
    port = port or free_port()
    process = ManagedProcess("moto", [moto, "-H", LOOPBACK, "-p", str(port)], log_dir=log_dir).start()
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        process.wait_http(f"{endpoint}/moto-api/", timeout=timeout, accept=lambda s: s < 500)
    except BaseException:
        process.stop()
        raise
    return S3Server(
        host=LOOPBACK,
        port=port,
        endpoint_url=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        process=process,
    )
