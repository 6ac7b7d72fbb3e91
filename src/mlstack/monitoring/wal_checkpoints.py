"""Checkpoints of a SQLite prediction log's write-ahead log, run by a thread instead of a commit.

SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages. With the
log of 1,000-row API requests that was one commit in about 13: it copied some 4 MB back into the
database and took 14 ms, a mean of 1.2 ms on every such commit, inside a request. SQLite's
documentation gives the alternative for writers that must not wait: turn the automatic checkpoint
off and run checkpoints from another thread. The log's SQLite connections do so; a daemon thread
per database file and process runs a PASSIVE checkpoint (it neither waits for nor blocks readers
and writers) whenever the WAL has grown past those same 1,000 pages, and the sqlite3 module lets go
of the GIL while it runs. A process that ends before its thread gets to it (a CLI call, a forked
task) leaves the WAL to the next checkpoint of any process, or to the close of the file's last
connection, which checkpoints it.
"""

from __future__ import annotations

import collections
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

WAL_PAGES = 1000  # SQLite's own default threshold for its automatic checkpoint
CHECK_EVERY_S = 0.5

_started: set[tuple[int, Path]] = set()  # (process, database): a forked child starts its own
_lock = threading.Lock()
checkpoints: collections.Counter[Path] = collections.Counter()  # done here, by database


def _wal_bytes(database: Path) -> int:
    try:
        return os.path.getsize(f"{database}-wal")
    except OSError:
        return 0


def _checkpoint(database: Path, page_size: int) -> None:
    while True:
        time.sleep(CHECK_EVERY_S)
        if _wal_bytes(database) < WAL_PAGES * page_size:
            continue
        try:
            conn = sqlite3.connect(database, timeout=5)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()
            checkpoints[database] += 1
        except sqlite3.Error as exc:  # e.g. the file is gone: try again later, say why once a turn
            logging.getLogger(__name__).warning("prediction log checkpoint of %s: %s", database, exc)


def start(database: Path, page_size: int) -> None:
    """Checkpoint `database` from a thread of this process from now on (once per process)."""
    key = (os.getpid(), database.resolve())
    with _lock:
        if key in _started:
            return
        _started.add(key)
    threading.Thread(
        target=_checkpoint, args=(key[1], page_size), name="mlstack-log-checkpoints", daemon=True
    ).start()
