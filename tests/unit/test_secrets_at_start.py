"""The secrets check every container runs at start (issue 15, section 2), outside Docker.

The check is `mlstack.secrets_check` itself; the MLflow and Jenkins images carry that module alone
(no mlstack package, no dependencies), so one test runs it that way with a bare interpreter. The
containers themselves are refused in tests/stack/test_stack_boot.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlstack.secrets_check import check_secrets, container_environment, main

ROOT = Path(__file__).resolve().parents[2]
STRONG = "Zq8vN3xR7tLm2KpW9sYb4HdF6jGc1AeU"  # pragma: allowlist secret


def test_compose_secrets_files_count_as_set(tmp_path):
    (tmp_path / "JENKINS_ADMIN_PASSWORD").write_text(STRONG + "\n")
    (tmp_path / "MLSTACK_JENKINS_WEBHOOK_TOKEN").write_text("change-me\n")
    env = container_environment({"MLSTACK_ENV": "production"}, secrets_dir=tmp_path)
    report = check_secrets(["jenkins"], env)
    assert [f.variable for f in report.findings] == ["MLSTACK_JENKINS_WEBHOOK_TOKEN"]
    assert report.refused


def test_the_environment_wins_over_a_file_and_empty_means_unset(tmp_path):
    (tmp_path / "JENKINS_ADMIN_PASSWORD").write_text("change-me")
    env = container_environment({"JENKINS_ADMIN_PASSWORD": STRONG, "X": ""}, secrets_dir=tmp_path)
    assert env["JENKINS_ADMIN_PASSWORD"] == STRONG and "X" not in env


@pytest.mark.parametrize(
    ("component", "variable", "replaced_by"),
    [
        ("airflow-db", "AIRFLOW_DB_PASSWORD", "AIRFLOW_DB_URL"),
        ("mlflow-db", "MLFLOW_DB_PASSWORD", "NEON_DATABASE_URL"),
        ("prediction-log-db", "MLSTACK_DB_PASSWORD", "MLSTACK_PREDICTION_LOG_URL"),
    ],
)
def test_a_database_password_is_checked_unless_a_url_replaces_it(component, variable, replaced_by):
    env = {"MLSTACK_ENV": "production", variable: "postgres"}
    report = check_secrets([component], env)
    assert report.refused and report.findings[0].variable == variable
    assert not check_secrets([component], {**env, replaced_by: "postgresql://h/db"}).findings


def test_s3_keys_name_the_container_variable_and_the_secrets_name():
    env = {"MLSTACK_ENV": "production", "AWS_ACCESS_KEY_ID": "change-me", "AWS_SECRET_ACCESS_KEY": "short"}
    text = check_secrets(["s3"], env).to_text()
    assert "S3 access key (AWS_ACCESS_KEY_ID): is a known default" in text
    assert "S3 secret key (AWS_SECRET_ACCESS_KEY): is too short" in text
    assert "set RUSTFS_SECRET_KEY in .secrets (`make secrets`" in text


def test_main_exit_codes(monkeypatch, capsys):
    monkeypatch.setenv("MLSTACK_ENV", "production")
    monkeypatch.setenv("MLSTACK_API_TOKEN", "change-me")
    assert main(["api"]) == 2
    assert "REFUSED" in capsys.readouterr().err
    monkeypatch.setenv("MLSTACK_ENV", "development")
    assert main(["api"]) == 0
    monkeypatch.setenv("MLSTACK_API_TOKEN", STRONG)
    monkeypatch.setenv("MLSTACK_ENV", "production")
    assert main(["api"]) == 0
    assert ": ok (1 checked)" in capsys.readouterr().out
    assert main(["nonsense"]) == 2
    assert "unknown component" in capsys.readouterr().err


def test_the_module_alone_runs_on_a_bare_interpreter(tmp_path):
    """As in the MLflow and Jenkins images: three files of mlstack, the standard library only."""
    lib = tmp_path / "lib" / "mlstack"
    lib.mkdir(parents=True)
    for name in ("__init__.py", "errors.py", "secrets_check.py"):
        shutil.copy(ROOT / "src/mlstack" / name, lib / name)
    env = {"PYTHONPATH": str(lib.parent), "MLSTACK_ENV": "production", "MLFLOW_DB_PASSWORD": "change-me"}
    proc = subprocess.run(
        [sys.executable, "-s", "-S", "-m", "mlstack.secrets_check", "mlflow-db"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "MLflow database password (MLFLOW_DB_PASSWORD): is a known default" in proc.stderr


def test_the_airflow_viewer_password_is_checked_and_make_secrets_writes_one():
    """The viewer login (FabAuthManager role Viewer): .secrets.example's placeholder is refused,
    what `make secrets` writes passes; airflow-init, the one container holding it, checks it."""
    from dotenv import dotenv_values

    from devstack.stack_secrets import render

    example = (ROOT / ".secrets.example").read_text()
    shipped = dotenv_values(stream=__import__("io").StringIO(example))
    assert shipped["MLSTACK_AIRFLOW_VIEWER_PASSWORD"] == "change-me"  # pragma: allowlist secret
    report = check_secrets(["airflow-viewer"], {"MLSTACK_ENV": "production", **shipped})
    assert report.refused and [f.variable for f in report.findings] == ["MLSTACK_AIRFLOW_VIEWER_PASSWORD"]
    assert "set MLSTACK_AIRFLOW_VIEWER_PASSWORD in .secrets" in report.to_text()
    generated = dotenv_values(stream=__import__("io").StringIO(render(example)))
    viewer, admin = (generated[f"MLSTACK_AIRFLOW_{who}_PASSWORD"] for who in ("VIEWER", "ADMIN"))
    assert viewer and viewer != admin
    assert not check_secrets(["airflow-viewer"], {"MLSTACK_ENV": "production", **generated}).findings


@pytest.mark.parametrize("value", ["change-me", "", "viewer"])
def test_make_check_secrets_refuses_a_weak_airflow_viewer_password_naming_it(tmp_path, value):
    """`make check-secrets` is `mlstack secrets check` (component `all`): run in a folder whose
    .secrets is what `make secrets` writes but for the viewer's password, it refuses and names it."""
    from devstack.stack_secrets import render

    secrets = render((ROOT / ".secrets.example").read_text())
    assert "\nMLSTACK_AIRFLOW_VIEWER_PASSWORD=" in secrets
    lines = [
        f"MLSTACK_AIRFLOW_VIEWER_PASSWORD={value}"
        if line.startswith("MLSTACK_AIRFLOW_VIEWER_PASSWORD=")
        else line
        for line in secrets.splitlines()
    ]
    (tmp_path / ".secrets").write_text("\n".join([*lines, "MLSTACK_ENV=production", ""]))
    assert "mlstack secrets check\n" in (ROOT / "mk/reliability.mk").read_text()  # the target's command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "AIRFLOW", "MLFLOW_"))}
    mlstack = [str(Path(sys.executable).parent / "mlstack"), "secrets", "check"]
    run = subprocess.run(mlstack, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    said = " ".join(run.stderr.split())
    assert "1 problem(s), REFUSED" in said
    assert "Airflow viewer password (MLSTACK_AIRFLOW_VIEWER_PASSWORD): is " in said
    # with the value `make secrets` wrote, the same command passes
    (tmp_path / ".secrets").write_text(secrets + "\nMLSTACK_ENV=production\n")
    run = subprocess.run(mlstack, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and ": ok (7 checked)" in " ".join(run.stdout.split()), run.stdout + run.stderr


def test_the_serving_s3_pair_is_checked_and_make_secrets_writes_one_apart_from_the_admin_keys():
    """Streamlit's and the API's scoped S3 key (component serving-s3): the entrypoint makes AWS_*
    of it, so a shipped placeholder is refused under AWS_* with the .secrets name to fix; `make
    secrets` writes a pair of its own, not RustFS's admin pair, in the access key's form."""
    from dotenv import dotenv_values

    from devstack.stack_secrets import render

    example = (ROOT / ".secrets.example").read_text()
    shipped = dotenv_values(stream=__import__("io").StringIO(example))
    placeholders = {
        "AWS_ACCESS_KEY_ID": shipped["MLSTACK_SERVING_S3_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": shipped["MLSTACK_SERVING_S3_SECRET_KEY"],
    }
    report = check_secrets(["serving-s3"], {"MLSTACK_ENV": "production", **placeholders})
    assert report.refused and [f.variable for f in report.findings] == [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]
    assert "set MLSTACK_SERVING_S3_SECRET_KEY in .secrets" in report.to_text()
    generated = dotenv_values(stream=__import__("io").StringIO(render(example)))
    key, secret = generated["MLSTACK_SERVING_S3_ACCESS_KEY"], generated["MLSTACK_SERVING_S3_SECRET_KEY"]
    assert key.startswith("mlstack") and 3 <= len(key) <= 20
    assert (key, secret) != (generated["RUSTFS_ACCESS_KEY"], generated["RUSTFS_SECRET_KEY"])
    mounted = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    assert not check_secrets(["serving-s3"], {"MLSTACK_ENV": "production", **mounted}).findings
