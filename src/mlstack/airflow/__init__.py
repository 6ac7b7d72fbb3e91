"""Airflow glue: what DAG files and the Airflow processes call. Imported at DAG parse time: keep light.

- ``dag_files``: the DAG and plugin folders, the DAG ids, loading a DAG object from its file;
- ``params`` / ``schedule``: DAG params -> settings and context; the DAGs' schedules;
- ``tasks``: ``run_step``, the one call each training task makes;
- ``preload``: the scheduler's pre-fork imports and warm-ups (``mlstack airflow scheduler``);
- ``embedded``: Airflow without servers (SQLite, ``dag.test()``), the demo;
- ``client``: the REST API v2 client (trigger a run and wait for it).
"""
