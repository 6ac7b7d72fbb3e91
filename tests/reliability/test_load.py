"""Load: 20 concurrent Streamlit sessions submitting the Predict form for a minute, no error.

A real ``streamlit run streamlit/app.py`` process on 127.0.0.1 serving the champion of an embedded
home; 20 sessions speak Streamlit's own WebSocket protocol (``streamlit_client``), each in a bounded
loop (``MLSTACK_LOAD_SECONDS``, default 60, and at most ``MAX_SUBMITS`` submits per session).
Latency = from sending the submit to ``script_finished`` (the whole page rerun: form, prediction,
prediction-log write, chart). Percentiles are printed and written to ``reports/reliability/load.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import pytest

from devstack import ServerUnavailable
from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess, venv_tool
from tests.reliability.streamlit_client import StreamlitSession
from tests.support.require import unavailable

pytestmark = [pytest.mark.reliability, pytest.mark.app]

REPO = Path(__file__).resolve().parents[2]
SESSIONS = int(os.environ.get("MLSTACK_LOAD_SESSIONS", "20"))
SECONDS = float(os.environ.get("MLSTACK_LOAD_SECONDS", "60"))
MAX_SUBMITS = 2000  # per session: the loop is bounded by count as well as by time
REPORT = REPO / "reports" / "reliability" / "load.json"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    from mlstack import lifecycle
    from mlstack.config import Settings

    home = tmp_path_factory.mktemp("load") / "home"
    summary = lifecycle.run_all(
        lifecycle.context(Settings(_env_file=None, home=home, tracking_uri=None), "penguins")
    )
    assert summary["champion"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "MLFLOW_", "AIRFLOW_CTX_"))}
    env.update({"MLSTACK_HOME": str(home), "MLSTACK_ALIAS_REFRESH_SECONDS": "30", "PYTHONUNBUFFERED": "1"})
    process = ManagedProcess(
        "streamlit",
        [
            venv_tool("streamlit"),
            "run",
            str(REPO / "streamlit" / "app.py"),
            "--server.headless",
            "true",
            "--server.address",
            LOOPBACK,
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        env=env,
        inherit_env=False,
        cwd=home,  # no .env/.secrets of the checkout
        log_dir=tmp_path_factory.mktemp("load-logs"),
    )
    try:
        process.start()
        process.wait_http(f"http://{LOOPBACK}:{port}/_stcore/health", timeout=120)
    except ServerUnavailable as exc:
        process.stop()
        unavailable(f"streamlit cannot start here: {exc}")
    yield port, summary, process
    process.stop()


async def _warm(port: int, problems: list) -> StreamlitSession:
    """Open a session and run the page once (the form built from the spec, the model loaded)."""
    session = StreamlitSession(port)
    await session.connect()
    first = await session.run(timeout=240)
    problems.extend(first.errors)
    return session


async def _submit_loop(
    session: StreamlitSession, until: float, latencies: list, problems: list, answers: list
) -> int:
    states = session.submit_states("Predict")
    done = 0
    try:
        while time.monotonic() < until and done < MAX_SUBMITS:
            result = await session.run(states, timeout=120)
            done += 1
            latencies.append(result.seconds)
            problems.extend(result.errors + [w for w in result.warnings if "could not" in w])
            predicted = [t for t in result.texts if t.startswith("Predicted species:")]
            if not predicted:
                problems.append(f"no prediction on the page: {result.texts[:5]}")
            answers.extend(predicted)
        return done
    finally:
        await session.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def test_concurrent_sessions_predict_for_a_minute_without_error(app_server):
    port, summary, process = app_server
    latencies: list[float] = []
    problems: list[str] = []
    answers: list[str] = []

    timings: dict[str, float] = {}

    async def main() -> list[int]:
        t0 = time.monotonic()
        sessions = await asyncio.gather(*(_warm(port, problems) for _ in range(SESSIONS)))
        timings["warm_s"] = time.monotonic() - t0
        timings["started"] = time.monotonic()
        until = timings["started"] + SECONDS
        return await asyncio.gather(*(_submit_loop(s, until, latencies, problems, answers) for s in sessions))

    counts = asyncio.run(main())
    wall = time.monotonic() - timings["started"]
    assert process.is_running(), process.log_tail()
    stats = {
        "sessions": SESSIONS,
        "seconds": round(wall, 1),
        "warm_up_s": round(timings["warm_s"], 1),
        "submits": len(latencies),
        "per_session": counts,
        "throughput_per_s": round(len(latencies) / wall, 2),
        "latency_ms": {
            "p50": round(_percentile(latencies, 50) * 1000),
            "p90": round(_percentile(latencies, 90) * 1000),
            "p95": round(_percentile(latencies, 95) * 1000),
            "p99": round(_percentile(latencies, 99) * 1000),
            "max": round(max(latencies) * 1000),
            "mean": round(statistics.mean(latencies) * 1000),
        },
        "errors": len(problems),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(stats, indent=2) + "\n")
    print(f"\nload: {json.dumps(stats)}")
    assert not problems, problems[:10]
    assert all(c > 0 for c in counts), counts
    assert len(set(answers)) >= 1 and all(
        a.split(": ", 1)[1] in ("Adelie", "Chinstrap", "Gentoo") for a in answers
    )
