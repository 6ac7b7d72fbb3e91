"""docs/claims.md cites tests by path and name: every cited file and test must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "docs" / "claims.md"

pytestmark = pytest.mark.static


def cited_tests() -> list[tuple[str, str | None]]:
    """(file, test name or None) for each backticked citation; `::name` continues the last file."""
    cited: list[tuple[str, str | None]] = []
    last = ""
    for ref in re.findall(r"`((?:tests/[\w/.]+)?(?:::\w+)?)`", CLAIMS.read_text()):
        path, _, name = ref.partition("::")
        last = path or last
        cited.append((last, name or None))
    return cited


def test_claims_cite_tests():
    assert len(cited_tests()) >= 30


def test_every_cited_test_exists():
    missing = []
    for path, name in cited_tests():
        file = ROOT / path
        if not file.exists():
            missing.append(path)
        elif name and not re.search(rf"^\s*(async )?def {name}\(", file.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/claims.md cites what does not exist: {missing}"


def test_a_test_run_rewrites_no_tracked_screenshot():
    """The browser tests copy their screenshot over the README's only under `make screenshots`
    (MLSTACK_UPDATE_SCREENSHOTS=1): a plain run leaves the tree clean for the benchmarks' header."""
    for path in sorted((ROOT / "tests" / "browser").glob("test_*.py")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "copyfile(" in line and "README_SCREENSHOT" in line:
                assert 'MLSTACK_UPDATE_SCREENSHOTS") == "1"' in lines[i - 1], f"{path.name}:{i + 1}"


def test_benchmarks_call_no_run_with_uncommitted_changes_a_clean_clone():
    readme = " ".join((ROOT / "benchmarks" / "README.md").read_text().split())
    for name in ("latest.md", "latest-full.md"):
        results = ROOT / "benchmarks" / "results" / name
        if results.exists() and "(uncommitted changes)" in results.read_text():
            assert "clean clone" not in readme, f"{name} says the run had uncommitted changes"


def test_the_stale_claims_stay_gone():
    """Issue 19's stale claims: a trigger-to-success figure quoted in prose (the benchmarks keep
    the figures), and "where DESIGN.md was silent" (no such file ships with the project)."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "dags").glob("*.py"))]
    assert not (ROOT / "DESIGN.md").exists()
    for path in docs:
        text = path.read_text()
        assert "DESIGN.md" not in text, (
            f"{path.relative_to(ROOT)} names a DESIGN.md the project does not ship"
        )
        assert not re.search(r"\b\d+ s with preloading\b", text), (
            f"{path.relative_to(ROOT)} quotes a stale figure"
        )


LATEST_RESULTS = ROOT / "benchmarks" / "results" / "latest.md"


def _failing_rows() -> list[str]:
    """The rows of the latest benchmark table that missed their target."""
    return [line for line in LATEST_RESULTS.read_text().splitlines() if line.rstrip().endswith("| FAIL |")]


def test_the_readme_names_every_target_the_latest_benchmarks_miss():
    """The README's Benchmarks section lists, one bullet per benchmark, the targets that
    benchmarks/results/latest.md marks FAIL, and no other (it once said "every target but one"
    while the table failed three)."""
    table = LATEST_RESULTS.read_text()
    failing = {line.split("|")[1].strip() for line in _failing_rows()}
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Benchmarks") : readme.index("## Reliability and security")]
    listed = set(re.findall(r"^- \*\*(B\d+)\*\*:", section, re.MULTILINE))
    assert listed == failing, f"README lists {sorted(listed)}, latest.md fails {sorted(failing)}"
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    assert f"misses {words.get(len(failing), len(failing))} target" in " ".join(section.split())
    # a ratio quoted in a bullet (a figure or a limit) is in one of its benchmark's rows
    for bench, text in re.findall(r"^- \*\*(B\d+)\*\*:(.*?)(?=^- |\Z)", section, re.MULTILINE | re.DOTALL):
        rows = [line for line in table.splitlines() if line.startswith(f"| {bench} |")]
        for ratio in re.findall(r"\b(\d+\.\d+x)\b", text):
            quoted = re.compile(rf"(?<![\d.]){re.escape(ratio)}")
            assert any(quoted.search(row) for row in rows), (
                f"README's {bench} quotes {ratio}, not in latest.md"
            )


def test_the_benchmarks_readme_claims_no_single_miss_while_the_table_fails_several():
    """benchmarks/README.md once called B1 "the one target missed in the latest run" while latest.md
    failed three rows. Its prose (the copied table left out) may not claim a single miss while
    latest.md marks more than one row FAIL."""
    failing = _failing_rows()
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    start, end = readme.index("<!-- latest-results:start -->"), readme.index("<!-- latest-results:end -->")
    prose = " ".join((readme[:start] + readme[end:]).split()).lower()
    single = (
        "the one target missed",
        "the only target missed",
        "every target but one",
        "all targets but one",
    )
    if len(failing) > 1:
        claimed = [phrase for phrase in single if phrase in prose]
        assert not claimed, f"benchmarks/README.md says {claimed}; latest.md fails {len(failing)} rows"
