"""`mlstack ...`: the one command line. Each module below adds the commands of one area."""

from __future__ import annotations

import sys

from mlstack.cli import airflow, api, drift, jenkins, lifecycle, quality, registry, secrets, serving, spec  # noqa: F401 - registers commands
from mlstack.cli.common import app, console

__all__ = ["app", "console", "main"]


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
