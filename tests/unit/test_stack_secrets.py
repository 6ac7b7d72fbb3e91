"""`make secrets` (devstack.stack_secrets): creates .secrets, or completes an existing one."""

from __future__ import annotations

import stat

from devstack.stack_secrets import LINE, ROOT, write_secrets

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
