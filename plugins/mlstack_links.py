"""Airflow UI links from lifecycle tasks to MLflow: "MLflow run" and "Model version".

Global operator extra links, computed by the API server from the task's return value (the small
dict every mlstack task returns): a value with ``run_id`` links to the MLflow run, one with
``name`` and ``version`` to the model version. Tasks of other DAGs return other things and get
no link. The URLs come from `mlstack.mlflow_links`, the link builder the Streamlit pages use too:
the MLflow address is ``MLSTACK_MLFLOW_UI_URL`` (the URL a browser reaches) or, when unset, the
tracking server; the embedded SQLite store has no UI to link to.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from mlstack import mlflow_links


def mlflow_ui_url() -> str | None:
    """Base URL of the MLflow UI for links, or None when there is no server to link to."""
    try:
        from mlstack.config import load_settings

        return load_settings().resolved_mlflow_ui_url
    except Exception:  # a bad setting must not break the task page; no link then
        return None


def run_link(value: Any, base: str | None) -> str:
    """Link to the MLflow run of a task's return value (a dict with ``run_id``), else ""."""
    if not isinstance(value, dict):
        return ""
    return mlflow_links.run_url(base, value.get("run_id")) or ""


def model_version_link(value: Any, base: str | None) -> str:
    """Link to the model version of a task's return value (``name`` and ``version``), else ""."""
    if not isinstance(value, dict):
        return ""
    return mlflow_links.model_version_url(base, value.get("name"), value.get("version")) or ""


def task_return_value(ti_key: Any) -> Any:
    """The task instance's ``return_value`` XCom, read from the metadata DB (API server side)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(
                key="return_value",
                run_id=ti_key.run_id,
                dag_ids=ti_key.dag_id,
                task_ids=ti_key.task_id,
                map_indexes=ti_key.map_index,
            ).with_only_columns(XComModel.value)
        ).first()
    if not row:
        return None
    return XComModel.deserialize_value(row)


class MlflowRunLink(BaseOperatorLink):
    """ "MLflow run": from a lifecycle task to the run its return value names."""

    name = "MLflow run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        base = mlflow_ui_url()
        return run_link(task_return_value(ti_key), base) if base else ""


class MlflowModelVersionLink(BaseOperatorLink):
    """ "Model version": from the register/promote tasks to the version they return."""

    name = "Model version"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        base = mlflow_ui_url()
        return model_version_link(task_return_value(ti_key), base) if base else ""


class MlstackPlugin(AirflowPlugin):
    """Registers the two links on every task of every DAG (only lifecycle tasks get a URL)."""

    name = "mlstack"
    # AirflowPlugin declares this an instance attribute: a ClassVar here would contradict the base.
    global_operator_extra_links = [MlflowRunLink(), MlflowModelVersionLink()]  # noqa: RUF012
