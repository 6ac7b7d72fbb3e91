"""The stack's read-only PostgreSQL role for sources (issue 15 §4: "a read-only role in the stack").

`docker/postgres/10-create-databases.sh` (run by the postgres container on its first start) runs
here as the image runs it: psql as the superuser, passwords from the environment, against a fresh
real PostgreSQL cluster. mlstack_reader then reads a table of the mlstack database as a DAG source
would, and every way of writing is refused by the server, not only by mlstack's SELECT check.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import pg_bindir, start_postgres
from mlstack.data import sources

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker/postgres/10-create-databases.sh"


@pytest.fixture(scope="module")
def stack_postgres():
    """A fresh cluster whose superuser is `postgres`, initialised by the stack's script (twice: it
    must be idempotent), with the owner's and the reader's passwords."""
    server = start_postgres(user="postgres")
    passwords = {name: secrets.token_urlsafe(16) for name in ("airflow", "mlflow", "mlstack", "reader")}
    env = {
        "PATH": f"{pg_bindir()}:{os.environ['PATH']}",
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGPASSWORD": server.password,
        "POSTGRES_USER": "postgres",
        "AIRFLOW_DB_PASSWORD": passwords["airflow"],
        "MLFLOW_DB_PASSWORD": passwords["mlflow"],
        "MLSTACK_DB_PASSWORD": passwords["mlstack"],
        "MLSTACK_DB_READER_PASSWORD": passwords["reader"],
    }
    try:
        for _ in range(2):
            done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "read-only role mlstack_reader on database mlstack" in done.stdout
            assert passwords["reader"] not in done.stdout + done.stderr
        yield server, passwords
    finally:
        server.stop()


def _url(server, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@{server.host}:{server.port}/mlstack"


def test_the_reader_reads_tables_the_owner_makes_and_writes_nothing(stack_postgres):
    server, passwords = stack_postgres
    owner = _url(server, "mlstack", passwords["mlstack"])
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS labels (id int, species text)")
        conn.execute("DELETE FROM labels")
        conn.execute("INSERT INTO labels VALUES (1, 'Adelie'), (2, 'Gentoo')")

    reader = _url(server, "mlstack_reader", passwords["reader"])
    # As a DAG run reads it (the table was made after the role: default privileges cover it).
    assert len(sources.parse(sources.fetch(f"{reader}?table=labels"))) == 2

    writes = [
        "INSERT INTO labels VALUES (3, 'Chinstrap')",
        "DELETE FROM labels",
        "DROP TABLE labels",
        "CREATE TABLE mine (a int)",
    ]
    for statement in writes:
        # Even past the default read-only transaction, the role has no right to write.
        with psycopg.connect(reader, autocommit=True) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
            conn.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(owner) as conn:
        assert conn.execute("SELECT count(*) FROM labels").fetchone()[0] == 2


def test_the_reader_reaches_no_other_database(stack_postgres):
    server, passwords = stack_postgres
    for database in ("airflow", "mlflow"):
        url = f"postgresql://mlstack_reader:{passwords['reader']}@{server.host}:{server.port}/{database}"
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(url).close()
