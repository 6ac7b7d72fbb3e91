"""Container healthcheck without curl (the slim Python base has none).

    python /opt/mlstack/healthcheck.py URL [EXPECTED_TEXT]

Exit 0 when URL answers 2xx (and its body contains EXPECTED_TEXT, if given), 1 otherwise.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    if not argv or not argv[0].startswith("http://"):
        print("usage: healthcheck.py http://URL [EXPECTED_TEXT]", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(argv[0], timeout=8) as resp:  # noqa: S310 - http:// only
            body = resp.read(65536).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    if len(argv) > 1 and argv[1] not in body:
        print(f"unhealthy: {argv[0]} answered without {argv[1]!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
