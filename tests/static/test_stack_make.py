"""The stack's make targets, checked without booting the stack: `make -n` prints the recipe, a
fake `docker` on PATH records what the printed recipe would ask of the engine.

A real engine is what tests/stack boots; here only what make hands to `docker` is checked: which
profiles `down`/`reset` reach, which engine every target talks to, and that `trigger` passes CONF.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_DOCKER = """#!/usr/bin/env bash
# Records each call: the profiles compose would use, the engine, the arguments.
echo "COMPOSE_PROFILES=${COMPOSE_PROFILES-<unset>} DOCKER_HOST=${DOCKER_HOST-<unset>} ARGS=$*" >> "$FAKE_DOCKER_LOG"
case "$*" in
  *" ls "*|*" ls") echo "leftover-$2" ;;  # one object of each kind left behind by an older layout
esac
"""


def make_env(**extra: str) -> dict[str, str]:
    """The environment for a nested make: no flags of a calling make, no DOCKER_HOST or profiles."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "DOCKER_HOST"))}
    env.pop("COMPOSE_PROFILES", None)
    env.pop("COMPOSE_PROJECT_NAME", None)
    return {**env, **extra}


NO_ENGINE = "MLSTACK_DOCKER_SOCK=/nonexistent/mlstack-docker.sock"  # a private engine may run here


def make_n(*args: str, **env: str) -> str:
    if not any(a.startswith("MLSTACK_DOCKER_SOCK=") for a in args):
        args = (*args, NO_ENGINE)
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=ROOT,
        env=make_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def run_recipe(script: str, workdir: Path, env: dict[str, str]) -> list[str]:
    """Run a printed recipe in ``workdir`` with the fake docker first on PATH; the docker calls."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    log = workdir / "docker.log"
    log.write_text("")
    full = {**make_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DOCKER_LOG": str(log), **env}
    proc = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=full, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return log.read_text().splitlines()


def recipe_from(output: str, first_line: str) -> str:
    """The target's own recipe in `make -n` output (prerequisites' recipes come first)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_line))
    return "\n".join(lines[start:])


def stack_dir(tmp_path: Path) -> Path:
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=mlstack\nCOMPOSE_PROFILES=postgres,rustfs,mailpit\n")
    (tmp_path / ".secrets").write_text("POSTGRES_PASSWORD=x\n")
    return tmp_path


def test_down_and_ps_keep_the_profiles_of_env(tmp_path):
    for target in ("down", "ps"):
        recipe = recipe_from(make_n(target), "profiles=")
        assert "--profile" not in recipe, "a --profile flag replaces COMPOSE_PROFILES"
        calls = run_recipe(recipe, stack_dir(tmp_path), {})
        assert calls == [
            f"COMPOSE_PROFILES=postgres,rustfs,mailpit,celery,jenkins,monitoring DOCKER_HOST=<unset> "
            f"ARGS=compose --env-file .env --env-file .secrets {'down --remove-orphans' if target == 'down' else 'ps'}"
        ]


def test_down_takes_the_profiles_of_the_environment_first(tmp_path):
    recipe = recipe_from(make_n("down"), "profiles=")
    calls = run_recipe(recipe, stack_dir(tmp_path), {"COMPOSE_PROFILES": "rustfs"})
    assert calls[0].startswith("COMPOSE_PROFILES=rustfs,celery,jenkins,monitoring ")


def test_reset_removes_every_container_volume_and_network_of_the_project(tmp_path):
    recipe = recipe_from(make_n("reset", MLSTACK_RESET_CONFIRM="yes"), "set -euo pipefail")
    calls = run_recipe(recipe, stack_dir(tmp_path), {"MLSTACK_RESET_CONFIRM": "yes"})
    args = [c.split("ARGS=", 1)[1] for c in calls]
    assert calls[0].startswith("COMPOSE_PROFILES=postgres,rustfs,mailpit,celery,jenkins,monitoring ")
    assert args[0] == "compose --env-file .env --env-file .secrets down --volumes --remove-orphans"
    label = "--filter label=com.docker.compose.project=mlstack"
    assert args[1:] == [
        f"container ls -a -q {label}",
        "container rm -f leftover-ls",
        f"volume ls -q {label}",
        "volume rm -f leftover-ls",
        f"network ls -q {label}",
        "network rm leftover-ls",
    ]


def test_reset_without_confirmation_keeps_everything(tmp_path):
    recipe = recipe_from(make_n("reset", MLSTACK_RESET_CONFIRM="yes"), "set -euo pipefail")
    proc = subprocess.run(
        ["bash", "-c", recipe],
        cwd=stack_dir(tmp_path),
        env=make_env(PATH=f"{tmp_path}/bin:{os.environ['PATH']}"),
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "kept" in proc.stdout


def _compose_when_recipes_run(sock: Path, *, create: bool) -> str:
    """COMPOSE as a recipe sees it, after an earlier recipe of the same make call made the socket
    (what `make stack-engine up` does); make itself runs here, only its own two eval'd targets."""
    make_sock = (
        f"python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"{sock}\")'" if create else "true"
    )
    proc = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "--eval",
            f"zz-sock: ; @{make_sock}",
            "--eval",
            'zz-show: zz-sock ; @echo "$(COMPOSE)"',
            "zz-show",
            f"MLSTACK_DOCKER_SOCK={sock}",
        ],
        cwd=ROOT,
        env=make_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_stack_targets_find_the_private_engine_started_in_the_same_make_call(tmp_path):
    sock = tmp_path / "engine.sock"
    compose = _compose_when_recipes_run(sock, create=True)
    assert compose == f"env DOCKER_HOST=unix://{sock} docker compose --env-file .env --env-file .secrets"


def test_without_the_private_engine_the_usual_docker(tmp_path):
    compose = _compose_when_recipes_run(tmp_path / "absent.sock", create=False)
    assert compose == "docker compose --env-file .env --env-file .secrets"


def test_up_uses_the_private_engine_when_its_socket_exists(tmp_path):
    sock = tmp_path / "engine.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock))
        out = make_n("up", f"MLSTACK_DOCKER_SOCK={sock}")
    assert f"env DOCKER_HOST=unix://{sock} docker compose --env-file .env --env-file .secrets up -d" in out


def test_up_celery_runs_workers_of_the_celery_profile_with_the_celery_executor(tmp_path):
    for extra, workers in (((), "1"), (("WORKERS=3",), "3")):
        recipe = recipe_from(make_n("up-celery", *extra), "set -euo pipefail")
        calls = run_recipe(recipe, stack_dir(tmp_path), {})
        assert calls == [
            "COMPOSE_PROFILES=postgres,rustfs,mailpit,celery DOCKER_HOST=<unset> ARGS=compose --env-file .env "
            f"--env-file .secrets up -d --build --wait --scale airflow-worker={workers}"
        ], calls
        assert "AIRFLOW_EXECUTOR=CeleryExecutor" in recipe


def test_trigger_passes_conf_to_the_cli(tmp_path):
    out = make_n("trigger", """CONF={"source": "builtin:penguins"}""")
    line = recipe_from(out, "COMPOSE=")
    assert """CONF='{"source": "builtin:penguins"}'""" in line
    # the script, with an echoing COMPOSE: the command it would run in the scheduler container
    script = ROOT / "scripts/stack/trigger.sh"
    for conf, expected in ((""""{"a": 1}""", '{"a": 1}'), ("", "{}")):
        env = make_env(COMPOSE="echo", CONF=conf.strip('"'))
        proc = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert f"mlstack airflow trigger training_pipeline --conf {expected} --wait" in proc.stdout


def test_readme_stack_section_lists_the_commands_in_order():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Run the stack (Docker Compose)", 1)[1].split("\n## ", 1)[0]
    commands = list(dict.fromkeys(re.findall(r"^make ([a-z-]+)", section, flags=re.M)))  # first mentions
    order = [
        "stack-engine",
        "stack-standins",
        "secrets",
        "trigger",
        "down",
        "reset",
        "stack-engine-stop",
    ]
    assert [c for c in commands if c in order] == order
    # Between `make secrets` and the rest: the plain compose command (issue 15 §2), no make target.
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    assert re.search(r"^make secrets .*\n^docker compose up -d --wait ", block, flags=re.M), block


def test_trigger_api_passes_conf_to_the_cli():
    out = make_n("trigger-api", """CONF={"source": "s3://bucket/batch.csv"}""")
    assert """mlstack airflow trigger training_pipeline --conf '{"source": "s3://bucket/batch.csv"}'""" in out
