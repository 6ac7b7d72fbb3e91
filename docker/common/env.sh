# Sourced by the entrypoint and by the CLI shims in /opt/mlstack/bin (so that
# `docker compose exec <service> airflow ...` sees the same settings as the service itself):
# reads the compose secret files and derives the connection settings once per process tree
# (mlstack_env.py), and unsets the optional settings compose passed as empty strings (empty must
# mean unset to the applications, e.g. MLSTACK_MODEL_NAME= -> the spec's default,
# MLSTACK_S3_ENDPOINT_URL= -> AWS S3).
# Requires MLSTACK_COMPONENT (airflow|mlflow|streamlit), set by each image.
if [ -z "${MLSTACK_ENV_DERIVED:-}" ]; then
  eval "$(/opt/venv/bin/python /opt/mlstack/mlstack_env.py secrets "${MLSTACK_COMPONENT:?}")"
  for _mlstack_name in $(compgen -e); do
    case "$_mlstack_name" in
      MLSTACK_* | MLFLOW_* | AWS_* | NEON_* | AIRFLOW_DB_URL)
        [ -n "${!_mlstack_name}" ] || unset "$_mlstack_name"
        ;;
    esac
  done
  unset _mlstack_name
  export MLSTACK_ENV_DERIVED=1
fi
