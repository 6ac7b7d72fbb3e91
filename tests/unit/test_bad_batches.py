"""Bad batches: each gets a clear error, the champion does not change, the raw batch is kept."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from mlstack import lifecycle
from mlstack.data import sources
from mlstack.data.store import ArtifactStore
from mlstack.errors import DataValidationError, SourceError, UnreadableSourceError
from mlstack.registry.versions import champion_version, list_versions


def _good() -> pd.DataFrame:
    return sources.parse(sources.fetch("builtin:penguins"))


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _missing_column():
    return _csv(_good().drop(columns=["bill_depth_mm"]))


def _wrong_dtype():
    frame = _good()
    frame["flipper_length_mm"] = frame["flipper_length_mm"].astype(str) + "mm"
    return _csv(frame)


def _all_null():
    return _csv(_good().assign(body_mass_g=float("nan")))


def _out_of_range():
    frame = _good()
    frame.loc[10:14, "body_mass_g"] = 250000.0
    return _csv(frame)


def _unknown_category():
    frame = _good()
    frame.loc[3, "island"] = "Atlantis"
    return _csv(frame)


def _missing_target():
    return _csv(_good().drop(columns=["species"]))


def _mostly_duplicates():
    return _csv(pd.concat([_good().head(5)] * 30))


def _garbled():
    return _csv(_good()).replace(b"Torgersen", b"Torg\xe9rsen\xff\xfe")


CASES = {
    # name: (bytes, expected error type, message fragments)
    "missing column": (_missing_column, DataValidationError, ["bill_depth_mm", "missing"]),
    "wrong dtype": (_wrong_dtype, DataValidationError, ["flipper_length_mm", "dtype should be float64"]),
    "all-null column": (_all_null, DataValidationError, ["body_mass_g", "null_share"]),
    "out-of-range value": (_out_of_range, DataValidationError, ["body_mass_g", "in_range", "250000"]),
    "unknown category": (_unknown_category, DataValidationError, ["island", "Atlantis"]),
    "empty file": (lambda: b"", UnreadableSourceError, ["empty"]),
    "missing target": (_missing_target, DataValidationError, ["species", "missing"]),
    "mostly duplicates": (_mostly_duplicates, DataValidationError, ["duplicate_share"]),
    "non-UTF-8 CSV": (_garbled, UnreadableSourceError, ["not valid UTF-8"]),
    "header only": (lambda: b"species,island,bill_length_mm\n", DataValidationError, ["min_rows"]),
    "unparseable CSV": (lambda: b'a,b\n1,"2\n3,4', UnreadableSourceError, ["malformed CSV"]),
    "duplicate column names": (
        lambda: b"island,island,year\nDream,Dream,2008\n",
        UnreadableSourceError,
        ["duplicate column"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_batch_is_refused_and_nothing_is_lost(trained, tmp_path, case):
    ctx, first = trained
    make, error, fragments = CASES[case]
    data = make()
    path = tmp_path / "batch.csv"
    path.write_bytes(data)
    name = first["register"]["name"]
    versions_before = len(list_versions(ctx.settings, ctx.spec))

    with pytest.raises(error) as info:
        lifecycle.run_all(ctx, str(path))

    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert champion_version(ctx.settings, name) == first["champion"]
    assert len(list_versions(ctx.settings, ctx.spec)) == versions_before
    store = ArtifactStore.from_settings(ctx.settings)
    raw_key = f"raw/{hashlib.sha256(data).hexdigest()[:16]}/batch.csv"
    if data.strip():
        assert store.get_bytes(raw_key) == data
    else:  # the empty batch is kept too, as an empty file
        assert store.exists(raw_key)


def test_missing_file_is_a_clear_source_error(trained, tmp_path):
    ctx, first = trained
    with pytest.raises(UnreadableSourceError, match="no such file"):
        lifecycle.run_all(ctx, str(tmp_path / "nope.csv"))
    assert champion_version(ctx.settings, first["register"]["name"]) == first["champion"]


def test_a_source_unreachable_for_now_is_retried_not_refused():
    """Nothing listens on the port: a transient SourceError (the DAG task retries it with
    backoff), not the UnreadableSourceError that fails the task at once."""
    from devstack.ports import free_port

    with pytest.raises(SourceError, match="download failed") as info:
        sources.fetch(f"http://127.0.0.1:{free_port()}/batch.csv", timeout=5)
    assert not isinstance(info.value, UnreadableSourceError)


def test_validation_report_is_saved_as_json_and_text(trained, tmp_path):
    ctx, _ = trained
    path = tmp_path / "b.csv"
    path.write_bytes(_unknown_category())
    ingested = lifecycle.ingest(ctx, str(path))
    with pytest.raises(DataValidationError):
        lifecycle.validate(ctx, ingested["dataset_id"])
    store = ArtifactStore.from_settings(ctx.settings)
    text = store.get_bytes(f"reports/validation/{ingested['dataset_id']}.txt").decode()
    assert "Atlantis" in text
    assert b'"passed": false' in store.get_bytes(f"reports/validation/{ingested['dataset_id']}.json")


def test_cli_validate_exits_2_listing_every_failing_check(tmp_path, monkeypatch):
    """The README's `mlstack validate <id>  # exit 2 with every failing check listed`, which CI
    scripts rely on: two problems in one batch, both named, exit code 2."""
    import json
    import os

    from typer.testing import CliRunner

    from mlstack.cli import app
    from mlstack.config import get_settings

    for var in list(os.environ):
        if var.startswith(("MLSTACK_", "MLFLOW_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no .env/.secrets of the checkout
    get_settings.cache_clear()
    frame = _good()
    frame.loc[3, "island"] = "Atlantis"
    frame.loc[5, "body_mass_g"] = 250_000.0
    (tmp_path / "two-problems.csv").write_bytes(_csv(frame))
    runner = CliRunner()

    ingested = runner.invoke(app, ["ingest", "two-problems.csv", "--json"])
    assert ingested.exit_code == 0, ingested.output
    dataset_id = json.loads(ingested.stdout)["dataset_id"]
    validated = runner.invoke(app, ["validate", dataset_id])
    get_settings.cache_clear()

    assert validated.exit_code == 2, validated.output
    assert "Atlantis" in validated.output and "island" in validated.output
    assert "body_mass_g" in validated.output and "250000" in validated.output
