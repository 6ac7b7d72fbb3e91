"""A PostgreSQL source runs one read-only SELECT under a statement_timeout (issue 15 §4).

A real PostgreSQL cluster (devstack): every refused statement is checked against the table
afterwards, so "refused" means nothing persisted, not just that an error was raised.
"""

from __future__ import annotations

import pytest

from mlstack.data import sources
from mlstack.data.sources import SourcePolicy
from mlstack.errors import SourceError

pytestmark = pytest.mark.integration


@pytest.fixture
def landing(postgres):
    db = postgres.create_database()
    with postgres.connect(db.name) as conn:
        conn.execute("CREATE TABLE t (a int, b text)")
        conn.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')")
    yield db
    postgres.drop_database(db.name)


def _rows(postgres, db) -> int:
    with postgres.connect(db.name) as conn:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def test_table_and_select_are_read(landing):
    assert len(sources.parse(sources.fetch(f"{landing.url}?table=t"))) == 3
    assert len(sources.parse(sources.fetch(f"{landing.url}?query=SELECT * FROM t WHERE b LIKE 'x%'"))) == 1


@pytest.mark.parametrize(
    "query",
    [
        "DELETE FROM t; COMMIT",
        "DROP TABLE t",
        "SELECT 1; DROP TABLE t",
        "SELECT 1; DELETE FROM t",
        "/* a comment */ DROP TABLE t",
    ],
)
def test_writes_are_refused_and_nothing_persists(postgres, landing, query):
    with pytest.raises(SourceError, match="one"):
        sources.fetch(f"{landing.url}?query={query}")
    assert _rows(postgres, landing) == 3


def test_a_write_hidden_in_a_select_is_refused_by_the_read_only_transaction(postgres, landing):
    for query in ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "SELECT * FROM t FOR UPDATE"):
        with pytest.raises(SourceError, match="read-only transaction"):
            sources.fetch(f"{landing.url}?query={query}")
    assert _rows(postgres, landing) == 3


def test_statement_timeout_ends_a_long_query(landing):
    policy = SourcePolicy(trusted=True, sql_timeout_seconds=0.5)
    with pytest.raises(SourceError, match="statement timeout"):
        sources.fetch(f"{landing.url}?query=SELECT pg_sleep(5)", policy=policy)


def test_errors_name_the_problem_and_never_the_password(postgres, landing):
    with pytest.raises(SourceError) as info:
        sources.fetch(f"{landing.url}?table=nope")
    assert "nope" in str(info.value) and postgres.password not in str(info.value)
    wrong = landing.url.replace(postgres.password, "wrong-pass-123")
    with pytest.raises(SourceError) as info:
        sources.fetch(f"{wrong}?table=t")
    assert "wrong-pass-123" not in str(info.value)
