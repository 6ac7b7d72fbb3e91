"""`make secrets` (devstack.stack_secrets): creates .secrets, or completes an existing one."""

from __future__ import annotations

import stat

from devstack.stack_secrets import LINE, ROOT, declared_secret_files, write_secrets

EXAMPLE = ROOT / ".secrets.example"


def values(path) -> dict[str, str]:
    return {m.group("name"): m.group("value") for m in map(LINE.match, path.read_text().splitlines()) if m}


def test_a_new_file_gets_every_key_with_random_values(tmp_path):
    out = tmp_path / ".secrets"
    done = write_secrets(EXAMPLE, out)
    assert done.created and "AIRFLOW_FERNET_KEY" in done.fresh
    got = values(out)
    assert set(got) == set(values(EXAMPLE))
    assert "change-me" not in got.values()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_an_existing_file_is_completed_and_its_values_kept(tmp_path):
    # what the README's native section leaves: one line appended to a new .secrets
    out = tmp_path / ".secrets"
    out.write_text("MLSTACK_AIRFLOW_ADMIN_PASSWORD=my own choice\nPOSTGRES_PASSWORD=change-me\n")
    out.chmod(0o644)
    done = write_secrets(EXAMPLE, out)
    got = values(out)
    assert not done.created
    assert got["MLSTACK_AIRFLOW_ADMIN_PASSWORD"] == "my own choice"  # pragma: allowlist secret
    assert done.kept == ["MLSTACK_AIRFLOW_ADMIN_PASSWORD"]
    assert done.fresh == ["POSTGRES_PASSWORD"] and got["POSTGRES_PASSWORD"] not in ("", "change-me")
    assert set(got) == set(values(EXAMPLE))  # every key compose requires
    assert set(done.added) == set(values(EXAMPLE)) - {"MLSTACK_AIRFLOW_ADMIN_PASSWORD", "POSTGRES_PASSWORD"}
    assert "change-me" not in got.values()
    assert out.read_text().startswith("MLSTACK_AIRFLOW_ADMIN_PASSWORD=my own choice\n")  # its lines first
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_complete_file_is_left_byte_for_byte(tmp_path):
    out = tmp_path / ".secrets"
    write_secrets(EXAMPLE, out)
    before = out.read_bytes()
    done = write_secrets(EXAMPLE, out)
    assert out.read_bytes() == before
    assert not done.added and not done.fresh and len(done.kept) == len(values(EXAMPLE))


def test_force_writes_new_values(tmp_path):
    out = tmp_path / ".secrets"
    out.write_text("POSTGRES_PASSWORD=old\n")
    done = write_secrets(EXAMPLE, out, force=True)
    assert done.created and values(out)["POSTGRES_PASSWORD"] != "old"  # pragma: allowlist secret


def test_make_secrets_writes_one_file_per_compose_secret_and_names_the_folder_in_env(tmp_path):
    """Issue 15 §2: `make secrets` (this CLI) leaves what plain `docker compose up` needs."""
    from typer.testing import CliRunner

    from devstack.cli import app

    (tmp_path / ".env").write_text("MLSTACK_MAILPIT_USER=ops\n")
    result = CliRunner().invoke(app, ["stack-secrets", "--output", str(tmp_path / ".secrets")])
    assert result.exit_code == 0, result.output
    assert "MLSTACK_SECRETS_DIR=./.secrets.d" in (tmp_path / ".env").read_text()
    folder = tmp_path / ".secrets.d"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # the host: only the owner gets in
    secrets = values(tmp_path / ".secrets")
    files = {p.name: p for p in folder.iterdir()}
    assert set(files) == set(declared_secret_files(ROOT / "docker-compose.yml"))
    for name, path in files.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, name  # the containers' users read the mount
    assert files["AIRFLOW_FERNET_KEY"].read_text() == secrets["AIRFLOW_FERNET_KEY"]
    assert files["MAILPIT_UI_AUTH"].read_text() == f"ops:{secrets['MLSTACK_MAILPIT_PASSWORD']}"
    assert files["NEON_DATABASE_URL"].read_text() == ""  # commented out in .secrets: empty, not absent
    assert secrets["AIRFLOW_FERNET_KEY"] not in result.output  # names only, never values

    # An edit of .secrets reaches the files with the next `make secrets`; .env gets no second line.
    (tmp_path / ".secrets").write_text(
        (tmp_path / ".secrets").read_text()
        + "NEON_DATABASE_URL=postgresql://u:p@h/db\n"  # pragma: allowlist secret
    )
    assert CliRunner().invoke(app, ["stack-secrets", "--output", str(tmp_path / ".secrets")]).exit_code == 0
    assert files["NEON_DATABASE_URL"].read_text() == "postgresql://u:p@h/db"  # pragma: allowlist secret
    assert (tmp_path / ".env").read_text().count("MLSTACK_SECRETS_DIR=") == 1
