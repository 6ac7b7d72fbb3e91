"""The quality loop with the prediction log on a real PostgreSQL cluster (devstack): a log created
before the `shadow` column gets it; batch predictions, shadow rows, feedback read from a Postgres
table, the labelled join, agreement and live quality all run on Postgres."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from mlstack import lifecycle, tracking
from mlstack.config import Settings
from mlstack.data import sources
from mlstack.data.synthetic import generate
from mlstack.monitoring.feedback import labelled_predictions, record_feedback
from mlstack.monitoring.live_quality import quality_verdict
from mlstack.monitoring.prediction_log import engine_for, read_predictions
from mlstack.monitoring.shadow import agreement
from mlstack.serving.batch_inference import read_output, run_batch_inference
from tests.support.log_rows import assert_rows_as_sqlalchemy_writes_them

pytestmark = pytest.mark.integration

OLD_LOG = """CREATE TABLE predictions (
    id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL, prediction_id VARCHAR(32),
    model_name VARCHAR(200) NOT NULL, model_version VARCHAR(20) NOT NULL, source VARCHAR(40) NOT NULL,
    inputs JSON NOT NULL, output JSON NOT NULL)"""


@pytest.fixture
def log_db(postgres):
    db = postgres.create_database()
    with postgres.connect(db.name) as conn:
        conn.execute(OLD_LOG)  # a log written before shadow predictions existed
        conn.execute(
            "INSERT INTO predictions (at, prediction_id, model_name, model_version, source, inputs, output) "
            "VALUES (now(), 'aa', 'penguins-classifier', '1', 'old', '{}', '{\"prediction\": \"Adelie\"}')"
        )
    yield db
    engine_for.cache_clear()
    postgres.drop_database(db.name)


def test_the_direct_insert_writes_what_sqlalchemy_writes_on_postgres(log_db, tmp_path):
    """psycopg's executemany of the prepared INSERT (JSON text cast to json, times with their
    zone) reads back as SQLAlchemy's own insert of the same rows."""
    engine_for.cache_clear()
    settings = Settings(
        _env_file=None, home=tmp_path / "home", tracking_uri=None, prediction_log_url=log_db.url
    )
    assert_rows_as_sqlalchemy_writes_them(settings)


def test_the_loop_on_postgres(log_db, tmp_path):
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        tracking_uri=None,
        prediction_log_url=log_db.url,
        shadow_share=1.0,
    )
    ctx = lifecycle.context(settings, "penguins", trusted_caller=True)
    first = lifecycle.run_all(ctx)["register"]["version"]
    second = lifecycle.run_all(ctx)["register"]["version"]
    client = tracking.configure(settings)
    name = tracking.model_name(settings, ctx.spec)
    client.set_registered_model_alias(name, "champion", first)
    client.set_registered_model_alias(name, "challenger", second)

    # the old log gained the column; its old row counts as a served answer
    columns = {c["name"] for c in sa.inspect(engine_for(log_db.url)).get_columns("predictions")}
    assert "shadow" in columns
    assert "aa" in set(read_predictions(settings)["prediction_id"])

    batch = tmp_path / "home" / "data" / "in.csv"
    batch.parent.mkdir(parents=True, exist_ok=True)
    generate(400, seed=4).to_csv(batch, index=False)
    result = run_batch_inference(settings, ctx.spec, str(batch), "pg", chunk_size=150)
    assert result.scored == 400 and result.logged == 400 and result.shadow["rows"] == 400
    out = read_output(result.output_uri)

    # ground truth from a Postgres table, the way `mlstack feedback postgresql://...?table=` reads it
    labels = out[["prediction_id", "species"]].copy()
    labels.loc[len(labels)] = ["b" * 32, "Adelie"]  # unknown id: refused, kept
    engine = sa.create_engine(log_db.url.replace("postgresql://", "postgresql+psycopg://"))
    labels.to_sql("labels", engine, index=False)
    engine.dispose()
    raw = sources.fetch(f"{log_db.url}?table=labels")
    fed = record_feedback(settings, ctx.spec, sources.parse(raw), "pg", raw=raw.data, raw_format=raw.format)
    assert fed.accepted == 400 and [r.row for r in fed.rejected] == [401]

    labelled = labelled_predictions(settings)
    assert len(labelled) == 800  # each label grades the served answer and the shadow one
    assert set(labelled[labelled["shadow"]]["model_version"]) == {second}
    rates = agreement(settings, name)
    assert int(rates["rows"].sum()) == 400 and float(rates["agreement"].iloc[0]) > 0.8
    verdict = quality_verdict(settings.model_copy(update={"quality_min_labels": 100}), ctx.spec)
    assert verdict.labels == 400 and verdict.enough_labels and verdict.value > 0.8
    assert pd.notna(verdict.offline)


def test_a_large_request_is_logged_in_parts_and_a_connection_lost_part_way_logs_none(
    log_db, tmp_path, monkeypatch
):
    """A 1,000-row request is scored in parts and logged in one PostgreSQL transaction while the
    next part is scored: every row is logged, in order. When the server ends the log's connection
    after two parts, the answer still comes whole, says that none of its rows were logged, and
    none were (the two parts written were never committed)."""
    from mlstack.monitoring import prediction_log
    from mlstack.serving import service
    from mlstack.serving.loader import ModelServer

    engine_for.cache_clear()
    settings = Settings(
        _env_file=None, home=tmp_path / "home", tracking_uri=None, prediction_log_url=log_db.url
    )
    ctx = lifecycle.context(settings, "penguins", trusted_caller=True)
    lifecycle.run_all(ctx)
    rows = generate(1000, seed=5)[ctx.spec.feature_names].astype(object)
    rows = rows.where(rows.notna(), None).to_dict("records")
    server = ModelServer(settings, ctx.spec)
    assert server.current().fast is not None

    served = service.predict(server, rows, "pg-parts")
    assert served.log.ok and served.log.written == 1000
    logged = read_predictions(settings)
    logged = logged[logged["source"] == "pg-parts"]
    assert logged["prediction_id"].tolist() == list(served.prediction_ids)
    assert logged["prediction"].tolist() == served.prediction.predictions

    real_append, appended = prediction_log.LogTransaction.append, []

    def append(self, *args, **kwargs):
        appended.append(1)
        if len(appended) == 3:  # the server ends this transaction's connection, as a restart would
            pid = self.conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with engine_for(log_db.url).connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        return real_append(self, *args, **kwargs)

    monkeypatch.setattr(prediction_log.LogTransaction, "append", append)
    cut = service.predict(server, rows, "pg-parts-cut")
    assert len(cut.prediction.predictions) == 1000 and len(appended) == 3
    assert cut.log.written == 0 and cut.log.failed == 1000
    assert cut.log.error.startswith("1,000 of 1,000 predictions could not be written")
    assert "pg-parts-cut" not in set(read_predictions(settings)["source"])
