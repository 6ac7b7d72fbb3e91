import pandas as pd
import pytest

from mlstack import lifecycle
from mlstack.data import sources
from mlstack.data.ingest import dataset_id_of, load_snapshot
from mlstack.data.store import ArtifactStore
from mlstack.errors import SourceError


def test_ingest_builtin_snapshots_parquet_and_keeps_raw(ctx):
    result = lifecycle.ingest(ctx)
    assert result["dataset_id"].startswith("ds-")
    assert result["rows"] == 344
    assert result["snapshot_uri"].endswith("data.parquet")
    snapshot = load_snapshot(result["dataset_id"], ctx.settings)
    assert len(snapshot) == 344
    raw = open(result["raw_uri"], "rb").read()
    assert raw == sources.fetch("builtin:penguins").data


def test_same_content_twice_is_a_noop_with_same_id(ctx, tmp_path):
    first = lifecycle.ingest(ctx)
    frame = sources.parse(sources.fetch("builtin:penguins"))
    path = tmp_path / "copy.parquet"
    frame.to_parquet(path, index=False)  # same content, another format and source
    second = lifecycle.ingest(ctx, str(path))
    assert second["dataset_id"] == first["dataset_id"]
    assert second["created"] is False


def test_different_content_gets_a_different_id():
    frame = sources.parse(sources.fetch("builtin:penguins"))
    changed = frame.copy()
    changed.loc[0, "bill_length_mm"] = 40.0
    assert dataset_id_of(frame) != dataset_id_of(changed)
    assert dataset_id_of(frame) == dataset_id_of(frame.copy())


def test_csv_and_http_sources(ctx, tmp_path):
    import http.server
    import threading

    frame = sources.parse(sources.fetch("builtin:penguins")).head(80)
    (tmp_path / "b.csv").write_text(frame.to_csv(index=False))
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/b.csv"
        via_http = lifecycle.ingest(ctx, url)
        missing = f"http://127.0.0.1:{server.server_address[1]}/nope.csv"
        with pytest.raises(SourceError, match="HTTP 404"):
            lifecycle.ingest(ctx, missing)
    finally:
        server.shutdown()
    via_file = lifecycle.ingest(ctx, str(tmp_path / "b.csv"))
    assert via_http["dataset_id"] == via_file["dataset_id"]
    assert via_http["rows"] == 80


def test_store_lists_raw_and_snapshots(ctx):
    result = lifecycle.ingest(ctx)
    keys = ArtifactStore.from_settings(ctx.settings).list("")
    assert any(k.startswith("raw/") for k in keys)
    assert f"snapshots/{result['dataset_id']}/manifest.json" in keys


def test_unknown_builtin_is_a_source_error(ctx):
    with pytest.raises(SourceError, match="unknown builtin"):
        lifecycle.ingest(ctx, "builtin:nope")


def test_parquet_detected_by_magic(tmp_path):
    frame = pd.DataFrame({"a": [1, 2]})
    path = tmp_path / "noext"
    frame.to_parquet(path, index=False)
    raw = sources.fetch(str(path))
    assert raw.format == "parquet"
    assert sources.parse(raw).equals(frame)
