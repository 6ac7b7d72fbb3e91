"""Ingest: read a source, keep the raw batch, snapshot it as Parquet; content hash = dataset id."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pandas as pd

from mlstack.config import Settings
from mlstack.data import sources
from mlstack.data.store import ArtifactStore
from mlstack.errors import SourceError


@dataclass(frozen=True)
class IngestResult:
    dataset_id: str
    snapshot_uri: str
    raw_uri: str
    rows: int
    columns: list[str]
    created: bool  # False when the same content was ingested before (a no-op)

    def to_dict(self) -> dict:
        return asdict(self)


def dataset_id_of(frame: pd.DataFrame) -> str:
    """Content hash of a table: column names, dtypes and every value (row order included)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return "ds-" + digest.hexdigest()[:16]


def snapshot_key(dataset_id: str) -> str:
    return f"snapshots/{dataset_id}/data.parquet"


def manifest_key(dataset_id: str) -> str:
    return f"snapshots/{dataset_id}/manifest.json"


def ingest(source: str, settings: Settings, trusted_caller: bool = False) -> IngestResult:
    """Fetch -> keep raw bytes -> parse -> snapshot. Same content twice returns the same id.

    `trusted_caller` is True only for the user's own shell (the local CLI); a DAG run or a
    remote trigger reads only what the source allowlist names (`sources.SourcePolicy`).
    """
    store = ArtifactStore.from_settings(settings)
    policy = sources.SourcePolicy.from_settings(settings, trusted=trusted_caller)
    raw = sources.fetch(source, settings.s3_endpoint_url, policy=policy)
    # The raw batch is kept before anything can fail, so a bad batch is never lost.
    raw_key = f"raw/{hashlib.sha256(raw.data).hexdigest()[:16]}/{raw.filename}"
    raw_uri = store.uri(raw_key) if store.exists(raw_key) else store.put_bytes(raw_key, raw.data)
    try:
        frame = sources.parse(raw)
    except SourceError as exc:
        raise type(exc)(f"{exc} (raw batch kept at {raw_uri})") from None

    dataset_id = dataset_id_of(frame)
    key = snapshot_key(dataset_id)
    if store.exists(manifest_key(dataset_id)):
        return IngestResult(dataset_id, store.uri(key), raw_uri, len(frame), _cols(frame), False)

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    snapshot_uri = store.put_bytes(key, buffer.getvalue())
    manifest = {
        "dataset_id": dataset_id,
        "source": sources._redact(source),
        "raw_uri": raw_uri,
        "snapshot_uri": snapshot_uri,
        "rows": len(frame),
        "columns": _cols(frame),
        "ingested_at": datetime.now(UTC).isoformat(),
    }
    # The manifest is written last: its presence marks a complete snapshot.
    store.put_bytes(manifest_key(dataset_id), json.dumps(manifest, indent=2).encode())
    return IngestResult(dataset_id, snapshot_uri, raw_uri, len(frame), _cols(frame), True)


def load_snapshot(dataset_id: str, settings: Settings) -> pd.DataFrame:
    store = ArtifactStore.from_settings(settings)
    if not store.exists(manifest_key(dataset_id)):
        raise SourceError(f"dataset {dataset_id}: no snapshot in {store.root}; ingest it first")
    return pd.read_parquet(io.BytesIO(store.get_bytes(snapshot_key(dataset_id))))


def _cols(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns]
