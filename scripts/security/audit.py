#!/usr/bin/env python
"""Audit the locked dependencies (uv.lock) for known vulnerabilities with pip-audit.

    python scripts/security/audit.py [--json OUT] [--min-coverage 0.9]

1. ``uv export --frozen --all-extras`` writes every pinned package of the lock (what images and
   .venv install) to a requirements file;
2. ``pip-audit -r <file> --no-deps --disable-pip`` looks each pin up in the vulnerability service
   (PyPI's JSON API by default; ``PIP_AUDIT_SERVICE=osv`` for OSV);
3. findings listed in docs/security/pip-audit-accepted.md (a table row with the vulnerability id)
   are accepted; any other finding fails.

Exit codes: 0 = no unaccepted finding and at least ``--min-coverage`` of the pins were audited;
1 = unaccepted finding(s); 3 = the vulnerability service could not be asked about enough pins
(e.g. no network to it): nothing can be concluded, which is reported, never passed off as clean.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCEPTED = ROOT / "docs" / "security" / "pip-audit-accepted.md"
BIN = Path(sys.executable).parent
EXIT_FINDINGS, EXIT_UNAUDITED = 1, 3
ID_PATTERN = re.compile(r"\b(?:PYSEC-\d{4}-\d+|GHSA(?:-[0-9a-z]{4}){3}|CVE-\d{4}-\d+)\b", re.I)


def accepted_ids(path: Path = ACCEPTED) -> set[str]:
    """Vulnerability ids in the first column of the accepted-findings table."""
    ids: set[str] = set()
    if not path.exists():
        return ids
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells:
            ids.update(m.upper() for m in ID_PATTERN.findall(cells[0]))
    return ids


def uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        sys.exit("audit: uv not found (run `make setup`)")
    return found


def export_lock(out: Path) -> int:
    subprocess.run(
        [uv(), "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project", "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return sum(1 for ln in out.read_text().splitlines() if ln and not ln.startswith((" ", "#")))


def run_pip_audit(requirements: Path, report: Path) -> subprocess.CompletedProcess:
    cmd = [
        str(BIN / "pip-audit"),
        "-r",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--vulnerability-service",
        os.environ.get("PIP_AUDIT_SERVICE", "pypi"),
        "--timeout",
        "30",
        "-f",
        "json",
        "-o",
        str(report),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)


def summarise(report: dict, accepted: set[str]) -> dict:
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    findings, accepted_hits = [], []
    for dep in deps:
        for vuln in dep.get("vulns", []):
            ids = {vuln["id"].upper(), *(a.upper() for a in vuln.get("aliases", []))}
            row = {
                "package": dep["name"],
                "version": dep.get("version"),
                "id": vuln["id"],
                "aliases": vuln.get("aliases", []),
                "fix_versions": vuln.get("fix_versions", []),
            }
            (accepted_hits if ids & accepted else findings).append(row)
    return {
        "pins": len(deps),
        "audited": len(deps) - len(skipped),
        "skipped": len(skipped),
        "skip_example": skipped[0]["skip_reason"] if skipped else None,
        "findings": findings,
        "accepted": accepted_hits,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--min-coverage", type=float, default=0.9, help="share of pins that must be audited")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlstack-audit-") as tmp:
        requirements, raw = Path(tmp) / "requirements.txt", Path(tmp) / "pip-audit.json"
        pins = export_lock(requirements)
        result = run_pip_audit(requirements, raw)
        if not raw.exists():
            print(f"audit: pip-audit produced no report (exit {result.returncode}):\n{result.stderr[-3000:]}")
            return EXIT_UNAUDITED
        summary = summarise(json.loads(raw.read_text()), accepted_ids())
    summary["exported_pins"] = pins
    coverage = summary["audited"] / max(summary["pins"], 1)
    summary["coverage"] = round(coverage, 3)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"audit: {summary['pins']} pinned packages, {summary['audited']} audited, "
        f"{summary['skipped']} not audited, {len(summary['findings'])} unaccepted finding(s), "
        f"{len(summary['accepted'])} accepted"
    )
    for row in summary["findings"]:
        fix = ", ".join(row["fix_versions"]) or "no fix yet"
        print(f"  FINDING {row['package']}=={row['version']}: {row['id']} (fixed in: {fix})")
    for row in summary["accepted"]:
        print(
            f"  accepted {row['package']}=={row['version']}: {row['id']} (see {ACCEPTED.relative_to(ROOT)})"
        )
    if summary["findings"]:
        return EXIT_FINDINGS
    if coverage < args.min_coverage:
        print(
            f"audit: only {coverage:.0%} of the pins could be looked up (need {args.min_coverage:.0%}); "
            f"the vulnerability service is not reachable from here: {summary['skip_example']}"
        )
        return EXIT_UNAUDITED
    return 0


if __name__ == "__main__":
    sys.exit(main())
