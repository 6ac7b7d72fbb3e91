"""mlstack performance suite: shared types and helpers (``python -m benchmarks.run``).

A benchmark module exposes functions that return :class:`Figure` objects (or a list of them).
Each figure carries its value, the reference measured in the same run (so machine noise cancels
in the ratio), its limits, the raw samples, and a note. ``benchmarks.run`` collects them into one
table, ``benchmarks/results/<timestamp>.json`` and ``benchmarks/results/latest.md``.

A figure that cannot be measured here is still reported: :func:`unavailable` gives a row whose
value is ``not available: <why>``. Benchmarks never raise for slowness: a missed target is a
``fail`` in the table, not an exception.

Contract for a benchmark function (``benchmarks/<area>.py``)::

    def bench_b4(*, quick: bool = True, repeats: int = 3) -> list[Figure]: ...

``quick`` is False under ``--full``; ``repeats`` is how many samples to take the median of.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
GIB = 1024**3
MIB = 1024**2

__all__ = [
    "GIB",
    "MIB",
    "ROOT",
    "ChildRun",
    "Figure",
    "Limit",
    "at_least",
    "at_most",
    "median",
    "ratio_at_least",
    "ratio_at_most",
    "run_child",
    "timed",
    "unavailable",
]


# --------------------------------------------------------------------------------------------
# figures and limits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One bound on a figure: ``on`` is "value" or "ratio", ``op`` is "<=" or ">="."""

    on: str
    op: str
    bound: float
    unit: str = ""

    def check(self, value: float | None, ratio: float | None) -> bool | None:
        subject = value if self.on == "value" else ratio
        if subject is None:
            return None
        return subject <= self.bound if self.op == "<=" else subject >= self.bound

    def text(self) -> str:
        if self.on == "ratio":
            return f"{self.op} {self.bound:g}x ref"
        return f"{self.op} {self.bound:g}{(' ' + self.unit) if self.unit else ''}"


def at_most(bound: float, unit: str = "") -> Limit:
    return Limit("value", "<=", bound, unit)


def at_least(bound: float, unit: str = "") -> Limit:
    return Limit("value", ">=", bound, unit)


def ratio_at_most(bound: float) -> Limit:
    return Limit("ratio", "<=", bound)


def ratio_at_least(bound: float) -> Limit:
    return Limit("ratio", ">=", bound)


@dataclass
class Figure:
    """One row of the results table."""

    id: str  # "B3"
    name: str  # "lifecycle, 1M rows: wall"
    value: float | None  # median of ``samples`` (None when not available)
    unit: str = ""  # "s", "ms", "GiB", "rows/s", "x"
    reference: float | None = None  # median of ``reference_samples``
    reference_name: str = ""  # what the reference is
    ratio: float | None = None  # value / reference unless given
    limits: list[Limit] = field(default_factory=list)  # empty: report only
    samples: list[float] = field(default_factory=list)
    reference_samples: list[float] = field(default_factory=list)
    note: str = ""
    available: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.reference:
            self.ratio = self.value / self.reference

    @property
    def target(self) -> str:
        if not self.available and not self.limits:
            return "-"
        return " and ".join(limit.text() for limit in self.limits) or "report"

    @property
    def passed(self) -> bool | None:
        """True/False against every limit; None when report-only or not measured."""
        if not self.available or not self.limits:
            return None
        checks = [limit.check(self.value, self.ratio) for limit in self.limits]
        if any(c is False for c in checks):
            return False
        if any(c is None for c in checks):
            return None
        return True

    @property
    def verdict(self) -> str:
        if not self.available:
            return "n/a"
        return {True: "pass", False: "FAIL", None: "report"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["limits"] = [asdict(limit) for limit in self.limits]
        out.update(target=self.target, passed=self.passed, verdict=self.verdict)
        return out


def unavailable(id: str, name: str, reason: str, limits: Sequence[Limit] = (), **extra: Any) -> Figure:
    """A row for a figure that cannot be measured here, saying why."""
    return Figure(
        id=id,
        name=name,
        value=None,
        limits=list(limits),
        available=False,
        note=f"not available: {reason}",
        extra=dict(extra),
    )


def median(samples: Sequence[float]) -> float | None:
    return statistics.median(samples) if samples else None


def _fmt_number(value: float | None) -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude >= 10000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{_fmt_number(value)}{(' ' + unit) if unit else ''}"


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["s"]`` (wall seconds) and ``t["cpu_s"]`` (this process)."""
    out: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - wall
        out["cpu_s"] = time.process_time() - cpu


@dataclass
class ChildRun:
    """A finished child process with its own resource usage (``os.wait4``)."""

    argv: list[str]
    returncode: int
    wall_s: float
    user_s: float
    sys_s: float
    max_rss_bytes: int  # peak resident set of the child itself
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_json(self) -> dict[str, Any]:
        """The last stdout line that parses as a JSON object (what our workers print)."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    return json.loads(line)
        raise ValueError(f"no JSON line in the output of {' '.join(self.argv[:4])}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return f"--- stdout\n{self.stdout[-chars:]}\n--- stderr\n{self.stderr[-chars:]}"


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 3600.0,
) -> ChildRun:
    """Run a command to completion; wall time and the child's own peak RSS and CPU (wait4).

    Output is collected through temporary files (no pipe deadlocks on chatty children).
    """
    import tempfile

    # `env` is the child's whole environment: callers drop this process's MLSTACK_/MLFLOW_ settings
    # (a test's server that is gone by now), so merging os.environ back would undo that.
    full_env = dict(os.environ) if env is None else dict(env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), env=full_env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        deadline = started + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    return ChildRun(
        argv=list(argv),
        returncode=proc.returncode,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        max_rss_bytes=usage.ru_maxrss * 1024,  # KiB on Linux
        stdout=stdout,
        stderr=stderr,
    )


def repeat(fn: Callable[[], float], repeats: int) -> list[float]:
    """Call ``fn`` ``repeats`` times; its return values are the samples."""
    return [fn() for _ in range(max(1, repeats))]
