"""Supply chain, statically: every pin the images and the Makefile install carries uv.lock's hashes,
every install of them is hash-checked, and every upstream base image's digest is stated or its
absence said next to the tag in the README.

`test_compose.py::test_requirements_are_in_sync_with_uv_lock` proves the files are uv.lock's
export; this file proves the export is hashed and that nothing installs around it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = sorted(ROOT.glob("requirements*.txt"))
DOCKERFILES = sorted(ROOT.glob("Dockerfile*"))
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def requirement_entries(path: Path) -> list[str]:
    """Each requirement of a pip requirements file, its continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    lines = (re.sub(r"(^|\s)#.*", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def run_commands(text: str) -> list[str]:
    """The shell commands of a Dockerfile's RUN lines or a Makefile's recipes: continuations joined,
    split at ``&&``, ``;`` and newlines."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    text = re.sub(r"\\\n", " ", text)
    return [cmd.strip() for cmd in re.split(r"&&|;|\n", text) if cmd.strip()]


def pip_commands(text: str) -> list[str]:
    """The ``pip install`` and ``pip wheel`` commands in ``text``."""
    return [cmd for cmd in run_commands(text) if re.search(r"\bpip3?\s+(install|wheel)\b", cmd)]


def test_the_generated_requirements_files_are_all_there():
    names = {path.name for path in REQUIREMENTS}
    assert names >= {
        "requirements.txt",
        "requirements.mlflow.txt",
        "requirements.streamlit.txt",
        "requirements.uv.txt",
        "requirements.build.txt",
    }, names


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_a_hash(path: Path):
    entries = requirement_entries(path)
    assert entries, f"{path.name}: no requirement"
    for entry in entries:
        name = entry.split()[0]
        assert re.fullmatch(r"[A-Za-z0-9._\-\[\],]+==[^=\s;]+", name), f"{path.name}: {name} is not pinned"
        assert HASH.search(entry), f"{path.name}: {name} has no --hash"


def test_uv_is_pinned_by_the_lock_with_every_platform_hash():
    [entry] = requirement_entries(ROOT / "requirements.uv.txt")
    # One wheel per platform a developer or an image may run on: a hash for each, not just this one.
    assert len(HASH.findall(entry)) >= 10, entry
    assert '"uv==' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_install_from_the_registry_only_hash_checked(dockerfile: Path):
    """A ``pip install`` from the registry reads a hashed requirements file with --require-hashes;
    the only other install is the mlstack wheel the image built itself; a wheel build uses the
    hashed build backend (no build isolation, which would download an unpinned one)."""
    copied = set(re.findall(r"^COPY\s+(requirements[\w.]*\.txt)\s", dockerfile.read_text(), re.M))
    for cmd in pip_commands(dockerfile.read_text()):
        if " wheel " in cmd:
            assert "--no-build-isolation" in cmd and "--no-deps" in cmd, f"{dockerfile.name}: {cmd}"
        elif " -r " in cmd:
            assert "--require-hashes" in cmd and "--no-deps" in cmd, f"{dockerfile.name}: {cmd}"
        else:
            assert re.search(r"\s/tmp/wheels/\*\.whl\b", cmd), f"{dockerfile.name}: unhashed install: {cmd}"
    for name in copied:
        assert (ROOT / name).exists(), f"{dockerfile.name} copies {name}, which is not generated"


def test_the_project_images_each_install_their_hashed_export():
    expected = {
        "Dockerfile": {"requirements.txt", "requirements.build.txt"},
        "Dockerfile.mlflow": {"requirements.mlflow.txt"},
        "Dockerfile.streamlit": {"requirements.streamlit.txt", "requirements.build.txt"},
        "Dockerfile.jenkins-agent": {"requirements.uv.txt"},
    }
    for name, files in expected.items():
        copied = set(re.findall(r"^COPY\s+(requirements[\w.]*\.txt)\s", (ROOT / name).read_text(), re.M))
        assert copied == files, f"{name}: {copied}"
        assert pip_commands((ROOT / name).read_text()), f"{name}: no pip install"


def test_makefile_installs_uv_from_its_hashed_pin():
    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    cmds = [cmd for path in makefiles for cmd in pip_commands(path.read_text())]
    uv_installs = [cmd for cmd in cmds if "uv" in cmd]
    assert uv_installs, "the Makefile installs uv when it is missing"
    for cmd in uv_installs:
        assert "--require-hashes" in cmd and "-r requirements.uv.txt" in cmd, cmd
    assert not re.search(r"uv==\$\(|UV_VERSION", (ROOT / "Makefile").read_text()), "one pin: uv.lock's"


def test_this_test_sees_an_unhashed_line(tmp_path: Path):
    """The parsers above see what they claim to: an unhashed pin, and one install per command."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# header\nfoo==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via x\nbar==2.0\n")
    assert [bool(HASH.search(e)) for e in requirement_entries(reqs)] == [True, False]
    cmds = pip_commands("RUN /opt/venv/bin/pip install \\\n  -r /tmp/r.txt && pip check\nRUN pip wheel /src")
    assert len(cmds) == 2 and "--require-hashes" not in cmds[0] and "-r /tmp/r.txt" in cmds[0]


def upstream_images() -> set[str]:
    """Every upstream image the stack runs or builds on: Dockerfile bases and compose images."""
    images: set[str] = set()
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
        stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))
        for ref in re.findall(r"^FROM\s+(\S+)", text, re.M):
            ref = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), ref)
            if ref not in stages:
                images.add(ref)
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for service in services.values():
        image = service.get("image", "")
        if image and not image.startswith("mlstack-") and "build" not in service:
            images.add(image)
    return images


def test_readme_names_each_base_image_with_its_digest_or_why_not():
    readme = (ROOT / "README.md").read_text()
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \|[^|\n]*\|([^|\n]*)\|", readme, re.M)
    }
    images = upstream_images()
    assert len(images) >= 8, images
    for image in sorted(images):
        tag = image.split("@", 1)[0]
        assert tag in rows, f"README: no row for {tag} in the base images table"
        digest = rows[tag]
        assert "@sha256:" in image or "no digest" in digest, f"{tag}: pin @sha256: or say why not ({digest})"
