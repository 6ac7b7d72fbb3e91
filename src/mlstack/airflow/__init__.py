"""Airflow glue: what DAG files and the Airflow processes call. Imported at DAG parse time: keep light."""
