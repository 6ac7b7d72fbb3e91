"""Live quality: the champion's primary metric on labelled predictions; below the gate's floor
(with enough labels) -> alert mail + trigger the training DAG. Each task is one call into ``mlstack``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from mlstack.airflow.dag_files import QUALITY_DAG_ID, TRAINING_DAG_ID
from mlstack.airflow.params import quality_params, task_defaults
from mlstack.airflow.schedule import quality_schedule
from mlstack.config import load_settings

_settings = load_settings()

DOC_MD = """
### Live quality monitor

| task | what it does |
|---|---|
| `check` | the gate's primary metric of `@champion` on its labelled predictions of the last `window` (ground truth from `mlstack feedback` / `POST /v1/feedback`), beside its offline metric |
| `on_low_quality` | short-circuit: stops unless there are at least `MLSTACK_QUALITY_MIN_LABELS` labels and the metric misses the gate's floor |
| `alert` | one mail to `MLSTACK_ALERT_RECIPIENTS` |
| `trigger_retraining` | triggers `training_pipeline`; the promotion gate decides |
"""


@dag(
    dag_id=QUALITY_DAG_ID,
    schedule=quality_schedule(_settings),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(retry_delay=timedelta(seconds=30)),
    params=quality_params(_settings),
    tags=["mlstack", "monitoring", "quality"],
    doc_md=DOC_MD,
    description="Live quality of the champion on labelled predictions; alert and retrain below the floor",
)
def quality_monitor():
    @task
    def check(params=None) -> dict:
        from mlstack.airflow.tasks import quality_check_task

        return quality_check_task(params)

    @task.short_circuit
    def on_low_quality(verdict: dict, params=None) -> dict | None:
        from mlstack.airflow.tasks import quality_retrain_conf

        return quality_retrain_conf(verdict, params)

    @task
    def alert(verdict: dict) -> bool:
        from mlstack.airflow.tasks import quality_alert_task

        return quality_alert_task(verdict, TRAINING_DAG_ID)

    verdict = check()
    conf = on_low_quality(verdict)
    conf >> alert(verdict)
    conf >> TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id=TRAINING_DAG_ID,
        conf=conf,
        wait_for_completion=False,
        retries=0,
    )


quality_dag = quality_monitor()
