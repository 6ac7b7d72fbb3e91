"""deploy/helm/values-airflow.yaml against the official Airflow chart's values schema (vendored:
tests/deploy/fixtures/README.md) and against the stack: the same image with its DAGs, the same
auth manager, the same Airflow version, secrets only by reference, resources from measurement.

No helm binary is reachable here, so the chart is not rendered: the schema is what Helm itself
checks values against before rendering.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib.metadata
import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import FIXTURES, REPO

pytestmark = pytest.mark.static

# The chart's schema, gzipped (byte-exact inside: the digest below is that of the release's file).
SCHEMA = FIXTURES / "airflow-chart-1.22.0.values.schema.json.gz"
SCHEMA_SHA256 = "12eb9c2e90674b0f6a180eef5b87817ae3af83b38e2a1e60e9a1ed6b167de36a"  # pragma: allowlist secret


def chart_schema() -> dict[str, Any]:
    """The vendored values schema of the Airflow chart, checked against its recorded digest."""
    data = gzip.decompress(SCHEMA.read_bytes())
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256, "the vendored chart schema was changed"
    return json.loads(data)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = chart_schema()
    assert schema["$schema"].startswith("http://json-schema.org/draft-07/")
    return jsonschema.Draft7Validator(schema)


def test_values_pass_the_chart_schema(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(values)]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("workers", "celery", "keda", "minReplicas"), 0, "minReplicas"),
        (("apiServer", "replicas"), "two", "'two' is not of type"),
        (("securityContexts", "pod", "runAsUser"), "50000", "is not of type 'integer'"),
        (("images", "airflow", "pullPolicy"), "Sometimes", "Sometimes"),
    ],
)
def test_the_schema_rejects_bad_values(
    validator: jsonschema.Draft7Validator,
    values: dict[str, Any],
    path: tuple[str, ...],
    value: Any,
    message: str,
) -> None:
    """The schema check can fail: a misspelt key or a wrong type is reported with its path."""
    bad = copy.deepcopy(values)
    node: Any = bad
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    errors = [e.message for e in validator.iter_errors(bad)]
    assert any(message in e for e in errors), errors


def test_every_top_level_key_is_one_of_the_chart(values: dict[str, Any]) -> None:
    """The schema leaves the top level open (a typo there would be ignored by Helm): check it
    against the keys of the chart's values.yaml."""
    schema = chart_schema()
    assert set(values) <= set(schema["properties"])


def test_airflow_version_and_image_are_the_stack_s(values: dict[str, Any]) -> None:
    assert values["airflowVersion"] == importlib.metadata.version("apache-airflow")
    assert values["images"]["airflow"]["repository"].endswith("mlstack-airflow")
    assert values["images"]["airflow"]["tag"] == values["defaultAirflowTag"]
    assert values["images"]["airflow"]["tag"] != "latest"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["x-airflow-common"]["image"].split(":")[0] == "mlstack-airflow"


def test_dags_are_baked_into_the_image(values: dict[str, Any]) -> None:
    """Neither git-sync nor a DAG volume: the Dockerfile copies dags/ and plugins/ in."""
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^COPY .*/dags /opt/airflow/dags$", dockerfile, re.M)
    assert re.search(r"^COPY .*/plugins /opt/airflow/plugins$", dockerfile, re.M)
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags" in dockerfile  # pragma: allowlist secret
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["dags"]["persistence"]["enabled"] is False
    assert (REPO / "dags" / "training_pipeline.py").exists() or list((REPO / "dags").glob("*.py"))


def test_auth_manager_is_the_stack_s(values: dict[str, Any]) -> None:
    """The stack's FabAuthManager, as compose sets it; the chart's user job runs the image's user
    step (admin and viewer), the passwords by reference only, the viewer's for that job alone."""
    compose_env = yaml.safe_load((REPO / "docker-compose.yml").read_text())["x-airflow-env"]
    fab = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    assert compose_env["AIRFLOW__CORE__AUTH_MANAGER"] == fab
    assert values["config"]["core"]["auth_manager"] == fab
    assert "simple_auth_manager_users" not in values["config"]["core"]
    requirements = (REPO / "requirements.txt").read_text()
    assert re.search(r"^apache-airflow-providers-fab==", requirements, re.M), "the image has the provider"
    job = values["createUserJob"]
    assert job["enabled"] is True and job["args"] == ["python", "/opt/mlstack/airflow-users.py"]
    assert "COPY docker/airflow/users.py /opt/mlstack/airflow-users.py" in (REPO / "Dockerfile").read_text()
    assert {
        "envName": "MLSTACK_AIRFLOW_ADMIN_PASSWORD",
        "secretName": "mlstack-airflow",  # pragma: allowlist secret
        "secretKey": "admin-password",  # pragma: allowlist secret
    } in values["secret"]
    [viewer] = job["env"]
    assert viewer["name"] == "MLSTACK_AIRFLOW_VIEWER_PASSWORD"
    assert viewer["valueFrom"]["secretKeyRef"] == {"name": "mlstack-airflow", "key": "viewer-password"}
    assert all(s["envName"] != "MLSTACK_AIRFLOW_VIEWER_PASSWORD" for s in values["secret"])


def test_executor_is_celery_with_keda_and_the_image_has_its_provider(values: dict[str, Any]) -> None:
    assert values["executor"] == "CeleryExecutor"
    assert values["workers"]["celery"]["keda"]["enabled"] is True
    assert values["workers"]["celery"]["keda"]["minReplicaCount"] == 0
    requirements = (REPO / "requirements.txt").read_text()
    assert re.search(r"^apache-airflow-providers-celery==", requirements, re.M)
    # KubernetesExecutor would need this provider, which the image does not ship.
    assert not re.search(r"^apache-airflow-providers-cncf-kubernetes==", requirements, re.M)


def test_external_database_and_smtp_by_reference_only(values: dict[str, Any]) -> None:
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    assert "metadataConnection" not in values["data"]
    for field in ("fernetKey", "apiSecretKey", "jwtSecret", "webserverSecretKey"):
        assert field not in values, field
    for env in values["env"]:
        assert not re.search(r"PASSWORD|SECRET|TOKEN", env["name"]), env["name"]
    envs = {e["name"]: e["value"] for e in values["env"]}
    assert envs["MLSTACK_SMTP_HOST"] and envs["MLSTACK_SMTP_PORT"]
    by_ref = {e["envName"] for e in values["secret"]}
    assert {"MLSTACK_SMTP_PASSWORD", "MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY"} <= by_ref
    # Every mlstack setting compose gives the Airflow services is given here too.
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    needed = {
        k for k in compose["x-mlstack-env"] if k.startswith(("MLSTACK_SMTP_", "MLFLOW_TRACKING", "AWS_"))
    }
    assert needed - {"AWS_ACCESS_KEY_ID"} <= set(envs) | by_ref


def test_airflow_resources_cover_the_measured_figures(values: dict[str, Any], sizing: dict[str, Any]) -> None:
    from tests.deploy.test_manifests import cores, mebibytes

    checked = 0
    for component, figures in sizing["airflow"].items():
        resources = values[figures["values_key"]]["resources"]
        assert mebibytes(resources["requests"]["memory"]) >= figures["pss_median_mib"], component
        limit = mebibytes(resources["limits"]["memory"])
        assert limit >= max(1.5 * figures["pss_peak_mib"], figures["rss_peak_mib"]), component
        assert cores(resources["requests"]["cpu"]) >= figures["cpu_mean_cores"], component
        checked += 1
    assert checked >= 4
