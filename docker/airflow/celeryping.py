"""Healthcheck of a Celery worker without importing Airflow (which costs 10+ s of CPU).

    python /opt/mlstack/celeryping.py [TIMEOUT_S]

Exit 0 when this container's worker (celery@<hostname>) answers a ping over the broker within
TIMEOUT_S (default 10): what `celery --app airflow...celery_executor.app inspect ping -d
celery@$HOSTNAME` asks, without loading Airflow. Under load, those heavy checks outlived their
timeout and piled up in the worker container (about 100 MB each).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from celery import Celery
from mlstack_env import derive


def main(argv: list[str]) -> int:
    timeout = float(argv[0]) if argv else 10.0
    broker = derive("airflow").get("AIRFLOW__CELERY__BROKER_URL")
    if not broker:
        print("unhealthy: no broker (AIRFLOW__CORE__EXECUTOR is not CeleryExecutor)")
        return 1
    node = f"celery@{socket.gethostname()}"
    app = Celery(broker=broker)
    try:
        replies = app.control.ping(destination=[node], timeout=timeout)
    finally:
        app.close()
    if any(node in reply for reply in replies):
        print(f"ok: {node}")
        return 0
    print(f"unhealthy: {node} did not answer within {timeout:.0f}s")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
