"""Drift monitoring: check -> (on drift) alert mail, and for a drifted batch a retraining on it.

Every task is one call into ``mlstack.drift.flow``; only the check's summary travels as XCom.
Nothing heavy (Evidently, pandas, MLflow) is imported while the file is parsed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task

from mlstack.airflow.dag_files import DRIFT_DAG_ID, TRAINING_DAG_ID
from mlstack.airflow.params import drift_params, task_defaults
from mlstack.airflow.schedule import drift_dag_schedule
from mlstack.config import load_settings

_settings = load_settings()

DOC_MD = """
### Drift monitor

Compares current data with the training snapshot of the current `@champion` (found through its
lineage tag `mlstack.dataset_id`) using Evidently's `DataDriftPreset` with tests.

| task | what it does |
|---|---|
| `check` | runs the drift check on `current` (a batch URI, or `predictions:<window>` from the prediction log); saves the HTML/JSON report locally and in an MLflow run of the monitoring experiment. **Bad input fails at once** (failure mail, not a drift alert); too few rows skips the run |
| `on_drift` | short-circuit: stops here when there is no drift |
| `alert` | one mail to `MLSTACK_ALERT_RECIPIENTS`: top drifted columns, the report link, and whether a retraining was triggered. SMTP unreachable: logged in one line (host:port, settings), the task succeeds and the retraining still runs |
| `on_labelled_batch` | short-circuit: retrains only on a drifted **batch** (it carries labels). Drift in the prediction log (the default `predictions:24h`) stops here: the log has no labels to train on, and the mail says to trigger `training_pipeline` with a labelled batch |
| `trigger_retraining` | triggers `training_pipeline` with the drifted batch as its `source`; the promotion gate then decides |

**Schedule**: `MLSTACK_DRIFT_SCHEDULE`, and also each time `batch_inference` publishes the
`batch_predictions` Asset (its predictions are in the prediction log the default `current` reads).

**Params**: `current` (default `MLSTACK_DRIFT_CURRENT`, e.g. `predictions:24h`), `dataset`,
`drift_share` (share of drifted features that makes dataset drift; default `MLSTACK_DRIFT_SHARE`),
`sample_size` (seeded rows per side for large inputs; default `MLSTACK_DRIFT_SAMPLE_SIZE`).
"""


@dag(
    dag_id=DRIFT_DAG_ID,
    schedule=drift_dag_schedule(_settings),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(retry_delay=timedelta(seconds=30)),
    params=drift_params(_settings),
    tags=["mlstack", "monitoring", "drift"],
    doc_md=DOC_MD,
    description="Drift of new data vs the champion's training data; alert on drift, retrain on a drifted batch",
)
def drift_monitor():
    @task
    def check(params=None) -> dict:
        from mlstack.drift.flow import check_task

        return check_task(params)

    @task.short_circuit
    def on_drift(summary: dict) -> bool:
        """False (no drift) skips the alert and the retraining."""
        from mlstack.drift.flow import drift_found

        return drift_found(summary)

    @task.short_circuit
    def on_labelled_batch(summary: dict, params=None) -> dict | None:
        """The training DAG's conf for a drifted batch; None (prediction-log drift) skips it."""
        from mlstack.drift.flow import retrain_conf

        return retrain_conf(summary, params)

    @task
    def alert(summary: dict) -> bool:
        from mlstack.drift.flow import alert_task

        return alert_task(summary, TRAINING_DAG_ID)

    summary = check()
    found = on_drift(summary)
    found >> alert(summary)
    conf = on_labelled_batch(summary)
    found >> conf
    conf >> TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id=TRAINING_DAG_ID,
        conf=conf,
        wait_for_completion=False,
        retries=0,  # a retry could start a second training run for the same drift
    )


drift_dag = drift_monitor()
