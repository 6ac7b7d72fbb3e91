"""Sources a DAG run may read (issue 15 §4): the allowlist, http without redirects and with a cap,
credentials masked in every message. A real HTTP server on 127.0.0.1 serves the downloads."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from mlstack import lifecycle
from mlstack.config import SECRET_MASK
from mlstack.data import sources
from mlstack.data.sources import SourcePolicy, mask_secrets
from mlstack.errors import SourceError

from .conftest import make_settings

BIG = 200_000


class _Handler(http.server.BaseHTTPRequestHandler):
    """/ok.csv: a small CSV; /redirect: 302 to an internal address; /big*.csv: past the cap."""

    def do_GET(self) -> None:
        body = b""
        if self.path == "/ok.csv":
            body = b"a,b\n1,2\n"
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/?token=s3cr3t-tok")
            self.end_headers()
            return
        elif self.path == "/big.csv":
            body = b"a,b\n" + b"1,2\n" * (BIG // 4)
        elif self.path == "/big-chunked.csv":  # no Content-Length: the cap applies while reading
            self.send_response(200)
            self.end_headers()
            for _ in range(BIG // 4000):
                self.wfile.write(b"1,2\n" * 1000)
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _dag_ctx(tmp_path, **overrides) -> lifecycle.Context:
    return lifecycle.context(make_settings(tmp_path / "home", **overrides), "penguins")


def _batch(path) -> str:
    frame = sources.parse(sources.fetch("builtin:penguins")).head(60)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


def test_a_dag_run_reads_only_the_allowlist_and_the_cli_reads_the_users_files(tmp_path):
    ctx = _dag_ctx(tmp_path)
    assert not ctx.trusted_caller, "the DAG path is the strict one by default"
    own = _batch(tmp_path / "mine" / "batch.csv")
    with pytest.raises(SourceError, match="not in the allowlist"):
        lifecycle.ingest(ctx, own)
    with pytest.raises(SourceError, match="not in the allowlist"):
        lifecycle.ingest(ctx, "/etc/hostname")
    inside = _batch(tmp_path / "home" / "data" / "incoming" / "batch.csv")
    assert lifecycle.ingest(ctx, inside)["rows"] == 60
    # `..` and symlinks are resolved before the check
    with pytest.raises(SourceError, match="not in the allowlist"):
        lifecycle.ingest(ctx, str(tmp_path / "home" / "data" / ".." / ".." / "mine" / "batch.csv"))
    link = tmp_path / "home" / "data" / "link.csv"
    link.symlink_to(own)
    with pytest.raises(SourceError, match="not in the allowlist"):
        lifecycle.ingest(ctx, str(link))
    assert lifecycle.ingest(ctx, "builtin:penguins")["rows"] == 344
    cli = lifecycle.context(ctx.settings, "penguins", trusted_caller=True)
    assert lifecycle.ingest(cli, own)["rows"] == 60
    allowed = _dag_ctx(tmp_path, source_allowlist=[str(tmp_path / "mine")])
    assert lifecycle.ingest(allowed, own)["rows"] == 60


def test_allowlist_matches_scheme_host_and_path_prefix():
    policy = SourcePolicy(allow=("s3://data-bucket/", "https://files.example.com/exports/"))
    policy.check("s3://data-bucket/any/key.csv")
    policy.check("https://files.example.com/exports/2026/b.csv")
    for refused in (
        "s3://other-bucket/key.csv",
        "http://files.example.com/exports/b.csv",  # another scheme
        "https://files.example.com/exportsx/b.csv",  # a sibling path, not under the prefix
        "https://files.example.com/exports/../admin/b.csv",
        "https://files.example.com:8443/exports/b.csv",  # another port
        "https://evil.example.com/exports/b.csv",
        "postgresql://u:pw@db/x?table=t",  # pragma: allowlist secret
    ):
        with pytest.raises(SourceError, match="not in the allowlist"):
            policy.check(refused)


def test_default_allowlist_is_the_data_root_its_bucket_and_the_repository_data(tmp_path):
    settings = make_settings(tmp_path, data_root="s3://mlstack-data/runs")
    allow = sources.default_allowlist(settings)
    assert allow[:2] == ("s3://mlstack-data/runs", "s3://mlstack-data/")
    assert allow[2].endswith("/data")


def test_http_follows_no_redirect(web, tmp_path):
    ctx = _dag_ctx(tmp_path, source_allowlist=[f"http://{web}/"])
    assert lifecycle.ingest(ctx, f"http://{web}/ok.csv")["rows"] == 1
    with pytest.raises(SourceError, match="redirect") as info:
        lifecycle.ingest(ctx, f"http://{web}/redirect")
    assert "not followed" in str(info.value) and "s3cr3t-tok" not in str(info.value)


@pytest.mark.parametrize("path", ["/big.csv", "/big-chunked.csv"])
def test_http_stops_at_the_size_cap(web, tmp_path, path):
    ctx = _dag_ctx(tmp_path, source_allowlist=[f"http://{web}/"], source_max_bytes=BIG // 2)
    with pytest.raises(SourceError, match="cap"):
        lifecycle.ingest(ctx, f"http://{web}{path}")
    # the CLI has the same cap
    cli = lifecycle.context(ctx.settings, "penguins", trusted_caller=True)
    with pytest.raises(SourceError, match="cap"):
        lifecycle.ingest(cli, f"http://{web}{path}")


def test_credentials_are_masked_in_every_message(web, tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path / "home"), "penguins", trusted_caller=True)
    for source in (
        f"http://user:hunter2-http@{web}/nope.csv",  # pragma: allowlist secret
        f"http://{web}/nope.csv?token=hunter2-http",
        "http://user:hunter2-http@127.0.0.1:9/b.csv",  # pragma: allowlist secret
        "postgresql://mlstack:hunter2-http@127.0.0.1:9/db?table=t",  # pragma: allowlist secret
        "postgresql://mlstack@127.0.0.1:9/db?table=t&password=hunter2-http",
    ):
        with pytest.raises(SourceError) as info:
            lifecycle.ingest(ctx, source)
        assert "hunter2-http" not in str(info.value), str(info.value)
        assert SECRET_MASK in str(info.value), str(info.value)
    strict = _dag_ctx(tmp_path)
    with pytest.raises(SourceError) as info:
        lifecycle.ingest(strict, f"https://u:hunter2-http@{web}/x.csv")  # pragma: allowlist secret
    assert "hunter2-http" not in str(info.value)


def test_mask_secrets_finds_credentials_anywhere_in_a_message():
    text = "failed: https://a:b-secret@h/x and postgresql://u:p%40ss@db/x?sslpassword=zz&table=t"  # pragma: allowlist secret
    masked = mask_secrets(text)
    assert "b-secret" not in masked and "p%40ss" not in masked and "zz" not in masked
    assert "table=t" in masked and "https://a:" in masked


def test_sql_query_must_be_one_select_before_any_connection():
    for query in ("DELETE FROM t; COMMIT", "DROP TABLE t", "SELECT 1; DROP TABLE t", "update t set a=1"):
        with pytest.raises(SourceError, match=r"one SELECT statement|one statement"):
            sources.fetch(f"postgresql://u@127.0.0.1:9/db?query={query}")
    with pytest.raises(SourceError, match="table name"):
        sources.fetch('postgresql://u@127.0.0.1:9/db?table=t; DROP TABLE "x"')
