import os

import pytest

from mlstack.config import SECRET_MASK, load_settings, mask_url_password
from mlstack.errors import ConfigError


def test_defaults_are_embedded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(home=tmp_path / "h")
    assert settings.embedded
    assert settings.resolved_tracking_uri == f"sqlite:///{tmp_path / 'h' / 'mlflow.db'}"
    assert settings.resolved_data_root == str(tmp_path / "h" / "data")


def test_env_and_secrets_files_are_read_with_env_winning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MLSTACK_DATASET=diabetes\nMLSTACK_SMTP_PORT=2525\n")
    (tmp_path / ".secrets").write_text("MLSTACK_SMTP_PASSWORD=hunter2\n")
    monkeypatch.setenv("MLSTACK_SMTP_PORT", "587")
    settings = load_settings()
    assert settings.dataset == "diabetes"
    assert settings.smtp_port == 587
    assert settings.smtp_password.get_secret_value() == "hunter2"


def test_unit_tests_do_not_see_the_callers_environment():
    # The Jenkins controller's environment (compose) sets empty MLSTACK_* values; tests/unit clears
    # them, or an empty MLSTACK_SMTP_PASSWORD would beat .secrets in the test above.
    assert not [k for k in os.environ if k.startswith(("MLSTACK_", "MLFLOW_TRACKING_"))]


def test_a_key_in_both_files_takes_its_value_from_secrets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLSTACK_SMTP_USER", raising=False)
    (tmp_path / ".env").write_text("MLSTACK_SMTP_USER=from-env-file\n")
    (tmp_path / ".secrets").write_text("MLSTACK_SMTP_USER=from-secrets\n")
    assert load_settings().smtp_user == "from-secrets"
    monkeypatch.setenv("MLSTACK_SMTP_USER", "from-environment")
    assert load_settings().smtp_user == "from-environment"


def test_malformed_setting_names_variable_and_expectation(monkeypatch):
    monkeypatch.setenv("MLSTACK_SMTP_PORT", "not-a-port")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "MLSTACK_SMTP_PORT" in str(info.value)
    assert "integer" in str(info.value)


def test_bad_json_hyperparams_is_a_config_error(monkeypatch):
    monkeypatch.setenv("MLSTACK_HYPERPARAMS", "{not json")
    with pytest.raises(ConfigError):
        load_settings()


def test_recipients_accept_comma_list(monkeypatch):
    monkeypatch.setenv("MLSTACK_ALERT_RECIPIENTS", "a@x.org, b@y.org")
    assert load_settings().alert_recipients == ["a@x.org", "b@y.org"]


def test_masked_hides_secrets_and_url_passwords(monkeypatch):
    monkeypatch.setenv("MLSTACK_SMTP_PASSWORD", "app-password-123")
    monkeypatch.setenv("MLSTACK_PREDICTION_LOG_URL", "postgresql://u:pw-456@db/x")
    shown = str(load_settings().masked())
    assert "app-password-123" not in shown
    assert "pw-456" not in shown
    assert SECRET_MASK in shown


def test_mask_url_password_leaves_plain_urls():
    assert mask_url_password("http://host:5000") == "http://host:5000"
    assert mask_url_password("postgresql://u:p@h/db") == f"postgresql://u:{SECRET_MASK}@h/db"


def test_native_airflow_database_url_is_read_from_secrets_and_masked(tmp_path, monkeypatch):
    # `make airflow-up` takes MLSTACK_AIRFLOW_DB_URL from .secrets like every other setting.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".secrets").write_text(
        "MLSTACK_AIRFLOW_DB_URL=postgresql+psycopg://af:s3cret@db.example:5432/airflow\n"  # pragma: allowlist secret
    )
    settings = load_settings()
    assert settings.airflow_db_url.get_secret_value().endswith("@db.example:5432/airflow")
    assert "s3cret" not in str(settings.masked())
