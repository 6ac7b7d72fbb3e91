"""The model lifecycle as an Airflow DAG: ingest -> validate -> train -> evaluate -> register -> promote.

Every task is one call into ``mlstack`` (``mlstack.airflow.tasks.run_step``); only small
references travel as XComs. Nothing heavy is imported while the file is parsed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from mlstack.airflow.dag_files import TRAINING_DAG_ID
from mlstack.airflow.params import task_defaults, training_params
from mlstack.airflow.schedule import training_schedule
from mlstack.config import load_settings

_settings = load_settings()

DOC_MD = """
### Training pipeline

Runs the whole model lifecycle of **mlstack** on one batch of data:

| task | what it does | XCom (small references only) |
|---|---|---|
| `ingest` | reads the source (file, `s3://`, `http(s)://`, Postgres table), keeps the raw batch, snapshots it as Parquet | dataset id, snapshot URI, rows |
| `validate` | checks the snapshot against the dataset spec; **bad data fails the run at once (no retry)** | report URI |
| `train` | fits the spec's scikit-learn Pipeline, logs an MLflow run | MLflow run id |
| `evaluate` | scores the model on its fixed holdout, logs metrics and plots | metrics |
| `register` | registers a model version with lineage tags (dataset id, git commit, this DAG run id); alias `challenger`. Re-running never duplicates a version | name, version |
| `promote` | the gate: challenger vs `@champion` on the same holdout; moves the alias or refuses, and records why | decision |

**Params**: `source` (empty: the configured/spec source), `dataset` (spec name or YAML path),
`gate_metric`, `gate_floor`, `gate_min_improvement` (empty: from configuration).

**Failures**: each task retries transient faults (MLflow, S3, database) with exponential backoff.
After the last try one mail goes to `MLSTACK_ALERT_RECIPIENTS` naming the DAG, task, run id, try,
error and a link to the log. The champion alias never moves on a failed run.

The task buttons *MLflow run* and *Model version* open the run and the version in MLflow.
"""


@dag(
    dag_id=TRAINING_DAG_ID,
    schedule=training_schedule(_settings),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(retry_delay=timedelta(seconds=15)),
    params=training_params(_settings),
    tags=["mlstack", "training", "mlflow"],
    doc_md=DOC_MD,
    description="Model lifecycle: ingest, validate, train, evaluate, register, promote",
)
def training_pipeline():
    @task
    def ingest(params=None) -> dict:
        from mlstack.airflow.tasks import run_step

        return run_step("ingest", params)

    @task
    def validate(ingested: dict, params=None) -> dict:
        """Bad data is not transient: AirflowFailException, no retry, one mail, champion unchanged."""
        from mlstack.airflow.tasks import run_step

        return run_step("validate", params, ingested["dataset_id"])

    @task
    def train(ingested: dict, validated: dict, params=None) -> dict:
        from mlstack.airflow.tasks import run_step

        return run_step("train", params, validated["dataset_id"], ingested["snapshot_uri"])

    @task
    def evaluate(trained: dict, params=None) -> dict:
        from mlstack.airflow.tasks import run_step

        return run_step("evaluate", params, trained["run_id"])

    @task
    def register(trained: dict, evaluated: dict, params=None) -> dict:
        """Idempotent: a cleared or re-run task finds the version of this DAG run."""
        from mlstack.airflow.tasks import run_step

        return run_step("register", params, evaluated["run_id"])

    @task
    def promote(registered: dict, params=None) -> dict:
        from mlstack.airflow.tasks import run_step

        return run_step("promote", params, registered["version"])

    ingested = ingest()
    validated = validate(ingested)
    trained = train(ingested, validated)
    evaluated = evaluate(trained)
    registered = register(trained, evaluated)
    promote(registered)


training_dag = training_pipeline()
