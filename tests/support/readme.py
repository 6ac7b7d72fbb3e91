"""The README's shell blocks as command lists, so tests run what the README tells users to run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def shell_block(heading: str, *, readme: Path = README, index: int = 0) -> str:
    """The ``index``-th ```bash block under the ``## heading`` (up to the next heading of that level)."""
    text = readme.read_text()
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.MULTILINE)
    if not match:
        raise AssertionError(f"README has no heading {heading!r}")
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    section = rest[: end.start()] if end else rest
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    if len(blocks) <= index:
        raise AssertionError(f"README section {heading!r} has {len(blocks)} bash block(s), wanted #{index}")
    return blocks[index]


def commands(block: str) -> list[str]:
    """One command per entry: continuations joined, trailing ``# comments`` and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = strip_comment(line).strip()
        if line:
            out.append(line)
    return out


def strip_comment(line: str) -> str:
    """``line`` without a ``#`` comment that is outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line
