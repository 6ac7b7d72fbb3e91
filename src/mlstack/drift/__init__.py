"""Drift monitoring: current data against the training snapshot of the current @champion (Evidently).

- `inputs`: the two sides (the champion's snapshot, a batch or the prediction log over a window),
  typed feature frames and the seeded sample;
- `check`: the Evidently run, the verdict read from its test statuses, `check_drift`;
- `result`: the one typed result (`ColumnDrift`, `DriftResult`), its summary (`DriftSummary`, the
  drift DAG's XCom) and its one text form (`format_summary`);
- `reports`: HTML/JSON reports, the MLflow run of the monitoring experiment, the latest report;
- `flow`: what the drift DAG's tasks call (check, retrain conf, alert);
- `ci`: the CI drift contract (`mlstack drift ci`, exit code file).

The Airflow glue (the drift DAG run with `dag.test()` and the runs it queued) is
`mlstack.airflow.embedded_runs`, outside this package.

Nothing is imported here: DAG files, the CLI and Streamlit pages import the module they need, and
the heavy libraries (pandas, Evidently, MLflow, Airflow) load only where they are used.
"""
