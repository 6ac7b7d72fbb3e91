"""Promotion is crash-safe and its lock is a real lock (issue 15 §5, issue 14's schema change).

Embedded store (SQLite behind MLflow's own SQLAlchemy store): the lock and the alias are the real
thing. Crashes and stalls are injected by wrapping MlflowClient methods (the point where a process
would die or hang); nothing is mocked away. After each case there is exactly one @champion and
the champion history agrees with the recorded decisions.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from mlstack import lifecycle, tracking
from mlstack.errors import RegistryError
from mlstack.registry import CHALLENGER, CHAMPION, lock, promotion
from mlstack.registry.aliases import champion_history, rollback
from mlstack.registry.versions import champion_version

from .conftest import make_settings
from .test_registry import WEAK, _train_and_register


def _ctx(home, **overrides):
    return lifecycle.context(make_settings(home, gate_floor=0.0, **overrides), "penguins")


def _assert_history_consistent(ctx, name: str) -> list[dict]:
    """Each move starts where the previous one ended; the last move is the champion; lock free."""
    client = tracking.configure(ctx.settings)
    history = champion_history(client, name)
    for before, after in itertools.pairwise(history):
        assert str(after["previous"]) == str(before["version"]), history
    assert history and str(history[-1]["version"]) == champion_version(ctx.settings, name), history
    assert lock.holder(client, name) is None, "promotion lock still held"
    return history


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    """A weak champion v1 and three better, not yet gated versions (v2, v3, v4) of one model."""
    home = tmp_path_factory.mktemp("promotion-safety")
    weak = _ctx(home, hyperparams=WEAK)
    v1 = _train_and_register(weak)
    assert lifecycle.promote(weak, v1["version"])["verdict"] == "promoted"
    versions = [_train_and_register(_ctx(home, seed=seed))["version"] for seed in (1, 2, 3)]
    return home, v1["name"], v1["version"], versions


def test_crash_between_alias_move_and_records_then_retry_gives_same_verdict(candidates, monkeypatch):
    home, name, v1, (v2, _, _) = candidates
    ctx = _ctx(home)
    original = MlflowClient.set_registered_model_alias
    crashed = []

    def dies_after_moving(self, model, alias, version):
        original(self, model, alias, version)
        if alias == CHAMPION and not crashed:
            crashed.append(version)
            raise SystemExit("process killed right after the alias moved")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", dies_after_moving)
    with pytest.raises(SystemExit):
        lifecycle.promote(ctx, v2)
    assert crashed == [v2] and champion_version(ctx.settings, name) == v2

    # The retried task: same verdict, the move recorded once, challenger alias gone.
    again = lifecycle.promote(ctx, v2)
    assert again["verdict"] == "promoted", again
    assert again["champion_version"] == v1
    history = _assert_history_consistent(ctx, name)
    assert [h["version"] for h in history] == [v1, v2]
    client = tracking.configure(ctx.settings)
    tags = client.get_model_version(name, v2).tags
    assert tags["mlstack.previous_champion"] == v1
    assert tags["mlstack.gate.verdict"] == "promoted" and tags["mlstack.gate.applied_at"]
    assert client.get_registered_model(name).aliases.get(CHALLENGER) != int(v2)
    # Asking again changes nothing: the champion keeps its "promoted" record.
    assert lifecycle.promote(ctx, v2)["verdict"] == "promoted"
    assert [h["version"] for h in _assert_history_consistent(ctx, name)] == [v1, v2]


def test_crash_while_the_decision_is_written_leaves_no_verdict_and_the_retry_decides_whole(
    tmp_path, monkeypatch
):
    """Killed after the first tag of the decision: no verdict is on the version (it is written
    last), so the retry decides again and records every field, instead of taking a half-written
    record as the decision."""
    ctx = _ctx(tmp_path)
    version = _train_and_register(ctx)
    name = version["name"]
    original = MlflowClient.set_model_version_tag
    written: list[str] = []

    def dies_after_the_first_gate_tag(self, model, number, key, value, *args, **kwargs):
        original(self, model, number, key, value, *args, **kwargs)
        if key.startswith("mlstack.gate.") and not written:
            written.append(key)
            raise SystemExit("process killed while the decision was written")

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", dies_after_the_first_gate_tag)
    with pytest.raises(SystemExit):
        lifecycle.promote(ctx, version["version"])
    client = tracking.configure(ctx.settings)
    half = client.get_model_version(name, version["version"]).tags
    assert written and "mlstack.gate.verdict" not in half, half
    assert champion_version(ctx.settings, name) is None  # nothing moved

    decision = lifecycle.promote(ctx, version["version"])
    assert decision["verdict"] == "promoted", decision
    tags = client.get_model_version(name, version["version"]).tags
    assert tags["mlstack.gate.verdict"] == "promoted" and tags["mlstack.gate.applied_at"]
    assert tags["mlstack.gate.metric"] and tags["mlstack.gate.reason"], tags
    assert float(tags["mlstack.gate.challenger_value"]) > 0
    assert champion_version(ctx.settings, name) == version["version"]
    _assert_history_consistent(ctx, name)


def test_retried_airflow_task_takes_over_its_own_lock_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "training_pipeline")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__retry")
    ctx = _ctx(tmp_path)
    version = _train_and_register(ctx)
    client = tracking.configure(ctx.settings)
    key = f"training_pipeline/manual__retry/promote/{version['version']}"
    dead = lock.promotion_lock(client, version["name"], key=key)
    dead.__enter__()  # the first try died holding the lock (default lease: minutes)
    started = time.monotonic()
    assert lifecycle.promote(ctx, version["version"])["verdict"] == "promoted"
    assert time.monotonic() - started < 30, "the retry waited for its own dead lock"
    _assert_history_consistent(ctx, version["name"])


def _c_reads_then_stalls(monkeypatch, c_read: threading.Event, b_inside: threading.Event) -> None:
    """Thread C's first read of the lock answers, then C stalls until B holds the lock.

    That is the race of a slow registry: C acts on what it read (a stale lock) after B broke
    that lock and took a fresh one.
    """
    get, search = MlflowClient.get_registered_model, MlflowClient.search_registered_models

    def stall(answer):
        if threading.current_thread().name == "C" and not c_read.is_set():
            c_read.set()
            assert b_inside.wait(timeout=60)
        return answer

    def late_get(self, name, *args, **kwargs):
        answer = get(self, name, *args, **kwargs)
        return stall(answer) if lock.LOCK_SUFFIX in name else answer

    def late_search(self, *args, **kwargs):
        answer = search(self, *args, **kwargs)
        query = str(kwargs.get("filter_string", args[0] if args else ""))
        return stall(answer) if lock.LOCK_SUFFIX in query else answer

    monkeypatch.setattr(MlflowClient, "get_registered_model", late_get)
    monkeypatch.setattr(MlflowClient, "search_registered_models", late_search)


def test_breaking_a_stale_lock_never_breaks_a_fresh_one(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path)
    client = tracking.configure(ctx.settings)
    name = "lock-model"
    client.create_registered_model(name)
    monkeypatch.setattr(lock, "LOCK_TTL_SECONDS", 3.0)  # a fresh lock held 1 s stays valid
    crashed = lock.promotion_lock(client, name)  # kept referenced: its `finally` must never run
    crashed.__enter__()  # a crashed holder: never released
    time.sleep(3.2)  # ... and now stale
    c_read, b_inside = threading.Event(), threading.Event()
    _c_reads_then_stalls(monkeypatch, c_read, b_inside)
    inside: list[tuple[str, float, float]] = []
    errors: list[BaseException] = []

    def contender() -> None:
        who = threading.current_thread().name
        if who == "B":
            assert c_read.wait(timeout=60)
        try:
            with lock.promotion_lock(client, name, wait=30):
                entered = time.monotonic()
                if who == "B":
                    b_inside.set()
                time.sleep(1.0)
                inside.append((who, entered, time.monotonic()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            b_inside.set()

    threads = [threading.Thread(target=contender, name=n) for n in ("C", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(inside) == 2, inside
    (_, in1, out1), (_, in2, _) = sorted(inside, key=lambda x: x[1])
    print(f"\nholders: {[(w, round(a - in1, 2), round(b - in1, 2)) for w, a, b in inside]}")
    assert in2 >= out1, f"two holders at once: {inside}"
    assert lock.holder(client, name) is None
    del crashed


def test_a_lock_that_expires_while_held_never_moves_the_alias(candidates, monkeypatch):
    home, name, v1, (_, v3, v4) = candidates
    ctx = _ctx(home)
    if champion_version(ctx.settings, name) != v1:  # both candidates must beat the champion
        rollback(ctx.settings, ctx.spec, to_version=v1, reason="test", actor="test")
    monkeypatch.setattr(lock, "LOCK_TTL_SECONDS", 2.0)
    start = champion_version(ctx.settings, name)
    original = promotion.champion_version
    calls: dict[str, int] = {}
    a_inside = threading.Event()

    def stalls_in_a(settings, model):
        answer = original(settings, model)
        me = threading.current_thread().name
        calls[me] = calls.get(me, 0) + 1
        if me == "A" and calls[me] == 2:  # the read under the lock: A stalls past its lease
            monkeypatch.setattr(lock, "LOCK_TTL_SECONDS", 60.0)  # B's lease, once A's 2 s ran out
            a_inside.set()
            time.sleep(6.0)
        return answer

    monkeypatch.setattr(promotion, "champion_version", stalls_in_a)
    decisions: dict[str, dict] = {}

    def gate(version: str) -> None:
        if threading.current_thread().name == "B":
            assert a_inside.wait(timeout=120)
        decisions[version] = lifecycle.promote(ctx, version)

    threads = [threading.Thread(target=gate, args=(v,), name=n) for v, n in ((v3, "A"), (v4, "B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert set(decisions) == {v3, v4}, decisions
    assert decisions[v4]["verdict"] == "promoted", decisions
    assert decisions[v3]["verdict"] == "refused", decisions
    assert "lost the promotion lock" in decisions[v3]["reason"]
    assert champion_version(ctx.settings, name) == v4
    history = _assert_history_consistent(ctx, name)
    assert [h["version"] for h in history][-1] == v4 and history[-1]["previous"] == start
    assert v3 not in [h["version"] for h in history]
    tags = tracking.configure(ctx.settings).get_model_version(name, v3).tags
    assert tags["mlstack.gate.verdict"] == "refused"


def test_champion_version_tells_not_found_from_a_registry_that_is_down(tmp_path, monkeypatch):
    from devstack.ports import free_port

    ctx = _ctx(tmp_path)
    assert champion_version(ctx.settings, "no-such-model") is None
    client = tracking.configure(ctx.settings)
    client.create_registered_model("no-alias-yet")
    assert champion_version(ctx.settings, "no-alias-yet") is None
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = make_settings(tmp_path / "down", tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RegistryError, match="cannot read @champion"):
        champion_version(down, "penguins-classifier")


def test_schema_change_is_a_recorded_refusal_not_a_crash(tmp_path):
    ctx = _ctx(tmp_path)
    first = _train_and_register(ctx)
    assert lifecycle.promote(ctx, first["version"])["verdict"] == "promoted"
    spec = yaml.safe_load((Path(lifecycle.__file__).parent / "data/specs/penguins.yaml").read_text())
    del spec["features"]["flipper_length_mm"]
    smaller = tmp_path / "penguins-smaller.yaml"
    smaller.write_text(yaml.safe_dump(spec))
    ctx2 = lifecycle.context(ctx.settings, str(smaller))
    second = _train_and_register(ctx2)
    decision = lifecycle.promote(ctx2, second["version"])
    assert decision["verdict"] == "refused"
    assert "schema change" in decision["reason"] and "flipper_length_mm" in decision["reason"]
    assert champion_version(ctx.settings, first["name"]) == first["version"]
    client = tracking.configure(ctx.settings)
    model = client.get_registered_model(first["name"])
    assert str(model.aliases[CHALLENGER]) == second["version"]
    for version in client.search_model_versions(f"name = '{first['name']}'"):
        assert version.tags.get("mlstack.gate.verdict"), f"v{version.version} has no gate verdict"
    assert json.loads(model.tags["mlstack.champion_history"])[-1]["version"] == first["version"]


def test_a_rollback_waits_for_the_promotion_lock_and_never_undoes_a_move_it_did_not_see(candidates):
    """Rollback takes the same lock as promotion. Contended: it waits (the alias does not move
    while another holder has the lock); when the holder moved the champion meanwhile, the
    rollback refuses ("try again") instead of rolling back from a champion it never looked at."""
    from mlstack.registry.aliases import move_champion

    home, name, v1, versions = candidates
    ctx = _ctx(home)
    client = tracking.configure(ctx.settings)
    current = champion_version(ctx.settings, name)
    target, promoted = [v for v in (v1, *versions) if v != current][:2]
    outcome: dict[str, object] = {}

    def roll_back() -> None:
        try:
            outcome["result"] = rollback(ctx.settings, ctx.spec, to_version=target, reason="t", actor="t")
        except RegistryError as exc:
            outcome["error"] = str(exc)

    # 1. contended, nothing moves meanwhile: the rollback waits, then rolls back
    with lock.promotion_lock(client, name) as held:
        worker = threading.Thread(target=roll_back)
        worker.start()
        time.sleep(2.0)
        assert worker.is_alive() and champion_version(ctx.settings, name) == current, outcome
    worker.join(timeout=120)
    assert outcome.get("result", {}).get("champion") == target, outcome
    assert champion_version(ctx.settings, name) == target
    _assert_history_consistent(ctx, name)

    # 2. contended, and the holder (a promotion) moves the champion: the rollback refuses
    outcome.clear()
    target, current = current, target
    with lock.promotion_lock(client, name) as held:
        worker = threading.Thread(target=roll_back)
        worker.start()
        time.sleep(2.0)
        move_champion(client, name, promoted, previous=current, why="promotion under the lock", lock=held)
    worker.join(timeout=120)
    assert "the champion moved while rolling back" in str(outcome.get("error")), outcome
    assert champion_version(ctx.settings, name) == promoted
    _assert_history_consistent(ctx, name)
