"""Read a batch from a source URI, keeping its raw bytes.

Supported sources:
  path/to/file.csv | file.parquet | file:///abs/path   local file (CSV or Parquet)
  s3://bucket/key.csv                                  S3 or S3-compatible (MLSTACK_S3_ENDPOINT_URL)
  http(s)://host/file.csv                              HTTP download
  postgresql://user@host/db?table=name | ?query=SELECT  a Postgres table or query
  builtin:penguins | builtin:diabetes                  datasets shipped with mlstack / scikit-learn
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pandas as pd

from mlstack.data.store import read_uri_bytes
from mlstack.errors import SourceError, UnreadableSourceError

PARQUET_MAGIC = b"PAR1"


@dataclass
class RawBatch:
    """What a source gave us, before any parsing: the bytes we keep, and their format."""

    source: str
    data: bytes
    format: str  # "csv" or "parquet"

    @property
    def filename(self) -> str:
        return f"batch.{self.format}"


def fetch(source: str, s3_endpoint_url: str | None = None, timeout: float = 60.0) -> RawBatch:
    """The raw bytes of a source. Raises SourceError naming the source and the problem."""
    scheme = urlsplit(source).scheme.lower()
    if scheme == "builtin":
        return _builtin(source)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        return _postgres(source)
    if scheme in ("http", "https"):
        data = _http(source, timeout)
    else:
        data = read_uri_bytes(source, s3_endpoint_url)
    return RawBatch(source, data, _detect_format(source, data))


def parse(raw: RawBatch) -> pd.DataFrame:
    """Bytes to a DataFrame; garbled, empty or truncated input raises UnreadableSourceError."""
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


def _http(source: str, timeout: float) -> bytes:
    import requests

    try:
        response = requests.get(source, timeout=timeout)
    except requests.RequestException as exc:
        raise SourceError(f"source {source}: download failed ({exc.__class__.__name__})") from None
    if response.status_code != 200:
        raise SourceError(f"source {source}: HTTP {response.status_code}")
    return response.content


def _postgres(source: str) -> RawBatch:
    """A table or query; the raw batch kept is the result as Parquet."""
    import sqlalchemy as sa

    parts = urlsplit(source)
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    table, query = params.pop("table", None), params.pop("query", None)
    if not (table or query):
        raise SourceError(f"source {_redact(source)}: add ?table=<name> or ?query=<SELECT ...>")
    scheme = "postgresql+psycopg" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    rest = "&".join(f"{k}={v}" for k, v in params.items())
    url = urlunsplit((scheme, parts.netloc, parts.path, rest, ""))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            statement: sa.Select | sa.TextClause = (
                sa.select(sa.Table(table, sa.MetaData(), autoload_with=conn))
                if table
                else sa.text(str(query))
            )
            frame = pd.read_sql(statement, conn)
    except sa.exc.NoSuchTableError:
        raise SourceError(f"source {_redact(source)}: no table {table!r}") from None
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(
            f"source {_redact(source)}: {exc.__class__.__name__}: {getattr(exc, 'orig', exc)}"
        ) from None
    finally:
        engine.dispose()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return RawBatch(source, buffer.getvalue(), "parquet")


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
    from mlstack.config import mask_url_password

    return mask_url_password(source)
