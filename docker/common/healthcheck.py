"""Container healthcheck without curl (the slim Python base has none).

    python /opt/mlstack/healthcheck.py URL [EXPECTED_TEXT] [--or-503 WAITING_TEXT]

Exit 0 when URL answers 2xx (and its body contains EXPECTED_TEXT, if given), 1 otherwise.
With --or-503, a 503 whose body contains WAITING_TEXT counts as healthy too: the prediction API
answers /ready with 503 "waiting-for-champion" on a fresh stack, which is waiting, not broken (a
registry it cannot reach or a model it cannot load stays unhealthy).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    waiting = None
    if "--or-503" in argv:
        at = argv.index("--or-503")
        waiting = argv[at + 1] if at + 1 < len(argv) else ""
        argv = argv[:at] + argv[at + 2 :]
    if not argv or not argv[0].startswith("http://") or waiting == "":
        print("usage: healthcheck.py http://URL [EXPECTED_TEXT] [--or-503 WAITING_TEXT]", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(argv[0], timeout=8) as resp:  # noqa: S310 - http:// only
            body = resp.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        text = exc.read(65536).decode("utf-8", "replace")
        if waiting and exc.code == 503 and waiting in text:
            print(f"waiting: {argv[0]} answered 503 ({waiting})", file=sys.stderr)
            return 0
        print(f"unhealthy: {argv[0]}: HTTP {exc.code}: {text[:300]}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    if len(argv) > 1 and argv[1] not in body:
        print(f"unhealthy: {argv[0]} answered without {argv[1]!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
