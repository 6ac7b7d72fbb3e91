"""Healthcheck of an Airflow job process without importing Airflow (which costs 10+ s of CPU).

    python /opt/mlstack/jobcheck.py DagProcessorJob|TriggererJob|SchedulerJob [MAX_AGE_S]

Exit 0 when the metadata database holds a running job of that type for this container's
hostname whose heartbeat is younger than MAX_AGE_S (default 90): what
`airflow jobs check --job-type T --hostname $HOSTNAME` asks, for the price of a SQL query.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlstack_env import derive
from sqlalchemy import create_engine, text

QUERY = text(
    "SELECT count(*) FROM job WHERE job_type = :job_type AND state = 'running' "
    "AND hostname = :hostname AND latest_heartbeat > now() - make_interval(secs => :max_age)"
)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    job_type = argv[0]
    max_age = float(argv[1]) if len(argv) > 1 else 90.0
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or derive("airflow").get(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
    )
    if not url:
        print("unhealthy: no Airflow database configured", file=sys.stderr)
        return 1
    hostname = os.environ.get("HOSTNAME") or socket.getfqdn()
    engine = create_engine(url, pool_pre_ping=False, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            alive = conn.execute(
                QUERY, {"job_type": job_type, "hostname": hostname, "max_age": max_age}
            ).scalar_one()
    except Exception as exc:  # any database error makes the container unhealthy
        print(f"unhealthy: {type(exc).__name__}: {exc}"[:500], file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if not alive:
        print(f"unhealthy: no running {job_type} on {hostname} with a heartbeat < {max_age:.0f}s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
