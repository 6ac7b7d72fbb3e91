"""Generate the images' requirements*.txt from uv.lock (same pins in tests and images).

    devstack requirements [--check] [--uv PATH]      (`make requirements`)

requirements.txt            Airflow image: core + airflow + monitor extras
requirements.streamlit.txt  Streamlit image: core + serve extra
requirements.mlflow.txt     MLflow server image: mlflow, boto3, psycopg[binary] and what they need
                            (the subset of the core export reachable from those roots in uv.lock,
                            with the extras the project asks for: mlflow[auth] brings Flask-WTF)
requirements.uv.txt         uv itself (dependency group `uv`): the Makefile and the Jenkins agent
requirements.build.txt      the build backend of the mlstack wheel (dependency group `build`)

Every pin carries uv.lock's hashes, and every install of these files uses
`pip install --require-hashes` (tests/static/test_supply_chain.py).

--check regenerates into memory and exits 1 if a committed file differs (the static test).
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # devstack/src/devstack/ -> the repository
EXPORT = ["export", "--frozen", "--no-dev", "--no-emit-project", "--no-header"]
MLFLOW_ROOTS = ["mlflow", "boto3", "psycopg", "prometheus-flask-exporter"]


def normalize(name: str) -> str:
    """A package name in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_uv(explicit: str | None) -> str:
    """Path of uv: ``explicit``, then PATH, then the repository's .tools; exits when there is none."""
    for candidate in (explicit, shutil.which("uv"), str(ROOT / ".tools/bin/uv")):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("uv not found: run `make setup` (it installs uv into .tools when missing)")


def uv_export(uv: str, *extras: str, annotate: bool = True, group: str | None = None) -> str:
    """``uv export`` (with hashes) of the locked runtime dependencies (no dev group) with ``extras``,
    or of dependency ``group`` alone."""
    args = [uv, *EXPORT] + ([] if annotate else ["--no-annotate"])
    for extra in extras:
        args += ["--extra", extra]
    if group:
        args += ["--only-group", group]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out


def entries(export: str) -> list[str]:
    """The requirement entries of an export, each with its ``--hash`` continuation lines."""
    found: list[str] = []
    for line in export.splitlines():
        if line.startswith((" ", "\t")) and found:
            found[-1] += "\n" + line
        elif line and not line.startswith("#"):
            found.append(line)
    return found


def lock_packages() -> dict[str, dict]:
    """uv.lock's packages by normalized name."""
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
    """The comment block that opens a generated file."""
    lines = [
        "# Generated from uv.lock by `make requirements` (devstack requirements): do not edit.",
        f"# Source: {command}",
    ]
    if note:
        lines += [f"# {line}" for line in note.splitlines()]
    return "\n".join(lines) + "\n"


def generate(uv: str) -> dict[str, str]:
    """The text of each requirements file, by file name."""
    packages = lock_packages()
    files: dict[str, str] = {}
    cmd = "uv " + " ".join(EXPORT)
    files["requirements.txt"] = header(f"{cmd} --extra airflow --extra monitor") + uv_export(
        uv, "airflow", "monitor"
    )
    files["requirements.streamlit.txt"] = header(f"{cmd} --extra serve") + uv_export(uv, "serve")
    keep = closure(packages, MLFLOW_ROOTS)
    kept = [
        entry
        for entry in entries(uv_export(uv, annotate=False))
        if normalize(re.split(r"[=<>~!;\[ ]", entry, maxsplit=1)[0]) in keep
    ]
    files["requirements.mlflow.txt"] = (
        header(
            f"{cmd} --no-annotate (core), filtered to what {', '.join(MLFLOW_ROOTS)} need",
            "The MLflow server image installs only this: the tracking server, S3 and Postgres.",
        )
        + "\n".join(kept)
        + "\n"
    )
    for group, note in (
        ("uv", "uv itself, for the Makefile (.tools) and the Jenkins agent image."),
        ("build", "The build backend the images build the mlstack wheel with (--no-build-isolation)."),
    ):
        files[f"requirements.{group}.txt"] = header(f"{cmd} --only-group {group}", note) + uv_export(
            uv, group=group
        )
    return files


def stale_files(uv: str, *, write: bool) -> dict[str, str]:
    """Regenerate every requirements file; {name: diff} of those that differ from the committed ones.

    ``write=True`` writes the new text over each differing file.
    """
    stale: dict[str, str] = {}
    for name, text in generate(uv).items():
        path = ROOT / name
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        diff = difflib.unified_diff(
            current.splitlines(), text.splitlines(), f"{name} (committed)", f"{name} (from uv.lock)"
        )
        stale[name] = "\n".join(list(diff)[:60])
        if write:
            path.write_text(text)
    return stale
