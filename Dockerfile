# Airflow 3.3 image of mlstack: api-server, scheduler, dag-processor, triggerer (and the Celery
# worker/Flower of the `celery` profile) all run this image; compose chooses the command.
# Dependencies come from requirements.txt (generated from uv.lock: core + airflow + monitor),
# the mlstack package is built as a wheel from src/, DAGs and plugins are copied in.
# No secret is used at build time: everything arrives as environment at run time.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Locked dependencies in /opt/venv. A complete, pinned export of uv.lock with its hashes: no
# resolver needed, --require-hashes refuses any file whose hash uv.lock does not list, pip check
# proves it consistent. The runtime stage starts from here (no copy of the whole venv).
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check \
    && rm /tmp/requirements.txt

# The mlstack wheel, built apart so that the build backend never reaches the runtime image.
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
# The build backend from requirements.build.txt (hashed), not a build isolation's unpinned download.
COPY requirements.build.txt /tmp/requirements.build.txt
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements.build.txt
COPY pyproject.toml README.md /src/
COPY src/ /src/src/
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels /src

# The whole (filtered, see .dockerignore) context, so that optional folders may be absent.
FROM ${PYTHON_IMAGE} AS files
COPY . /ctx/
RUN mkdir -p /ctx/dags /ctx/plugins

FROM deps AS runtime
ARG AIRFLOW_UID=50000
LABEL org.opencontainers.image.title="mlstack-airflow" \
      org.opencontainers.image.description="Airflow 3.3 with the mlstack lifecycle DAGs" \
      org.opencontainers.image.source="docker-compose.yml"
ENV AIRFLOW_HOME=/opt/airflow \
    HOME=/opt/airflow \
    MLSTACK_COMPONENT=airflow \
    MLSTACK_STARTUP_CHECK="airflow airflow-db prediction-log-db client s3" \
    PATH=/opt/mlstack/bin:/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRFLOW__CORE__LOAD_EXAMPLES=false \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && pip check \
    && rm -rf /tmp/wheels \
    && useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --create-home --shell /bin/bash airflow \
    && chmod g+w /etc/passwd
COPY --from=files --chown=airflow:0 /ctx/dags /opt/airflow/dags
COPY --from=files --chown=airflow:0 /ctx/plugins /opt/airflow/plugins
COPY docker/common/entrypoint.sh docker/common/env.sh docker/common/shim.sh docker/common/mlstack_env.py docker/common/healthcheck.py /opt/mlstack/
COPY docker/airflow/init.sh /opt/mlstack/airflow-init.sh
COPY docker/airflow/jobcheck.py docker/airflow/celeryping.py /opt/mlstack/
COPY docker/airflow/users.py /opt/mlstack/airflow-users.py
RUN mkdir -p /opt/airflow/logs \
    && chown -R airflow:0 /opt/airflow \
    && chmod -R g=u /opt/airflow \
    && chmod 0755 /opt/mlstack/entrypoint.sh /opt/mlstack/shim.sh /opt/mlstack/airflow-init.sh \
    && mkdir -p /opt/mlstack/bin \
    && ln -s ../shim.sh /opt/mlstack/bin/airflow \
    && ln -s ../shim.sh /opt/mlstack/bin/mlstack \
    && ln -s ../shim.sh /opt/mlstack/bin/celery
USER ${AIRFLOW_UID}
WORKDIR /opt/airflow
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=5 \
    CMD ["python", "/opt/mlstack/healthcheck.py", "http://127.0.0.1:8080/api/v2/version"]
ENTRYPOINT ["/opt/mlstack/entrypoint.sh"]
CMD ["airflow", "version"]
