"""Read a batch from a source URI, keeping its raw bytes.

Supported sources:
  path/to/file.csv | file.parquet | file:///abs/path   local file (CSV or Parquet)
  s3://bucket/key.csv                                  S3 or S3-compatible (MLSTACK_S3_ENDPOINT_URL)
  http(s)://host/file.csv                              HTTP download
  postgresql://user@host/db?table=name | ?query=SELECT  a Postgres table or query
  builtin:penguins | builtin:diabetes                  datasets shipped with mlstack / scikit-learn

Every caller gets the same limits: http(s) follows no redirect and stops at a size cap; SQL
runs one read-only statement under a statement_timeout; credentials are masked in every message.
A caller that is not the user at their own shell (a DAG run, a remote trigger) is also held to
an allowlist (`SourcePolicy`): by default the data root, its bucket and the repository's `data/`.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pandas as pd

from mlstack.data.store import read_uri_bytes
from mlstack.errors import SourceError, SourceNotAllowedError, UnreadableSourceError

if TYPE_CHECKING:
    from mlstack.config import Settings

PARQUET_MAGIC = b"PAR1"
_CHUNK = 1 << 20


@dataclass
class RawBatch:
    """What a source gave us, before any parsing: the bytes we keep, and their format."""

    source: str
    data: bytes
    format: str  # "csv" or "parquet"

    @property
    def filename(self) -> str:
        return f"batch.{self.format}"


@dataclass(frozen=True)
class SourcePolicy:
    """What a caller may read. `allow` holds URI prefixes (scheme, host, path); empty = anything.

    `trusted` is for the user's own shell (the local CLI): any file or URL, still with the
    size cap, the no-redirect rule and read-only SQL. Everything else is held to `allow`.
    """

    trusted: bool = False
    allow: tuple[str, ...] = ()
    max_bytes: int = 1 << 30
    sql_timeout_seconds: float = 60.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, trusted: bool = False) -> SourcePolicy:
        """The policy in force: MLSTACK_SOURCE_* settings; the default allowlist when none is set."""
        allow = tuple(settings.source_allowlist) or default_allowlist(settings)
        return cls(trusted, allow, settings.source_max_bytes, settings.source_sql_timeout_seconds)

    def check(self, source: str) -> None:
        """Raise SourceError unless this caller may read `source`."""
        if self.trusted or urlsplit(source).scheme.lower() == "builtin":
            return
        if not any(_under(source, prefix) for prefix in self.allow):
            raise SourceNotAllowedError(
                f"source {mask_secrets(source)}: not in the allowlist of sources a DAG run or remote "
                f"trigger may read ({', '.join(mask_secrets(a) for a in self.allow)}); add its prefix to "
                f"MLSTACK_SOURCE_ALLOWLIST, or read it with the local CLI"
            )


TRUSTED = SourcePolicy(trusted=True)


def default_allowlist(settings: Settings) -> tuple[str, ...]:
    """The data root, its whole bucket when it is on S3, and the repository's `data/` folder."""
    root = settings.resolved_data_root
    allow = [root]
    if root.startswith("s3://"):
        allow.append(f"s3://{urlsplit(root).netloc}/")
    allow.append(str(Path.cwd() / "data"))
    return tuple(allow)


def _under(source: str, prefix: str) -> bool:
    """True when `source` lies under `prefix`: same scheme and host, path inside (.. resolved)."""
    src, pre = urlsplit(source), urlsplit(prefix)
    local = {"", "file"}
    if src.scheme.lower() in local:
        if pre.scheme.lower() not in local:
            return False
        local_path = Path(source.removeprefix("file://")).expanduser().resolve()
        local_root = Path(prefix.removeprefix("file://")).expanduser().resolve()
        return local_path == local_root or local_path.is_relative_to(local_root)
    src_scheme = "postgresql" if src.scheme.lower().startswith("postgres") else src.scheme.lower()
    pre_scheme = "postgresql" if pre.scheme.lower().startswith("postgres") else pre.scheme.lower()
    if src_scheme != pre_scheme or (src.hostname, src.port) != (pre.hostname, pre.port):
        return False
    path = posixpath.normpath("/" + src.path.lstrip("/"))
    root = posixpath.normpath("/" + pre.path.lstrip("/"))
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


_URL_CREDENTIALS = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s]*@", re.IGNORECASE)
_SECRET_PARAMS = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|sslpassword|token|secret|api_?key|access_?key|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|sig|signature)=)[^&\s'\"]*",
    re.IGNORECASE,
)


def mask_secrets(text: str) -> str:
    """`text` with URL passwords and secret query parameters masked, wherever they appear."""
    from mlstack.config import SECRET_MASK

    text = _URL_CREDENTIALS.sub(lambda m: m["head"] + SECRET_MASK + "@", text)
    return _SECRET_PARAMS.sub(lambda m: m["head"] + SECRET_MASK, text)


def fetch(
    source: str, s3_endpoint_url: str | None = None, timeout: float = 60.0, policy: SourcePolicy = TRUSTED
) -> RawBatch:
    """The raw bytes of a source, if `policy` allows it. SourceError names the source (masked)."""
    try:
        policy.check(source)
        scheme = urlsplit(source).scheme.lower()
        if scheme == "builtin":
            return _builtin(source)
        if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
            return _postgres(source, policy)
        if scheme in ("http", "https"):
            data = _http(source, timeout, policy.max_bytes)
        else:
            data = read_uri_bytes(source, s3_endpoint_url)
            if len(data) > policy.max_bytes:
                raise SourceError(f"source {source}: larger than the cap of {policy.max_bytes} bytes")
    except SourceError as exc:
        raise type(exc)(mask_secrets(str(exc))) from None
    return RawBatch(mask_secrets(source), data, _detect_format(source, data))


def parse(raw: RawBatch, *, only_empty_is_missing: bool = False) -> pd.DataFrame:
    """Bytes to a DataFrame; garbled, empty or truncated input raises UnreadableSourceError.

    ``only_empty_is_missing``: for rows to predict, only an empty CSV cell is missing; "NaN",
    "NA" or "null" written in a cell stay text, which the input checks refuse like the string
    "NaN" in JSON (pandas would silently read them as missing)."""
    if not raw.data.strip():
        raise UnreadableSourceError(f"source {raw.source}: the file is empty")
    if raw.format == "parquet":
        try:
            return pd.read_parquet(io.BytesIO(raw.data))
        except Exception as exc:
            raise UnreadableSourceError(f"source {raw.source}: not a readable Parquet file ({exc})") from None
    try:
        text = raw.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableSourceError(
            f"source {raw.source}: not valid UTF-8 text (byte {exc.start}: "
            f"{raw.data[exc.start : exc.start + 1]!r}); save the CSV as UTF-8"
        ) from None
    _sniff(raw.source, text)
    try:
        if only_empty_is_missing:
            frame = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
        else:
            frame = pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        raise UnreadableSourceError(f"source {raw.source}: the file has no columns") from None
    except pd.errors.ParserError as exc:
        raise UnreadableSourceError(f"source {raw.source}: malformed CSV ({exc})") from None
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise UnreadableSourceError(f"source {raw.source}: duplicate column names {dupes}")
    return frame


_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _sniff(source: str, text: str) -> None:
    """Refuse text that is plainly not comma-separated CSV, saying what it looks like instead."""
    start = text.lstrip()[:1]
    if start in ("[", "{"):
        raise UnreadableSourceError(
            f"source {source}: the file is JSON, not CSV; export the rows as comma-separated CSV"
        )
    if start == "<":
        raise UnreadableSourceError(
            f"source {source}: the file is HTML or XML (an error page?), not CSV; check where it came from"
        )
    header = text.lstrip().split("\n", 1)[0]
    if "," not in header:
        for sep, name in _SEPARATORS.items():
            if sep in header:
                raise UnreadableSourceError(
                    f"source {source}: the header has no commas but {header.count(sep)} {name}s: the file "
                    f"looks {name}-separated; save it as comma-separated CSV"
                )


def _detect_format(source: str, data: bytes) -> str:
    path = urlsplit(source).path.lower()
    if path.endswith((".parquet", ".pq")) or data[:4] == PARQUET_MAGIC:
        return "parquet"
    return "csv"


def _http(source: str, timeout: float, max_bytes: int) -> bytes:
    """A download that follows no redirect (it could reach an internal service) and stops at the cap."""
    import requests

    try:
        with requests.get(source, timeout=timeout, allow_redirects=False, stream=True) as response:
            if response.is_redirect or 300 <= response.status_code < 400:
                where = mask_secrets(response.headers.get("Location", "?"))
                raise SourceError(
                    f"source {source}: HTTP {response.status_code} redirect to {where}; redirects are not "
                    f"followed, use the final address"
                )
            if response.status_code != 200:
                raise SourceError(f"source {source}: HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(f"source {source}: {declared} bytes, over the cap of {max_bytes} bytes")
            body = bytearray()
            for chunk in response.iter_content(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise SourceError(f"source {source}: over the cap of {max_bytes} bytes; download stopped")
            return bytes(body)
    except requests.RequestException as exc:
        raise SourceError(f"source {source}: download failed ({exc.__class__.__name__})") from None


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_READ_VERBS = ("select", "with", "values", "table")
_SQL_COMMENT = re.compile(r"(--[^\n]*|/\*.*?\*/)", re.DOTALL)


def _read_only_query(source: str, params: dict[str, str]) -> str:
    """The one SELECT a source may run: `?table=` becomes one, `?query=` must be one."""
    table, query = params.pop("table", None), params.pop("query", None)
    if table and query:
        raise SourceError(f"source {source}: give ?table= or ?query=, not both")
    if table:
        if not _IDENTIFIER.match(table):
            raise SourceError(f"source {source}: ?table= must be a table name (schema.table), got {table!r}")
        return "SELECT * FROM " + ".".join(f'"{part}"' for part in table.split("."))
    if not query:
        raise SourceError(f"source {source}: add ?table=<name> or ?query=<SELECT ...>")
    text = _SQL_COMMENT.sub(" ", query).strip().rstrip(";").strip()
    words = text.split(None, 1)
    if not words or words[0].lower() not in _READ_VERBS:
        raise SourceError(f"source {source}: ?query= must be one SELECT statement")
    if ";" in text:  # the server refuses a second statement anyway (extended protocol)
        raise SourceError(f"source {source}: ?query= must be one statement (no ';')")
    return text


def _postgres(source: str, policy: SourcePolicy) -> RawBatch:
    """A table or one SELECT in a read-only transaction under statement_timeout; kept as Parquet."""
    import sqlalchemy as sa

    parts = urlsplit(source)
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    query = _read_only_query(source, params)
    scheme = "postgresql+psycopg" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    rest = "&".join(f"{k}={v}" for k, v in params.items())
    url = urlunsplit((scheme, parts.netloc, parts.path, rest, ""))
    timeout_ms = max(1, int(policy.sql_timeout_seconds * 1000))
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    engine = sa.create_engine(url, connect_args={"options": options})
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(postgresql_readonly=True)
            # Parameters (none) force the extended protocol: the server runs exactly one statement.
            result = conn.exec_driver_sql(query.replace("%", "%%"), ())
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            conn.rollback()
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        raise SourceError(f"source {source}: {cause.__class__.__name__}: {first}") from None
    finally:
        engine.dispose()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return RawBatch(mask_secrets(source), buffer.getvalue(), "parquet")


def _builtin(source: str) -> RawBatch:
    name = urlsplit(source).path or source.split(":", 1)[1]
    if name == "penguins":
        data = (resources.files("mlstack.data") / "datasets" / "penguins.csv").read_bytes()
        return RawBatch(source, data, "csv")
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        frame = load_diabetes(as_frame=True).frame
        return RawBatch(source, frame.to_csv(index=False).encode(), "csv")
    raise UnreadableSourceError(f"source {source}: unknown builtin dataset (penguins, diabetes)")


def _redact(source: str) -> str:
    return mask_secrets(source)
