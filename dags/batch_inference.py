"""Batch inference: score a source with `@champion` into Parquet and publish the `batch_predictions`
Asset (the drift monitor runs on it). The one task is one call into ``mlstack``."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from mlstack.airflow.dag_files import BATCH_DAG_ID
from mlstack.airflow.params import batch_params, task_defaults
from mlstack.airflow.schedule import batch_predictions_asset
from mlstack.config import load_settings

_settings = load_settings()

DOC_MD = """
### Batch inference

| task | what it does | XCom |
|---|---|---|
| `score` | reads `source` (within the source allowlist), checks each row with the serving rules, scores the valid ones with `@champion` in chunks (`MLSTACK_BATCH_CHUNK_SIZE`), writes `batch-predictions/<output>/predictions.parquet` (prediction id, model version, timestamp) and a report listing every refused row with its reasons, appends the predictions to the prediction log; the `@challenger` shadows a sample (`MLSTACK_SHADOW_SHARE`). Publishes the `batch_predictions` Asset | URIs and counts |

**Params**: `source` (required), `output` (folder name; empty: a UTC timestamp), `dataset`.
Bad rows never fail the run; an unreadable or disallowed source, missing columns or no champion do (no retry).
"""


@dag(
    dag_id=BATCH_DAG_ID,
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(retry_delay=timedelta(seconds=30)),
    params=batch_params(_settings),
    tags=["mlstack", "serving", "batch"],
    doc_md=DOC_MD,
    description="Score a batch with @champion into Parquet; publishes the batch_predictions Asset",
)
def batch_inference():
    predictions = batch_predictions_asset()

    @task(outlets=[predictions])
    def score(params=None, outlet_events=None) -> dict:
        from mlstack.airflow.tasks import batch_inference_task

        result = batch_inference_task(params)
        if outlet_events is not None:  # what the Asset event says: where the predictions are
            outlet_events[predictions].extra = {k: result[k] for k in ("output_uri", "version", "scored")}
        return result

    score()


batch_dag = batch_inference()
