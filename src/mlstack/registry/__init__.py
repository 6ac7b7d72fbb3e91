"""The model registry: versions, the promotion gate, the `champion` alias and its history.

Aliases: `challenger` marks the newest registered candidate, `champion` the served model.
Every decision is stored as tags on the version it concerns, so the registry is the audit log.

- `gate`: the promotion rule, a pure `decide()` (no MLflow);
- `promotion`: `promote()`, the rule applied to the registry (scores, lock, alias, record);
- `lock`: the registry-wide mutex held while `champion` moves;
- `aliases`: moving `champion`, its history, `rollback()`;
- `versions`: `register()`, finding versions, `champion_version()`, `list_versions()`;
- `history`: the tables of the Models page, from `list_versions()`.

This module holds only what all of them share, so importing it costs nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

CHAMPION, CHALLENGER = "champion", "challenger"


def now() -> str:
    """The UTC time, to the second, in the form every recorded registry tag uses."""
    return datetime.now(UTC).isoformat(timespec="seconds")
