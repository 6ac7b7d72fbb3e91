"""checkov over the rendered Kubernetes manifests, the Dockerfiles and docker-compose.yml.

checkov runs once per session (conftest's `checkov_report`; about 30 s), from its own pinned
environment (.tools/checkov, `make deploy-tools`: it cannot share the project's lock, see
deploy/tools/checkov.in). Without a platform API key it reports no severities, so every failed
check fails here unless .checkov.yaml skips it with a reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import CANARY_NAME, REPO

pytestmark = pytest.mark.static


def failed(report: dict[str, Any], *, canary: bool = False) -> list[str]:
    """Failed checks of the project's files, or (canary=True) of the canary manifest."""
    out = []
    for result in report["results"]:
        for check in result.get("results", {}).get("failed_checks", []):
            if (Path(check["file_abs_path"]).name == CANARY_NAME) != canary:
                continue
            out.append(
                f"{check['check_id']} {check['check_name']} ({check['resource']}, {check['file_path']})"
            )
    return out


def test_checkov_finds_nothing_unexplained(checkov_report: dict[str, Any]) -> None:
    assert failed(checkov_report) == []


def test_checkov_scanned_each_kind_of_file(checkov_report: dict[str, Any]) -> None:
    """A scan that parsed nothing would pass: each framework ran, with many passed checks."""
    by_type = {r.get("check_type"): r["summary"] for r in checkov_report["results"] if "summary" in r}
    assert by_type["kubernetes"]["passed"] >= 300
    assert by_type["kubernetes"]["resource_count"] >= 21  # 20 objects + the canary pod
    assert by_type["dockerfile"]["resource_count"] == 4
    for summary in by_type.values():
        assert summary["parsing_errors"] == 0
    # Only the reasoned skips of .checkov.yaml were applied.
    skipped = {
        c["check_id"]
        for r in checkov_report["results"]
        for c in r.get("results", {}).get("skipped_checks", [])
    }
    assert skipped <= set(yaml.safe_load((REPO / ".checkov.yaml").read_text())["skip-check"])


def test_every_skip_has_a_reason() -> None:
    """Each skipped check id in .checkov.yaml follows a comment saying why."""
    lines = (REPO / ".checkov.yaml").read_text().splitlines()
    ids = [i for i, line in enumerate(lines) if line.strip().startswith("- CKV")]
    assert ids
    for i in ids:
        assert lines[i - 1].strip().startswith("#"), f".checkov.yaml: {lines[i].strip()} has no reason"


def test_checkov_catches_a_privileged_container(checkov_report: dict[str, Any]) -> None:
    """The scan can fail: the canary (a privileged container, scanned in the same run) is
    reported by checkov."""
    found = failed(checkov_report, canary=True)
    assert any(f.startswith("CKV_K8S_16 ") for f in found), found
