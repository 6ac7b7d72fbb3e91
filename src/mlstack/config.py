"""One Settings object, read from the environment, `.secrets` and `.env` (in that priority).

Embedded defaults need no server and no account: a SQLite MLflow store and local folders under
`MLSTACK_HOME` (default `.mlstack/`). Setting variables switches to Postgres/NeonDB, S3, SMTP.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from mlstack.errors import ConfigError

SECRET_MASK = "********"  # noqa: S105 - the mask, not a password


class Settings(BaseSettings):
    """Resolved configuration of the platform. Secrets are SecretStr and never printed."""

    model_config = SettingsConfigDict(
        env_prefix="MLSTACK_",
        env_file=(".env", ".secrets"),
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- where state lives ------------------------------------------------------------
    home: Path = Field(Path(".mlstack"), description="Local state folder (embedded mode)")
    tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "MLSTACK_TRACKING_URI"),
        description="MLflow tracking server or store; default sqlite under home",
    )
    registry_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_REGISTRY_URI", "MLSTACK_REGISTRY_URI")
    )
    data_root: str | None = Field(
        None,
        description="Where raw batches, snapshots and reports go: a folder or s3://bucket/prefix",
    )
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MLSTACK_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL"),
        description="S3-compatible endpoint (RustFS, SeaweedFS); empty means AWS",
    )
    prediction_log_url: str | None = Field(
        None, description="SQLAlchemy URL of the prediction log; default sqlite under home"
    )

    # --- sources a DAG run or remote trigger may read ---------------------------------
    source_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="URI prefixes (scheme://host/path or a folder) a DAG run may read; default: the "
        "data root, its bucket and ./data. The local CLI reads the user's own files regardless",
    )
    source_max_bytes: int = Field(1 << 30, gt=0, description="Largest source read (bytes), any caller")
    source_sql_timeout_seconds: float = Field(
        60.0, gt=0.0, description="statement_timeout of a PostgreSQL source's one read-only SELECT"
    )

    # --- what is trained --------------------------------------------------------------
    dataset: str = Field("penguins", description="Dataset spec: a bundled name or a YAML path")
    source: str | None = Field(None, description="Default source URI; default: the spec's source")
    model_name: str | None = Field(None, description="Registered model name; default from spec")
    experiment: str | None = Field(None, description="MLflow experiment; default from spec")
    estimator: str | None = Field(None, description="Estimator key; default from spec")
    hyperparams: Annotated[dict[str, Any], NoDecode] = Field(default_factory=dict, description="JSON object")
    seed: int = 42
    holdout_fraction: float = Field(0.25, gt=0.0, lt=0.9)
    max_tree_samples: int = Field(
        100_000,
        ge=0,
        description="Random forests trained on more rows than this draw this many rows per tree "
        "(bootstrap max_samples); 0 = every row. An explicit max_samples hyperparameter wins",
    )
    training_window: str = Field(
        "5",
        description="What a retrain trains on: the last N validated snapshots of the dataset "
        "(`5`) or those validated in the last N days (`30d`); the new batch is always in it",
    )
    tuning_trials: int = Field(
        0,
        ge=0,
        description="Trials of the hyperparameter search over the spec's `search_space` at each "
        "training (one nested MLflow run each); 0 = no search, the spec's hyperparams as they are",
    )
    tuning_timeout_seconds: float = Field(
        600.0,
        ge=0.0,
        description="Time budget of the hyperparameter search: no trial starts after it; 0 = none",
    )
    train_n_jobs: int = Field(
        -1,
        description="CPU cores used to fit (joblib convention: -1 = all); the logged model "
        "predicts on one core. An explicit n_jobs hyperparameter wins",
    )

    # --- the promotion gate -----------------------------------------------------------
    gate_metric: str | None = Field(None, description="Primary metric; default from spec")
    gate_floor: float | None = Field(None, description="Absolute floor; default from spec")
    gate_min_improvement: float = Field(0.0, ge=0.0)
    gate_tolerance: float = Field(
        0.03,
        ge=0.0,
        description="Largest regression allowed on a part (new batch, pinned set) or a declared "
        "slice, as a share of the champion's value there",
    )
    gate_min_slice_rows: int = Field(
        20, ge=1, description="A slice with fewer evaluation rows than this is reported, not judged"
    )
    gate_pinned: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Dataset ids whose holdouts form the gate's pinned evaluation set; default: "
        "the holdouts of the training window's other snapshots",
    )
    promotion_lock_ttl_seconds: float | None = Field(
        None,
        gt=0.0,
        description="Lease of the promotion lock; default twice MLflow's retry budget for one call "
        "(MLFLOW_HTTP_REQUEST_*), so a live holder always finishes its alias move first",
    )

    max_model_age_days: float = Field(
        30.0,
        ge=0.0,
        description="Alert (on the drift DAG's schedule) when the champion was trained longer ago "
        "than this many days; 0 = never",
    )

    # --- serving ----------------------------------------------------------------------
    alias_refresh_seconds: float = Field(30.0, ge=0.0)
    mlflow_ui_url: str | None = Field(
        None,
        description="Browser address of the MLflow UI for links to runs; default: the tracking "
        "server when it is one (http/https)",
    )

    # --- the prediction API (`mlstack serve`) -------------------------------------------
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token the prediction API requires when set (refused in production "
        "mode when unset)",
    )
    # --- the Streamlit app ---------------------------------------------------------------
    ui_password: SecretStr | None = Field(
        None,
        description="Password of the Streamlit app's login (required in production mode; the login "
        "is off elsewhere unless this is set)",
    )
    ui_max_upload_mb: int = Field(
        50, ge=1, description="Size of a file uploaded to the Streamlit Batch page, at most (MB)"
    )
    api_max_rows: int = Field(10_000, ge=1, description="Rows per prediction request, at most")
    api_max_body_bytes: int = Field(
        8_000_000, ge=1_000, description="Size of a prediction request body, at most (bytes)"
    )

    # --- drift monitoring -------------------------------------------------------------
    drift_share: float = Field(
        0.5, gt=0.0, le=1.0, description="Dataset drift when at least this share of features drift"
    )
    drift_sample_size: int = Field(
        20_000,
        ge=0,
        description="Seeded sample per side when a side has more rows; 0 = every row (slow)",
    )
    drift_current: str = Field(
        "predictions:24h", description="What the drift DAG checks: a batch URI or predictions:<window>"
    )
    drift_schedule: str | None = Field("@daily", description="Drift DAG schedule (cron/preset/none)")
    drift_min_rows: int = Field(30, ge=1, description="Fewer current rows than this: no verdict")

    # --- batch scoring, ground truth, live quality, shadow ------------------------------
    batch_chunk_size: int = Field(
        50_000, ge=1, description="Rows scored (and written, and logged) at a time by batch inference"
    )
    quality_window: str = Field(
        "7d", description="Live quality window: labelled predictions of the last <n><s|m|h|d|w>"
    )
    quality_min_labels: int = Field(
        50, ge=1, description="Fewer labelled predictions in the window than this: no quality verdict"
    )
    quality_schedule: str | None = Field("@daily", description="Quality DAG schedule (cron/preset/none)")
    shadow_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of predictions the @challenger also scores in shadow while it differs "
        "from @champion; 0 disables shadow scoring",
    )
    shadow_min_rows: int = Field(
        200, ge=1, description="Labelled live rows both models need before the shadow promotion rule acts"
    )

    # --- alerts (SMTP: Mailpit locally, Gmail in production) --------------------------
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    alert_recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- orchestration ----------------------------------------------------------------
    schedule: str | None = Field("@daily", description="Training DAG schedule (cron/preset/none)")
    airflow_url: str = "http://127.0.0.1:8080"
    airflow_admin_user: str = "admin"
    airflow_admin_password: SecretStr | None = None
    # The native services' metadata database (e.g. NeonDB); unset: a local PostgreSQL is started.
    airflow_db_url: SecretStr | None = None
    git_commit: str | None = None

    @field_validator("training_window")
    @classmethod
    def _check_window(cls, value: str) -> str:
        from mlstack.data.window import parse_window

        parse_window(value)  # ValueError names the expected syntax
        return value.strip()

    @field_validator("alert_recipients", "source_allowlist", "gate_pinned", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("hyperparams", mode="before")
    @classmethod
    def _parse_hyperparams(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text else {}
        return value

    # --- derived values ---------------------------------------------------------------
    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def embedded(self) -> bool:
        """True when MLflow is a local store rather than a server."""
        return not self.resolved_tracking_uri.startswith(("http://", "https://", "databricks"))

    @property
    def artifact_location(self) -> str | None:
        """Experiment artifact root in embedded mode (a server decides its own)."""
        if self.embedded:
            return (self.home_dir / "mlartifacts").as_uri()
        return None

    @property
    def resolved_data_root(self) -> str:
        return self.data_root or str(self.home_dir / "data")

    @property
    def resolved_mlflow_ui_url(self) -> str | None:
        """Where a browser finds the MLflow UI; None on embedded stores without a UI."""
        from urllib.parse import urlsplit, urlunsplit

        uri = self.mlflow_ui_url or self.resolved_tracking_uri
        if not uri.startswith(("http://", "https://")):
            return None
        parts = urlsplit(uri)  # a link never carries credentials
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")

    @property
    def resolved_prediction_log_url(self) -> str:
        return self.prediction_log_url or f"sqlite:///{self.home_dir / 'predictions.db'}"

    def masked(self) -> dict[str, Any]:
        """Every setting, resolved, with secrets and URL passwords masked: safe to print."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = SECRET_MASK if value.get_secret_value() else ""
            elif isinstance(value, Path):
                out[name] = str(value)
            elif isinstance(value, str):
                out[name] = mask_url_password(value)
            else:
                out[name] = value
        out["tracking_uri"] = mask_url_password(self.resolved_tracking_uri)
        out["data_root"] = self.resolved_data_root
        out["prediction_log_url"] = mask_url_password(self.resolved_prediction_log_url)
        return out


def mask_url_password(value: str) -> str:
    """`scheme://user:secret@host` -> `scheme://user:********@host`."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in value or "@" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", f":{SECRET_MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(**overrides: Any) -> Settings:
    """Build Settings; a bad value fails here, naming the variable and what was expected."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            env_name = field if field.isupper() else f"MLSTACK_{field.upper()}"
            problems.append(f"{env_name}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    except (json.JSONDecodeError, SettingsError) as exc:
        raise ConfigError(f"a setting could not be parsed: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (front doors call this once)."""
    return load_settings()
