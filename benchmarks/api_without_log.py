"""B10's diagnostic server: `mlstack serve` with the prediction log write taken out.

Not a mode of mlstack (the API logs every prediction, and a request waits for its rows to be
committed). B10 runs it for one figure only: the rows per second of 1,000-row requests when the
log costs nothing, beside the scoring floor. What it leaves of the floor is what reading, parsing,
checking and answering JSON over HTTP cost on this machine, with no log to blame.

Each request is scored in one call: `service` scores large requests in parts only to write the
log of one part while the next is scored. Run: ``python -m benchmarks.api_without_log --port N``
(with the environment of `mlstack serve`).
"""

from __future__ import annotations

import collections
import sys


def _drop_parts(writer, parts) -> None:
    collections.deque(parts, maxlen=0)  # score every part (the answer needs them), log none


def main() -> None:
    from mlstack.cli import app
    from mlstack.serving import service

    service.OVERLAP_ROWS = sys.maxsize
    service._LogWriter.write_parts = _drop_parts  # type: ignore[method-assign]
    app(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    main()
