"""Browser links into the MLflow UI: to a run and to a model version.

The one link builder of the platform: the Streamlit pages and the Airflow plugin
(`plugins/mlstack_links.py`) both use it. The UI's address is `Settings.resolved_mlflow_ui_url`
(`MLSTACK_MLFLOW_UI_URL`, else the tracking server, credentials stripped); an embedded store has
no UI, so no link (None).
"""

from __future__ import annotations

from urllib.parse import quote

from mlstack.config import Settings


def run_url(base: str | None, run_id: str | None, experiment_id: str | None = None) -> str | None:
    """Link to a run, or None without a UI or a run id.

    With the experiment id the link is the UI's own page address; without it, the UI's
    `#/runs/<id>` route, which finds the experiment itself (one registry call saved).
    """
    if not base or not run_id:
        return None
    run = quote(str(run_id), safe="")
    if experiment_id:
        return f"{base}/#/experiments/{quote(str(experiment_id), safe='')}/runs/{run}"
    return f"{base}/#/runs/{run}"


def model_version_url(base: str | None, name: str | None, version: str | int | None) -> str | None:
    """Link to one version of a registered model, or None without a UI, a name or a version."""
    if not base or not name or version in (None, ""):
        return None
    return f"{base}/#/models/{quote(str(name), safe='')}/versions/{quote(str(version), safe='')}"


def run_experiment_id(settings: Settings, run_id: str) -> str:
    """The experiment a run belongs to (one registry call; raises when it cannot be read)."""
    from mlstack import tracking

    return str(tracking.configure(settings).get_run(run_id).info.experiment_id)


def embedded_ui_hint(settings: Settings) -> str:
    """How to open a UI on the embedded store, for pages that cannot link to one."""
    return (
        f"No MLflow server is configured (store `{settings.resolved_tracking_uri}`). "
        f"Open one with `mlflow ui --backend-store-uri {settings.resolved_tracking_uri}` and set "
        "`MLSTACK_MLFLOW_UI_URL` to get links here."
    )
