"""Faults with real processes: MLflow killed mid-run, Postgres restarted mid-run, S3 cut off during
register, two promotions racing, serving while the registry is down.

One private stack for the module (so killing it never disturbs other tests): a PostgreSQL cluster,
devstack's S3 server (SeaweedFS) behind a TCP proxy (cutting the proxy is an S3 outage that keeps the objects),
and an MLflow server on both. The lifecycle steps run the way the training DAG runs them: each
step a task with retries and exponential backoff (``faults.run_task``), the Airflow run id exported
so `register` is idempotent, one failure mail after the last try.

After every fault the registry must be consistent: every version READY, every alias on a version
whose model files load, the champion moved once per promotion, the promotion lock released.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack import ServerUnavailable
from devstack.mlflow_server import start_mlflow_server
from devstack.postgres import start_postgres
from devstack.s3 import start_s3_server
from devstack.smtp import start_smtp_server
from mlstack import lifecycle, tracking
from mlstack.config import Settings
from mlstack.registry import CHAMPION, lock
from mlstack.registry.versions import champion_version
from tests.reliability.faults import (
    TaskRun,
    TcpProxy,
    airflow_task_env,
    run_task,
    wait_until,
)
from tests.support.require import unavailable

# One worker for the module: its stack is module-scoped, and serving-while-the-registry-is-down
# reads the champion that the MLflow-kill test trained.
pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.xdist_group("faults")]

STEPS = ("ingest", "validate", "train", "evaluate", "register", "promote")


@dataclasses.dataclass
class Stack:
    postgres: object
    s3: object
    s3_proxy: TcpProxy
    mlflow: object
    data_bucket: str
    home: Path

    def settings(self, model: str, **overrides) -> Settings:
        values = {
            "home": self.home / model,
            "tracking_uri": self.mlflow.tracking_uri,
            "data_root": f"s3://{self.data_bucket}/{model}",
            "s3_endpoint_url": self.s3_proxy.url,
            "model_name": model,
            "experiment": f"exp-{model}",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    def running_runs(self, experiment: str) -> int:
        with self.postgres.connect(self.mlflow.database) as conn:
            row = conn.execute(
                "select count(*) from runs r join experiments e on r.experiment_id = e.experiment_id "
                "where e.name = %s and r.status = 'RUNNING'",
                (experiment,),
            ).fetchone()
        return int(row[0])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    saved = dict(os.environ)
    started: list = []
    try:
        pg = start_postgres()
        started.append(pg)
        s3 = start_s3_server(log_dir=tmp_path_factory.mktemp("faults-s3"))
        started.append(s3)
        proxy = TcpProxy(s3.port).up()
        via_proxy = dataclasses.replace(s3, port=proxy.port, endpoint_url=proxy.url)
        mlflow = start_mlflow_server(pg, via_proxy, log_dir=tmp_path_factory.mktemp("faults-mlflow"))
        started.append(mlflow)
        bucket = via_proxy.create_bucket("faults-data")
    except ServerUnavailable as exc:
        for server in reversed(started):
            server.stop()
        unavailable(f"fault-injection stack cannot start here: {exc}")
    # This process writes snapshots to S3 through the proxy; MLflow artifacts go through the server.
    os.environ.update({k: v for k, v in via_proxy.env().items() if k.startswith("AWS_")})
    os.environ.pop("MLFLOW_S3_ENDPOINT_URL", None)
    yield Stack(pg, s3, proxy, mlflow, bucket, tmp_path_factory.mktemp("faults-home"))
    os.environ.clear()
    os.environ.update(saved)
    if not mlflow.is_running():
        mlflow.start()
    mlflow.stop()
    proxy.down()
    s3.stop()
    pg.stop()


def run_dag_tasks(
    ctx: lifecycle.Context,
    dag_run_id: str,
    *,
    retries: int = 2,
    retry_delay: float = 3.0,
    only: tuple[str, ...] = STEPS,
    xcom: dict | None = None,
    before: Callable[[str], None] | None = None,
    on_failure: Callable[[TaskRun, BaseException], None] | None = None,
) -> dict[str, TaskRun]:
    """The training DAG's tasks in order, each with retries; stops at the first failed task."""
    xcom = xcom if xcom is not None else {}
    calls = {
        "ingest": lambda: lifecycle.ingest(ctx),
        "validate": lambda: lifecycle.validate(ctx, xcom["ingest"]["dataset_id"]),
        "train": lambda: lifecycle.train(ctx, xcom["ingest"]["dataset_id"], xcom["ingest"]["snapshot_uri"]),
        "evaluate": lambda: lifecycle.evaluate(ctx, xcom["train"]["run_id"]),
        "register": lambda: lifecycle.register(ctx, xcom["train"]["run_id"]),
        "promote": lambda: lifecycle.promote(ctx, xcom["register"]["version"]),
    }
    runs: dict[str, TaskRun] = {}
    with airflow_task_env(dag_run_id):
        for step in only:
            if before is not None:
                before(step)
            run = run_task(step, calls[step], retries=retries, retry_delay=retry_delay, on_failure=on_failure)
            runs[step] = run
            if run.state != "success":
                break
            xcom[step] = run.result
    runs["_xcom"] = xcom  # type: ignore[assignment]
    return runs


def assert_registry_consistent(settings: Settings, name: str) -> dict:
    """Every version READY; every alias on a version whose model loads; lock released."""
    from mlstack.model.artifact import load_pipeline

    client = tracking.configure(settings)
    model = client.get_registered_model(name)
    versions = client.search_model_versions(f"name = '{name}'")
    assert versions, f"{name}: no versions"
    assert all(v.status == "READY" for v in versions), [(v.version, v.status) for v in versions]
    for alias, version in model.aliases.items():
        loaded = load_pipeline(f"models:/{name}/{version}")
        assert hasattr(loaded, "predict"), (alias, version)
    assert lock.holder(client, name) is None, "promotion lock left behind"
    history = json.loads(model.tags.get("mlstack.champion_history", "[]"))
    return {"aliases": dict(model.aliases), "versions": len(versions), "history": history}


def _kill_when_run_logs(stack: Stack, experiment: str, outage: float, timings: dict) -> threading.Thread:
    def chaos() -> None:
        if not wait_until(lambda: stack.running_runs(experiment) > 0, timeout=240, interval=0.05):
            timings["error"] = "no RUNNING run appeared"
            return
        stack.mlflow.kill()
        timings["killed_at"] = time.monotonic()
        time.sleep(outage)
        timings["restart_s"] = stack.mlflow.start()
        timings["back_at"] = time.monotonic()

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    return thread


def test_mlflow_killed_while_training_logs_then_back(stack):
    settings = stack.settings("faults-mlflow-kill")
    ctx = lifecycle.context(settings, "penguins")
    timings: dict = {}
    chaos = _kill_when_run_logs(stack, settings.experiment, outage=2.0, timings=timings)
    started = time.monotonic()
    runs = run_dag_tasks(ctx, "manual__mlflow_kill")
    chaos.join(timeout=300)
    took = time.monotonic() - started
    assert "error" not in timings, timings
    assert "killed_at" in timings and "back_at" in timings, timings
    states = {k: (r.state, r.tries, r.errors) for k, r in runs.items() if k != "_xcom"}
    print(
        f"\nMLflow killed for {timings['back_at'] - timings['killed_at']:.1f}s; lifecycle {took:.1f}s; {states}"
    )
    assert all(r.state == "success" for k, r in runs.items() if k != "_xcom"), states
    name = runs["register"].result["name"]
    assert runs["promote"].result["verdict"] == "promoted"
    state = assert_registry_consistent(settings, name)
    assert state["versions"] == 1, "a retried task registered a second version"
    assert state["aliases"] == {CHAMPION: runs["register"].result["version"]}
    assert len(state["history"]) == 1, f"champion moved more than once: {state['history']}"


def test_serving_keeps_answering_while_registry_is_down(stack):
    from mlstack.serving.loader import ModelServer

    settings = stack.settings("faults-mlflow-kill", alias_refresh_seconds=0)
    ctx = lifecycle.context(settings, "penguins")
    server = ModelServer(settings, ctx.spec)
    row = {"island": "Biscoe", "bill_length_mm": 47.0, "bill_depth_mm": 15.0, "year": 2008}
    row.update(flipper_length_mm=None, body_mass_g=None, sex=None)  # explicit nulls: absent is refused
    before = server.predict(row)
    assert not before.stale
    stack.mlflow.kill()
    try:
        latencies = []
        for _ in range(5):
            t0 = time.perf_counter()
            during = server.predict(row)
            latencies.append(time.perf_counter() - t0)
            assert during.version == before.version and during.predictions == before.predictions
            assert during.stale, "an answer from a cached model while the registry is down must say stale"
        print(f"\nserving with the registry down: max {max(latencies) * 1000:.0f} ms per prediction")
        assert max(latencies) < 5.0
    finally:
        stack.mlflow.start()
    after = server.predict(row)
    assert not after.stale and after.version == before.version


def test_two_promotions_racing_give_one_champion_and_two_recorded_decisions(stack, monkeypatch):
    from mlstack.registry import promotion

    settings = stack.settings("faults-race", gate_floor=0.0)
    weak = stack.settings(
        "faults-race", gate_floor=0.0, hyperparams={"n_estimators": 2, "max_depth": 1, "min_samples_leaf": 40}
    )
    first = run_dag_tasks(lifecycle.context(weak, "penguins"), "manual__race_v1")
    assert first["promote"].result["verdict"] == "promoted", first["promote"].result
    candidates = []
    for i, seed in enumerate((1, 2)):
        ctx = lifecycle.context(stack.settings("faults-race", gate_floor=0.0, seed=seed), "penguins")
        runs = run_dag_tasks(ctx, f"manual__race_v{i + 2}", only=STEPS[:5])
        candidates.append(runs["register"].result["version"])

    # Both gates read the same champion and decide "promote"; the barrier holds both right before
    # the compare-and-set, so they reach the alias at the same moment.
    barrier = threading.Barrier(2, timeout=120)
    original = promotion.promotion_lock

    def racing_lock(client, name, **kwargs):
        barrier.wait()
        return original(client, name, **kwargs)

    monkeypatch.setattr(promotion, "promotion_lock", racing_lock)
    ctx = lifecycle.context(settings, "penguins")
    decisions: dict[str, dict] = {}

    def gate(version: str) -> None:
        decisions[version] = lifecycle.promote(ctx, version)

    threads = [threading.Thread(target=gate, args=(v,)) for v in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(decisions) == set(candidates), decisions
    verdicts = sorted(d["verdict"] for d in decisions.values())
    assert verdicts == ["promoted", "refused"], decisions
    winner = next(v for v, d in decisions.items() if d["verdict"] == "promoted")
    loser = next(v for v, d in decisions.items() if d["verdict"] == "refused")
    assert "lost a race" in decisions[loser]["reason"], decisions[loser]
    assert f"v{winner}" in decisions[loser]["reason"]
    print(f"\nrace: v{winner} promoted; v{loser} refused: {decisions[loser]['reason']}")

    name = first["register"].result["name"]
    state = assert_registry_consistent(settings, name)
    assert state["aliases"][CHAMPION] == winner
    assert [h["version"] for h in state["history"]] == [first["register"].result["version"], winner]
    client = tracking.configure(settings)
    for version, decision in decisions.items():  # both decisions recorded on their versions
        tags = client.get_model_version(name, version).tags
        assert tags["mlstack.gate.verdict"] == decision["verdict"]
        assert tags["mlstack.gate.reason"] == decision["reason"]


def test_postgres_restarted_mid_run_recovers_and_registry_is_consistent(stack):
    settings = stack.settings("faults-pg-restart")
    ctx = lifecycle.context(settings, "penguins")
    timings: dict = {}

    def chaos() -> None:
        if wait_until(lambda: stack.running_runs(settings.experiment) > 0, timeout=240, interval=0.05):
            timings["restart_s"] = stack.postgres.restart()
        else:
            timings["error"] = "no RUNNING run appeared"

    thread = threading.Thread(target=chaos, daemon=True)
    thread.start()
    runs = run_dag_tasks(ctx, "manual__pg_restart")
    thread.join(timeout=120)
    assert "restart_s" in timings, timings
    states = {k: (r.state, r.tries, r.errors) for k, r in runs.items() if k != "_xcom"}
    print(f"\nPostgres restarted in {timings['restart_s']:.1f}s mid-run: {states}")
    if "promote" not in runs or runs["promote"].state != "success":
        # Failed cleanly: a new run of the DAG (retriable) must succeed and nothing is half-done.
        runs = run_dag_tasks(ctx, "manual__pg_restart_retry")
    assert all(r.state == "success" for k, r in runs.items() if k != "_xcom"), states
    state = assert_registry_consistent(settings, runs["register"].result["name"])
    assert state["versions"] == 1
    assert len(state["history"]) == 1


def test_s3_store_down_a_loaded_model_keeps_answering_and_a_cold_start_names_the_problem(stack, monkeypatch):
    """Issue 15 §6, the S3 store down (the proxy cut: objects kept). Warm, the loaded model keeps
    answering: its files are in memory and the alias check needs MLflow only. Cold, the load fails
    in bounded time with an error naming the model and why; once the store is back, it loads."""
    from mlstack.errors import MlstackError
    from mlstack.serving import loader
    from mlstack.serving.loader import ModelServer

    settings = stack.settings("faults-mlflow-kill", alias_refresh_seconds=0)  # trained above
    spec = lifecycle.context(settings, "penguins").spec
    row = {"island": "Biscoe", "bill_length_mm": 47.0, "bill_depth_mm": 15.0, "year": 2008}
    row.update(flipper_length_mm=None, body_mass_g=None, sex=None)
    warm = ModelServer(settings, spec)
    before = warm.predict(row)
    stack.s3_proxy.down()
    try:
        for _ in range(3):
            during = warm.predict(row)
            assert during.version == before.version and during.predictions == before.predictions
        # A cold start: a new process has no model loaded (the per-process cache of versions).
        monkeypatch.setattr(loader, "_MODEL_CACHE", {})
        started = time.perf_counter()
        with pytest.raises(MlstackError) as refused:
            ModelServer(settings, spec).predict(row)
        took = time.perf_counter() - started
    finally:
        stack.s3_proxy.up()
    said = str(refused.value)
    print(f"\ncold start with the S3 store down: refused in {took:.1f}s: {said}")
    assert took < 120, f"a cold start with the store down took {took:.0f}s to say so"
    assert said.startswith(f"cannot load faults-mlflow-kill@champion (version {before.version}): "), said
    assert "could not be fetched from the artifact store" in said, said
    again = ModelServer(settings, spec).predict(row)
    assert again.version == before.version and again.predictions == before.predictions


def test_s3_down_during_register_fails_cleanly_with_one_mail_then_next_run_succeeds(stack, monkeypatch):
    from mlstack import alerts

    settings = stack.settings("faults-s3-down")
    ctx = lifecycle.context(settings, "penguins")
    first = run_dag_tasks(ctx, "manual__s3_first")
    name, champion = first["register"].result["name"], first["register"].result["version"]
    assert champion_version(settings, name) == champion

    smtp = start_smtp_server()
    mails: list[str] = []

    def failure_mail(run: TaskRun, exc: BaseException) -> None:
        context = {
            "ti": type(
                "TI",
                (),
                {
                    "dag_id": "training_pipeline",
                    "task_id": run.task_id,
                    "run_id": "manual__s3_down",
                    "try_number": run.tries,
                    "max_tries": run.tries - 1,
                },
            )(),
            "exception": exc,
        }
        subject, body = alerts.failure_mail(context)
        mails.append(subject)
        mail_settings = settings.model_copy(
            update={
                "smtp_host": smtp.host,
                "smtp_port": smtp.port,
                "smtp_starttls": False,
                "alert_recipients": ["ops@example.test"],
            }
        )
        assert alerts.send_alert(subject, body, settings=mail_settings)

    # A fresh batch (new dataset id) trained while S3 is up; S3 goes down as `register` starts.
    from mlstack.data.synthetic import generate

    batch = settings.home_dir / "batch2.csv"
    batch.parent.mkdir(parents=True, exist_ok=True)
    generate(300, seed=5, spec=ctx.spec).to_csv(batch, index=False)
    ctx2 = lifecycle.context(  # a local file, read as the user's own CLI reads it
        settings.model_copy(update={"source": str(batch)}), "penguins", trusted_caller=True
    )
    # Short client retry budgets while S3 is down keep the test fast; the shape is the same.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")

    def cut_s3(step: str) -> None:
        if step == "register":
            stack.s3_proxy.down()

    try:
        t0 = time.monotonic()
        runs = run_dag_tasks(
            ctx2, "manual__s3_down", retries=2, retry_delay=1.0, before=cut_s3, on_failure=failure_mail
        )
        took = time.monotonic() - t0
    finally:
        stack.s3_proxy.up()
    states = {
        k: (r.state, r.tries, r.errors[-1:] if r.errors else []) for k, r in runs.items() if k != "_xcom"
    }
    print(f"\nS3 down from register on ({took:.1f}s): {states}")
    failed = [k for k, r in runs.items() if k != "_xcom" and r.state == "failed"]
    assert failed, f"nothing failed while S3 was down: {states}"
    assert runs[failed[0]].tries == 3, "the failing task must have been retried twice"
    assert len(mails) == 1 and len(smtp.wait_for(1, timeout=20)) == 1, mails
    assert failed[0] in smtp.messages[0]["Subject"]
    client = tracking.configure(settings)
    assert client.get_model_version_by_alias(name, CHAMPION).version == champion, "champion moved"

    # The store is back: the next run of the DAG succeeds (and the gate decides).
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
    again = run_dag_tasks(ctx2, "manual__s3_back")
    assert all(r.state == "success" for k, r in again.items() if k != "_xcom"), again
    assert again["promote"].result["verdict"] in ("promoted", "refused")
    state = assert_registry_consistent(settings, name)
    moves = 1 + (again["promote"].result["verdict"] == "promoted")
    assert len(state["history"]) == moves
    smtp.stop()
    assert len(smtp.messages) == 1, "more than one alert mail"
