"""Generate the images' requirements*.txt from uv.lock (same pins in tests and images).

    python scripts/stack/requirements.py [--check] [--uv PATH]

requirements.txt            Airflow image: core + airflow + monitor extras
requirements.streamlit.txt  Streamlit image: core + serve extra
requirements.mlflow.txt     MLflow server image: mlflow, boto3, psycopg[binary] and what they need
                            (the subset of the core export reachable from those roots in uv.lock,
                            with the extras the project asks for: mlflow[auth] brings Flask-WTF)

--check regenerates into memory and exits 1 if a committed file differs (the static test).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ["export", "--frozen", "--no-hashes", "--no-dev", "--no-emit-project", "--no-header"]
MLFLOW_ROOTS = ["mlflow", "boto3", "psycopg"]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_uv(explicit: str | None) -> str:
    for candidate in (explicit, shutil.which("uv"), str(ROOT / ".tools/bin/uv")):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("uv not found: run `make setup` (it installs uv into .tools when missing)")


def uv_export(uv: str, *extras: str, annotate: bool = True) -> str:
    args = [uv, *EXPORT] + ([] if annotate else ["--no-annotate"])
    for extra in extras:
        args += ["--extra", extra]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out


def lock_packages() -> dict[str, dict]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {normalize(p["name"]): p for p in lock["package"]}


def closure(packages: dict[str, dict], roots: list[str]) -> set[str]:
    """Names reachable from roots, each root taken with the extras the project requires of it."""
    project = next(p for p in packages.values() if p.get("source", {}).get("editable") == ".")
    wanted = {normalize(r) for r in roots}
    todo = [
        (normalize(d["name"]), tuple(d.get("extra", ())))
        for d in project.get("dependencies", [])
        if normalize(d["name"]) in wanted
    ]
    missing = wanted - {name for name, _ in todo}
    if missing:
        sys.exit(f"uv.lock: the project does not depend on {sorted(missing)}")
    seen: set[str] = set()
    while todo:
        name, extras = todo.pop()
        pkg = packages.get(name)
        if pkg is None:
            continue
        first = name not in seen
        seen.add(name)
        deps = list(pkg.get("dependencies", [])) if first else []
        for extra in extras:
            deps += pkg.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            todo.append((normalize(dep["name"]), tuple(dep.get("extra", ()))))
    return seen


def header(command: str, note: str = "") -> str:
    lines = [
        "# Generated from uv.lock by `make requirements` (scripts/stack/requirements.py): do not edit.",
        f"# Source: {command}",
    ]
    if note:
        lines += [f"# {line}" for line in note.splitlines()]
    return "\n".join(lines) + "\n"


def generate(uv: str) -> dict[str, str]:
    packages = lock_packages()
    files: dict[str, str] = {}
    cmd = "uv " + " ".join(EXPORT)
    files["requirements.txt"] = header(f"{cmd} --extra airflow --extra monitor") + uv_export(
        uv, "airflow", "monitor"
    )
    files["requirements.streamlit.txt"] = header(f"{cmd} --extra serve") + uv_export(uv, "serve")
    keep = closure(packages, MLFLOW_ROOTS)
    kept = [
        line
        for line in uv_export(uv, annotate=False).splitlines()
        if line
        and not line.startswith("#")
        and normalize(re.split(r"[=<>~!;\[ ]", line, maxsplit=1)[0]) in keep
    ]
    files["requirements.mlflow.txt"] = (
        header(
            f"{cmd} --no-annotate (core), filtered to what {', '.join(MLFLOW_ROOTS)} need",
            "The MLflow server image installs only this: the tracking server, S3 and Postgres.",
        )
        + "\n".join(kept)
        + "\n"
    )
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a committed file is stale")
    parser.add_argument("--uv", default=os.environ.get("UV"))
    args = parser.parse_args()
    files = generate(find_uv(args.uv))
    stale = []
    for name, text in files.items():
        path = ROOT / name
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(name)
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), f"{name} (committed)", f"{name} (from uv.lock)"
            )
            sys.stdout.write("\n".join(list(diff)[:60]) + "\n")
        else:
            path.write_text(text)
            print(f"wrote {name}")
    if stale:
        print(f"stale: {', '.join(stale)}: run `make requirements`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
