"""Stand-in for the RustFS server: SeaweedFS's S3 gateway behind RustFS's address, health and keys.

Only for booting the compose stack on a machine that cannot pull rustfs/rustfs. Runs two
processes and stops when either stops (the container then restarts as a whole):

- ``weed server`` (master, volume server, filer, S3 gateway) on 127.0.0.1, objects and bucket
  metadata under the first volume (``/data``). The S3 gateway verifies SigV4 signatures against
  the root identity, RUSTFS_ACCESS_KEY / RUSTFS_SECRET_KEY (or the files their *_FILE name), and,
  when MLSTACK_SERVING_S3_ACCESS_KEY / _SECRET_KEY (or *_FILE) are given, a serving identity
  limited to the data root MLSTACK_DATA_ROOT: the user a RustFS admin creates by hand (upstream
  ignores these variables). Both are written to a file only this user reads.
- nginx on RUSTFS_ADDRESS: ``/health`` (and ``/health/live``, ``/health/ready``) as RustFS
  answers them, every other request passed to the gateway unchanged (the Host header too, so
  signatures still verify). nginx starts only once SeaweedFS can store objects, so a healthy
  container is a usable one.

The master's own metadata lives in a fresh folder at every start: the master rebuilds it from the
volume server's heartbeat (volume ids, file keys), and a persisted single master waits about 15 s
for a raft election after a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

S3_PORT = 8333  # SeaweedFS's own ports stay on 127.0.0.1, away from RustFS's 9000 and 9001
INTERNAL_PORTS = {
    "master.port": 9333,
    "master.port.grpc": 19333,
    "volume.port": 8080,
    "volume.port.grpc": 18080,
    "filer.port": 8888,
    "filer.port.grpc": 18888,
    "s3.port": S3_PORT,
    "s3.port.grpc": 18333,
}
HEALTH = '{"status":"ok","service":"rustfs-standin"}'
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {run}/client_body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    upstream seaweedfs {{
        server 127.0.0.1:{s3_port};
        keepalive 16;
    }}
    server {{
        listen {listen};
        client_max_body_size 0;
        location ~ ^/health(/live|/ready)?$ {{
            default_type application/json;
            return 200 '{health}';
        }}
        location / {{
            proxy_pass http://seaweedfs;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }}
    }}
}}
"""


def nginx_listen(address: str) -> str:
    """RustFS's ``[host]:port`` as an nginx ``listen`` value (``:9000`` -> ``9000``)."""
    host, _, port = address.rpartition(":")
    int(port)  # a bad address fails here, not inside nginx
    return f"{host}:{port}" if host else port


def identities(
    access_key: str, secret_key: str, serving: tuple[str, str, str] | None = None
) -> dict[str, object]:
    """SeaweedFS's ``-s3.config``: the RustFS root user, allowed every action; with ``serving``
    (access key, secret key, ``bucket/prefix``) also the serving user, who may read, write and
    list under that prefix only (SeaweedFS's ``Action:bucket/prefix*`` scoping)."""
    users: list[dict[str, object]] = [
        {
            "name": "rustfs-root",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
    ]
    if serving:
        key, secret, scope = serving
        users.append(
            {
                "name": "mlstack-serving",
                "credentials": [{"accessKey": key, "secretKey": secret}],
                "actions": [f"{action}:{scope}/*" for action in ("Read", "Write", "List")],
            }
        )
    return {"identities": users}


def serving_user() -> tuple[str, str, str] | None:
    """What a RustFS admin creates by hand for Streamlit and the API (docs/security/README.md): the
    key pair MLSTACK_SERVING_S3_ACCESS_KEY / _SECRET_KEY (or their *_FILE) limited to the data root
    MLSTACK_DATA_ROOT (``s3://bucket/prefix``). None when the pair is not given."""
    key, secret = credential("MLSTACK_SERVING_S3_ACCESS_KEY"), credential("MLSTACK_SERVING_S3_SECRET_KEY")
    if not (key and secret):
        return None
    root = os.environ.get("MLSTACK_DATA_ROOT", "")
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    if not root.startswith("s3://") or not bucket or not prefix.strip("/"):
        # A whole-bucket scope would reach MLflow's artifacts too: no serving user rather than that.
        log(f"no serving user: MLSTACK_DATA_ROOT {root!r} is not s3://<bucket>/<prefix>")
        return None
    return key, secret, f"{bucket}/{prefix.strip('/')}"


def weed_command(data: Path, run: Path, s3_config: Path) -> list[str]:
    return [
        "weed",
        "server",
        f"-dir={data}",
        f"-master.dir={run / 'master'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in INTERNAL_PORTS.items()),
        "-filer",
        "-s3",
        f"-s3.config={s3_config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        "-volume.max=0",  # from free disk: each bucket is a collection of 7 volumes
        "-master.volumeSizeLimitMB=256",
    ]


def seaweedfs_ready() -> bool:
    """The S3 gateway answers and a volume server has joined the master (objects can be stored)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{S3_PORT}/healthz", timeout=2) as response:
            if response.status != 200:
                return False
        master = f"http://127.0.0.1:{INTERNAL_PORTS['master.port']}/dir/status"
        with urllib.request.urlopen(master, timeout=2) as response:
            topology = json.load(response).get("Topology", {})
    except (OSError, ValueError):
        return False
    return any(
        rack.get("DataNodes")
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
    )


def log(message: str) -> None:
    print(f"rustfs-standin: {message}", file=sys.stderr, flush=True)


def stop(processes: list[subprocess.Popen[bytes]], grace: float = 5.0) -> None:
    """SIGTERM each process, SIGKILL what is left after ``grace`` seconds.

    SeaweedFS's filer waits up to 15 s for its gRPC streams on a graceful stop, longer than
    `docker stop` waits; every object it acknowledged is already written to /data.
    """
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def credential(name: str) -> str:
    """``name``, or the content of the file ``name``_FILE names (RustFS's file-based credentials,
    e.g. a compose secret); "" when neither is set."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return ""
    with open(path) as fh:
        value = fh.read().strip()
    if not value:
        sys.exit(f"rustfs-standin: {name}_FILE ({path}) is empty")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(prog="rustfs", description=__doc__)
    parser.add_argument("--address", default=os.environ.get("RUSTFS_ADDRESS", ":9000"))
    parser.add_argument("--access-key", default=credential("RUSTFS_ACCESS_KEY") or "rustfsadmin")
    parser.add_argument("--secret-key", default=credential("RUSTFS_SECRET_KEY") or "rustfsadmin")
    parser.add_argument("--console-enable", action="store_true")
    parser.add_argument("volumes", nargs="*")
    args = parser.parse_args()
    if not credential("RUSTFS_ACCESS_KEY") or not credential("RUSTFS_SECRET_KEY"):
        log("WARNING default credentials in use")
    volumes = args.volumes or os.environ.get("RUSTFS_VOLUMES", "/data").split()
    data = Path(volumes[0])
    run = Path(tempfile.mkdtemp(prefix="rustfs-standin-"))
    (run / "master").mkdir()
    s3_config = run / "identities.json"
    s3_config.touch(mode=0o600)
    serving = serving_user()
    s3_config.write_text(json.dumps(identities(args.access_key, args.secret_key, serving)))
    nginx_conf = run / "nginx.conf"
    nginx_conf.write_text(
        NGINX_CONF.format(run=run, s3_port=S3_PORT, listen=nginx_listen(args.address), health=HEALTH)
    )

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # The filer keeps bucket and key metadata in leveldb under /data (WEED_* set its store).
    env = {**os.environ, "WEED_LEVELDB2_ENABLED": "true", "WEED_LEVELDB2_DIR": str(data / "filer")}
    processes = [subprocess.Popen(weed_command(data, run, s3_config), env=env, cwd=run)]
    started = time.monotonic()
    while not stopping and processes[0].poll() is None and not seaweedfs_ready():
        time.sleep(0.2)
    if not stopping and processes[0].poll() is None:
        processes.append(subprocess.Popen(["nginx", "-e", "stderr", "-p", str(run), "-c", str(nginx_conf)]))
        log(
            f"S3 API on {args.address} (SeaweedFS, SigV4 checked, data in {data}"
            f"{f', serving user limited to {serving[2]}/' if serving else ''}), "
            f"ready in {time.monotonic() - started:.1f}s"
        )
    while not stopping and all(process.poll() is None for process in processes):
        time.sleep(0.5)
    exited = [process.args[0] for process in processes if process.poll() is not None]
    stop(processes)
    if stopping:
        return 0
    log(f"{', '.join(map(str, exited))} exited: stopping")
    return 1


if __name__ == "__main__":
    sys.exit(main())
