"""Write a .secrets file from .secrets.example with fresh random values (mode 0600).

    python scripts/stack/gen_secrets.py [--output .secrets] [--force]

Every `NAME=change-me` line gets a new value: a Fernet key for AIRFLOW_FERNET_KEY, a random
URL-safe token otherwise. Other lines (comments, the commented cloud block) are copied as they
are. An existing output file is kept unless --force: secrets are not rotated by accident.
Values are never printed.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = "change-me"
LINE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def fresh(name: str) -> str:
    if name == "AIRFLOW_FERNET_KEY":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name == "RUSTFS_ACCESS_KEY":
        return "mlstack" + secrets.token_hex(6)
    return secrets.token_urlsafe(24)


def render(example: str) -> str:
    out = []
    for line in example.splitlines():
        match = LINE.match(line)
        if match and match.group("value").strip() == PLACEHOLDER:
            line = f"{match.group('name')}={fresh(match.group('name'))}"
        out.append(line)
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--example", type=Path, default=ROOT / ".secrets.example")
    parser.add_argument("--output", type=Path, default=ROOT / ".secrets")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args()
    if args.output.exists() and not args.force:
        print(f"{args.output} exists: kept (use --force to replace it)", file=sys.stderr)
        return 0
    text = render(args.example.read_text())
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(args.output, 0o600)
    count = sum(1 for ln in args.example.read_text().splitlines() if ln.endswith("=" + PLACEHOLDER))
    print(f"wrote {args.output} ({count} random values)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
