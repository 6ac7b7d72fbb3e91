"""Pieces shared by the Streamlit pages: settings, the cached model server, banners, the form.

Only Streamlit glue lives here. Serving rules are `mlstack.serving` (alias resolution, staleness,
input checks, the form, the predict-and-log service), links to MLflow are `mlstack.mlflow_links`.

Caching (shared by every session of the process, never per rerun):
- a loaded model per (tracking URI, registry URI, name, version): `st.cache_resource` around
  `mlstack.serving.loader.load_version` (versions are immutable, so this cache never goes stale);
- one `ModelServer` per (tracking URI, registry URI, dataset, model, alias, refresh interval): it
  re-resolves the alias every `MLSTACK_ALIAS_REFRESH_SECONDS`, so a promotion is served without a
  restart, and keeps serving the last model (flagged stale) when the registry is unreachable.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import streamlit as st

from mlstack import mlflow_links, tracking
from mlstack.config import Settings, load_settings, mask_url_password
from mlstack.data.spec import DatasetSpec, FeatureSpec, load_spec
from mlstack.errors import ConfigError, NoChampionError, RegistryError, UntrustedModelError
from mlstack.registry import CHAMPION
from mlstack.security.login import PasswordGate, Verdict, gate_for, login_required
from mlstack.serving import form
from mlstack.serving.loader import TRAIN_HINT, LoadedModel, ModelServer, load_version
from mlstack.serving.service import LogOutcome

PREDICT_SOURCE = "streamlit-predict"
BATCH_SOURCE = "streamlit-batch"


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------


def context() -> tuple[Settings, DatasetSpec]:
    """Settings (read on every rerun: cheap) and the dataset spec; a bad setting stops the page."""
    try:
        settings = load_settings()
        spec = load_spec(settings.dataset)
    except ConfigError as exc:
        st.error(f"**Configuration problem**\n\n```\n{exc}\n```")
        st.stop()
    return settings, spec


@st.cache_resource(show_spinner=False)
def _login_gate(_settings: Settings, password_digest: str) -> PasswordGate:
    # One gate per process and password: its failure throttle is shared by every session.
    return gate_for(_settings)


def require_login(settings: Settings) -> None:
    """A password form until this session has logged in (mlstack.security.login); stops the page."""
    if not login_required(settings) or st.session_state.get("login.ok"):
        return
    try:
        secret = settings.ui_password.get_secret_value() if settings.ui_password else ""
        gate = _login_gate(settings, hashlib.sha256(secret.encode()).hexdigest())
    except ConfigError as exc:
        st.error(f"**Login not configured**\n\n{exc}")
        st.stop()
    st.title("mlstack")
    with st.form("login.form"):
        given = st.text_input("Password", type="password", key="login.password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        attempt = gate.attempt(given)
        if attempt.verdict is Verdict.ACCEPTED:
            st.session_state["login.ok"] = True
            st.rerun()
        st.error(attempt.message())
    st.stop()


def sidebar(settings: Settings, spec: DatasetSpec) -> None:
    """Dataset, model and registry of this app, with a button to the MLflow UI when there is one."""
    with st.sidebar:
        st.markdown(f"**Dataset** `{spec.name}` ({spec.task})")
        st.markdown(f"**Model** `{tracking.model_name(settings, spec)}`")
        st.caption(f"Registry: `{mask_url_password(settings.resolved_tracking_uri)}`")
        ui_url = settings.resolved_mlflow_ui_url
        if ui_url:
            st.link_button("Open MLflow", ui_url)
        st.caption(f"Alias re-checked every {settings.alias_refresh_seconds:g} s")


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the model version from the registry…", max_entries=8)
def _load_version(
    tracking_uri: str, registry_uri: str | None, name: str, version: str, _settings: Settings
) -> LoadedModel:
    return load_version(_settings, name, version)


def _cached_loader(settings: Settings, name: str, version: str) -> LoadedModel:
    return _load_version(settings.resolved_tracking_uri, settings.registry_uri, name, str(version), settings)


@st.cache_resource(show_spinner=False)
def _model_server(
    tracking_uri: str,
    registry_uri: str | None,
    dataset: str,
    model_name: str,
    alias: str,
    refresh_seconds: float,
    _settings: Settings,
    _spec: DatasetSpec,
) -> ModelServer:
    return ModelServer(_settings, _spec, alias, loader=_cached_loader)


def model_server(settings: Settings, spec: DatasetSpec, alias: str = CHAMPION) -> ModelServer:
    """The process-wide server of `alias` for these settings (one per registry, model and alias)."""
    return _model_server(
        settings.resolved_tracking_uri,
        settings.registry_uri,
        spec.name,
        tracking.model_name(settings, spec),
        alias,
        settings.alias_refresh_seconds,
        settings,
        spec,
    )


def current_model(settings: Settings, spec: DatasetSpec) -> tuple[ModelServer, LoadedModel]:
    """The served model; explains and stops the page when there is none."""
    server = model_server(settings, spec)
    try:
        loaded = server.current()
    except NoChampionError as exc:
        st.info(f"**No champion model yet.** {exc}.\n\n{TRAIN_HINT}", icon="ℹ️")
        st.stop()
    except UntrustedModelError as exc:
        st.error(f"**The champion model was refused, nothing of it was run.**\n\n`{exc}`")
        st.stop()
    except RegistryError as exc:
        st.error(
            f"**The model registry cannot be reached** and no model was loaded yet.\n\n`{exc}`\n\n"
            "Check that the MLflow server is up and `MLFLOW_TRACKING_URI` points at it, then reload."
        )
        st.stop()
    if server.refused:
        st.warning(
            f"A new `@{server.alias}` was refused, nothing of it was run: still serving "
            f"**{loaded.name} v{loaded.version}**. `{server.last_error}`",
            icon="⚠️",
        )
    elif server.stale:
        age = time.time() - loaded.loaded_at
        st.warning(
            f"The registry is unreachable: serving **{loaded.name} v{loaded.version}** loaded "
            f"{age / 60:.0f} min ago, which **may be stale** (a newer champion would not be seen). "
            f"Last error: `{server.last_error}`",
            icon="⚠️",
        )
    return server, loaded


@st.cache_data(show_spinner=False, max_entries=1000)
def _experiment_of(tracking_uri: str, run_id: str, _settings: Settings) -> str:
    return mlflow_links.run_experiment_id(_settings, run_id)


def run_link(settings: Settings, run_id: str | None, *, registry_ok: bool = True) -> str | None:
    """Link to the run in the MLflow UI (None without a UI or while the registry is down)."""
    if not run_id or not registry_ok or not settings.resolved_mlflow_ui_url:
        return None
    try:
        experiment = _experiment_of(settings.resolved_tracking_uri, run_id, settings)
    except Exception:
        return None
    return mlflow_links.run_url(settings.resolved_mlflow_ui_url, run_id, experiment)


def model_banner(
    settings: Settings, name: str, version: str, alias: str, run_id: str, stale: bool = False
) -> None:
    """Which model, version and alias answer, with a link to the run (and a stale flag)."""
    link = run_link(settings, run_id, registry_ok=not stale)
    run_text = f"[MLflow run `{run_id[:12]}`]({link})" if link else f"MLflow run `{run_id[:12]}`"
    flag = " · ⚠️ may be stale" if stale else ""
    st.markdown(f"Model **{name}** · version **{version}** · `@{alias}` · {run_text}{flag}")
    if not link and not settings.resolved_mlflow_ui_url:
        st.caption(mlflow_links.embedded_ui_hint(settings))


# ------------------------------------------------------------------------------------------
# the Predict form
# ------------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def form_defaults(dataset: str, _spec: DatasetSpec) -> dict[str, Any]:
    """A typical row of the spec's reference data (falls back to ranges when it cannot be read)."""
    try:
        from mlstack.data.synthetic import reference_frame

        reference = reference_frame(_spec)
    except Exception:
        reference = None
    return form.form_defaults(_spec, reference)


UNKNOWN = "— unknown —"  # the select option that leaves a nullable category empty


def feature_input(name: str, feature: FeatureSpec, default: Any) -> Any:
    """One form field: a number input with the spec's range, or a select of its categories.

    Nullable fields are optional: numbers may be cleared, selects offer "unknown".
    """
    key = f"predict.{name}"
    label = f"{name} (optional)" if feature.nullable else name
    help_text = form.feature_help(name, feature)
    if feature.is_numeric:
        args = form.number_input_args(feature)
        if feature.nullable:
            # value=None makes the field clearable; the prefilled default comes from the state.
            if key not in st.session_state:
                st.session_state[key] = default
            return st.number_input(label, value=None, key=key, help=help_text, placeholder="unknown", **args)
        return st.number_input(label, value=default, key=key, help=help_text, **args)
    options: list[Any] = [True, False] if feature.type == "boolean" else list(feature.categories or [])
    if feature.nullable:
        options.append(UNKNOWN)
    index = options.index(default) if default in options else 0
    choice = st.selectbox(label, options, index=index, key=key, help=help_text)
    return None if choice == UNKNOWN else choice


# ------------------------------------------------------------------------------------------
# the prediction log
# ------------------------------------------------------------------------------------------


def show_log_outcome(log: LogOutcome, logged: str) -> None:
    """Say where the predictions were logged, or warn that they were not (the result stays)."""
    if log.ok:
        st.caption(logged)
    else:
        st.warning(log.error or "", icon="⚠️")
