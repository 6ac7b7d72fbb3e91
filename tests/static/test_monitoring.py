"""Static checks of the monitoring profile: Prometheus, Alertmanager, statsd-exporter, Grafana.

Prometheus' config and rules are checked by the real promtool, Alertmanager's by amtool (Debian
packages `prometheus` and `prometheus-alertmanager`, `make system-deps`), on exactly what compose
hands the containers (`docker compose config`, interpolated from the example env files). The
stack boot test (tests/stack) runs Prometheus and Alertmanager for real.

Grafana has no image or package reachable here, so it is NOT booted anywhere in this suite: its
provisioning files are checked against the provisioning format (apiVersion 1, datasources,
file providers) and the dashboard JSON model (panels, gridPos, datasource refs, targets), every
PromQL expression of the dashboards goes through promtool, and every metric, label and SQL
column they read is checked against what the API, statsd-exporter's mappings and MLflow's
database actually have.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

from tests.static.test_compose import ROOT, _clean_env, compose
from tests.support.require import unavailable

pytestmark = pytest.mark.static

RULES_DIR = ROOT / "docker/prometheus/rules"
RULES_TEST = ROOT / "tests/static/prometheus_rules_test.yml"
MAPPINGS = ROOT / "docker/statsd-exporter/mappings.yml"
GRAFANA = ROOT / "docker/grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
MONITORING = ["--profile", "postgres", "--profile", "mailpit", "--profile", "monitoring"]


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        unavailable(
            f"{name} is missing (Debian packages prometheus, prometheus-alertmanager): make system-deps"
        )
    return str(path)


def model(env: dict[str, str] | None = None) -> dict:
    return json.loads(compose(*MONITORING, "config", "--format", "json", env=env))


def check(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def write_prometheus_config(tmp_path: Path, content: str) -> Path:
    """prometheus.yml as the container gets it, with its mounted paths pointed into tmp_path."""
    (tmp_path / "rules").mkdir()
    for rule_file in RULES_DIR.glob("*.yml"):
        shutil.copy(rule_file, tmp_path / "rules" / rule_file.name)
    (tmp_path / "MLFLOW_AUTH_ADMIN_PASSWORD").write_text("x\n")
    content = content.replace("/etc/prometheus/rules/", "rules/").replace("/run/secrets/", "")
    path = tmp_path / "prometheus.yml"
    path.write_text(content)
    return path


# --------------------------------------------------------------------------------------------
# compose services
# --------------------------------------------------------------------------------------------


def test_monitoring_services_are_in_their_profile_on_loopback_with_pinned_images():
    services = model()["services"]
    images = {
        "prometheus": "prom/prometheus:v2.42.0",  # stand-in: Debian bookworm's prometheus 2.42.0
        "alertmanager": "prom/alertmanager:v0.25.0",  # stand-in: prometheus-alertmanager 0.25.0
        "statsd-exporter": "prom/statsd-exporter:v0.28.0",  # not booted here: no image/package
        "grafana": "grafana/grafana:11.6.0",  # not booted here: no image/package
    }
    for name, image in images.items():
        svc = services[name]
        assert svc["image"] == image and svc["profiles"] == ["monitoring"], (name, svc)
        assert svc["healthcheck"]["test"], name
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    default = compose("config", "--services").split()
    assert not set(images) & set(default), "monitoring services must stay out of the default profiles"
    # MLflow exposes /metrics; Airflow sends StatsD to the exporter when AIRFLOW_STATSD_ON is true.
    assert "--expose-prometheus=/tmp/mlflow-metrics" in services["mlflow"]["command"]
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
    assert env["AIRFLOW__METRICS__STATSD_ON"] == "false"
    on = json.loads(
        compose(*MONITORING, "config", "--format", "json", env=_clean_env(AIRFLOW_STATSD_ON="true"))
    )
    assert on["services"]["airflow-scheduler"]["environment"]["AIRFLOW__METRICS__STATSD_ON"] == "true"


def test_mlflow_image_has_the_prometheus_exporter():
    reqs = (ROOT / "requirements.mlflow.txt").read_text()
    assert re.search(r"^prometheus-flask-exporter==", reqs, re.M), "--expose-prometheus needs it"


# --------------------------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------------------------


def test_prometheus_config_passes_promtool(tmp_path):
    content = model()["configs"]["prometheus.yml"]["content"]
    out = check([tool("promtool"), "check", "config", str(write_prometheus_config(tmp_path, content))])
    assert "SUCCESS: 1 rule files found" in out, out
    config = yaml.safe_load(content)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["api"]["static_configs"][0]["targets"] == ["api:8000"]
    assert jobs["mlflow"]["basic_auth"]["password_file"] == "/run/secrets/MLFLOW_AUTH_ADMIN_PASSWORD"
    assert jobs["airflow"]["static_configs"][0]["targets"] == ["statsd-exporter:9102"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_prometheus_intervals_come_from_the_env(tmp_path):
    env = _clean_env(PROMETHEUS_SCRAPE_INTERVAL="2s", PROMETHEUS_EVALUATION_INTERVAL="1s")
    content = model(env)["configs"]["prometheus.yml"]["content"]
    assert yaml.safe_load(content)["global"] == {"scrape_interval": "2s", "evaluation_interval": "1s"}
    check([tool("promtool"), "check", "config", str(write_prometheus_config(tmp_path, content))])


def test_alert_rules_pass_promtool_and_their_unit_tests():
    out = check([tool("promtool"), "check", "rules", *map(str, RULES_DIR.glob("*.yml"))])
    assert "SUCCESS: 5 rules found" in out, out
    names = {
        rule["alert"]
        for f in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(f.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {"ApiDown", "ApiErrorRate", "ApiLatencyP99OverBudget", "NoSuccessfulTrainingRun"} <= names
    out = check([tool("promtool"), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)
    assert "SUCCESS" in out, out


# --------------------------------------------------------------------------------------------
# Alertmanager: the failure mails' mailbox, Mailpit locally and Gmail by env
# --------------------------------------------------------------------------------------------


def amtool_check(tmp_path: Path, content: str) -> dict:
    (tmp_path / "MLSTACK_SMTP_PASSWORD").write_text("x\n")
    path = tmp_path / "alertmanager.yml"
    path.write_text(content.replace("/run/secrets/", f"{tmp_path}/"))
    out = check([tool("amtool"), "check-config", str(path)])
    assert "SUCCESS" in out and "1 receivers" in out, out
    return yaml.safe_load(content)


def test_alertmanager_mails_the_alert_recipients_through_mailpit(tmp_path):
    config = amtool_check(tmp_path, model()["configs"]["alertmanager.yml"]["content"])
    assert config["global"]["smtp_smarthost"] == "mailpit:1025"
    assert config["global"]["smtp_require_tls"] is False
    mail = config["receivers"][0]["email_configs"][0]
    assert mail["to"] == "ops@example.com" and mail["send_resolved"] is True
    assert config["route"]["receiver"] == config["receivers"][0]["name"]


def test_alertmanager_goes_to_gmail_by_env_with_the_password_as_a_file(tmp_path):
    env = _clean_env(
        MLSTACK_SMTP_HOST="smtp.gmail.com",
        MLSTACK_SMTP_PORT="587",
        MLSTACK_SMTP_STARTTLS="true",
        MLSTACK_SMTP_USER="alerts@example.com",
        MLSTACK_SMTP_SENDER="alerts@example.com",
        MLSTACK_SMTP_PASSWORD="app-password-not-in-config",  # pragma: allowlist secret
        MLSTACK_ALERT_RECIPIENTS="a@example.com,b@example.com",
    )
    resolved = model(env)
    content = resolved["configs"]["alertmanager.yml"]["content"]
    assert "app-password-not-in-config" not in content  # pragma: allowlist secret
    config = amtool_check(tmp_path, content)
    assert config["global"]["smtp_smarthost"] == "smtp.gmail.com:587"
    assert config["global"]["smtp_require_tls"] is True
    assert config["global"]["smtp_auth_username"] == "alerts@example.com"
    assert config["global"]["smtp_auth_password_file"] == "/run/secrets/MLSTACK_SMTP_PASSWORD"
    assert config["receivers"][0]["email_configs"][0]["to"] == "a@example.com,b@example.com"
    assert [s["source"] for s in resolved["services"]["alertmanager"]["secrets"]] == ["MLSTACK_SMTP_PASSWORD"]


# --------------------------------------------------------------------------------------------
# metrics named by rules and dashboards exist where they are read from
# --------------------------------------------------------------------------------------------


def api_metric_names() -> set[str]:
    """Series names of the API's /metrics (a fresh registry, every metric touched once)."""
    from prometheus_client.parser import text_string_to_metric_families

    from mlstack.api.metrics import ApiMetrics

    metrics = ApiMetrics()
    metrics.requests.labels("/v1/predict", "POST", "200").inc()
    metrics.latency.labels("/v1/predict", "POST", "200").observe(0.01)
    metrics.predictions.labels("1", "Adelie").inc()
    metrics.input_errors.labels("range").inc()
    metrics.load_seconds.observe(1)
    metrics.load_failures.inc()
    metrics.set_served("m", "champion", "1")
    text = metrics.exposition().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def statsd_metric_names() -> set[str]:
    names = set()
    for mapping in yaml.safe_load(MAPPINGS.read_text())["mappings"]:
        base = mapping["name"]
        names |= {base, f"{base}_total", f"{base}_count", f"{base}_sum", f"{base}_bucket"}
    return names


def exprs_of_dashboards() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                if "expr" in target:
                    found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def exprs_of_rules() -> list[tuple[str, str]]:
    return [
        (rule["alert"], rule["expr"])
        for f in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(f.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_every_metric_read_by_rules_and_dashboards_is_exported():
    api, statsd = api_metric_names(), statsd_metric_names()
    assert "mlstack_api_requests_total" in api and "mlstack_api_request_duration_seconds_bucket" in api
    missing = []
    for where, expr in exprs_of_rules() + exprs_of_dashboards():
        for name in re.findall(r"\b((?:mlstack_api|airflow)_[a-z_]+)\b", expr):
            if name not in (api if name.startswith("mlstack_api") else statsd):
                missing.append(f"{where}: {name}")
    assert not missing, missing


def test_statsd_mappings_match_airflows_metric_names():
    """Each mapping's glob matches the legacy StatsD name Airflow emits (its metrics registry)."""
    import airflow

    template = Path(airflow.__file__).parent / "_shared/observability/metrics/metrics_template.yaml"
    if not template.exists():
        template = next(Path(airflow.__file__).parent.rglob("metrics_template.yaml"))
    legacy = {
        m["legacy_name"]
        for m in yaml.safe_load(template.read_text())["metrics"]
        if m.get("legacy_name", "-") != "-"
    }
    # a name as Airflow sends it: prefix `airflow` (AIRFLOW__METRICS__STATSD_PREFIX), ids filled in
    sent = {"airflow." + re.sub(r"\{\w+\}", "some_id", name) for name in legacy}
    for mapping in yaml.safe_load(MAPPINGS.read_text())["mappings"]:
        assert any(fnmatch(name, mapping["match"]) for name in sent), (
            f"{mapping['match']} matches no legacy Airflow metric"
        )
    assert fnmatch("airflow.dagrun.duration.success.training_pipeline", "airflow.dagrun.duration.*.*")


def test_dashboard_promql_passes_promtool(tmp_path):
    """Each panel's PromQL, Grafana's $__ variables replaced, as a recording rule for promtool."""
    rules = [
        {"record": f"dashboard:expr_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, (_, expr) in enumerate(exprs_of_dashboards())
    ]
    assert len(rules) >= 10
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = check([tool("promtool"), "check", "rules", str(path)])
    assert f"SUCCESS: {len(rules)} rules found" in out, out


# --------------------------------------------------------------------------------------------
# Grafana provisioning (validated against the format; Grafana itself is not booted here)
# --------------------------------------------------------------------------------------------

DATASOURCE_TYPES = {"prometheus", "grafana-postgresql-datasource", "postgres"}
PANEL_TYPES = {"timeseries", "stat", "table", "gauge", "bargauge", "text"}


def datasources() -> list[dict]:
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/mlstack.yml").read_text())
    assert doc["apiVersion"] == 1 and set(doc) <= {"apiVersion", "datasources", "deleteDatasources"}
    return doc["datasources"]


def test_grafana_datasources_follow_the_provisioning_format():
    allowed = {
        "name", "uid", "type", "access", "url", "user", "isDefault", "editable", "orgId",
        "jsonData", "secureJsonData", "basicAuth", "basicAuthUser", "database", "version",
    }  # fmt: skip
    sources = datasources()
    assert [s["isDefault"] for s in sources if s.get("isDefault")] == [True]
    for src in sources:
        assert set(src) <= allowed, set(src) - allowed
        assert src["type"] in DATASOURCE_TYPES and src["access"] == "proxy" and src["uid"], src
    pg = next(s for s in sources if "postgres" in s["type"])
    # No secret in the file, none in the environment: Grafana expands $__file{} from the compose
    # secret the service mounts, $VARS from the environment compose sets.
    assert pg["secureJsonData"]["password"] == "$__file{/run/secrets/MLFLOW_DB_PASSWORD}"
    grafana = model()["services"]["grafana"]
    assert "MLFLOW_DB_HOST" in grafana["environment"] and "MLFLOW_DB_PASSWORD" not in grafana["environment"]
    assert "MLFLOW_DB_PASSWORD" in {s["source"] for s in grafana["secrets"]}
    assert pg["url"] == "$MLFLOW_DB_HOST" and pg["jsonData"]["database"] == "mlflow"
    prom = next(s for s in sources if s["type"] == "prometheus")
    assert prom["url"] == "http://prometheus:9090"


def test_grafana_dashboard_provider_points_at_the_mounted_dashboards():
    doc = yaml.safe_load((GRAFANA / "provisioning/dashboards/mlstack.yml").read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["name"]
    mounts = model()["services"]["grafana"]["volumes"]
    targets = {
        Path(m["source"]).relative_to(ROOT).as_posix(): m["target"] for m in mounts if m["type"] == "bind"
    }
    assert targets["docker/grafana/dashboards"] == provider["options"]["path"]
    assert targets["docker/grafana/provisioning"] == "/etc/grafana/provisioning"


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_grafana_dashboard_json_model(path):
    uids = {s["uid"]: s["type"] for s in datasources()}
    dash = json.loads(path.read_text())
    assert {"uid", "title", "panels", "schemaVersion", "time"} <= set(dash)
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dash["uid"]) and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    cells: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        assert panel["type"] in PANEL_TYPES and panel["title"], panel
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] + pos["w"] <= 24, (panel["title"], pos)
        cover = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cover & cells, f"{panel['title']} overlaps another panel"
        cells |= cover
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            ds = target.get("datasource") or panel["datasource"]
            assert uids.get(ds["uid"]) == ds["type"], f"{panel['title']}: unknown datasource {ds}"
            assert ("expr" in target) == (ds["type"] == "prometheus"), panel["title"]
            assert "expr" in target or "rawSql" in target, panel["title"]


def test_drift_dashboard_reads_tables_and_columns_that_mlflow_has():
    """The model dashboard's SQL (drift checks; the gate's offline metric per version) against
    MLflow's own table definitions (its SQLAlchemy models)."""
    from mlflow.store.model_registry.dbmodels import models as registry
    from mlflow.store.tracking.dbmodels import models

    tables = {
        m.__tablename__: {c.name for c in m.__table__.columns}
        for m in (models.SqlMetric, models.SqlRun, models.SqlExperiment, registry.SqlModelVersionTag)
    }
    dash = json.loads((GRAFANA / "dashboards/model.json").read_text())
    sqls = [t["rawSql"] for p in dash["panels"] for t in p["targets"] if "rawSql" in t]
    assert any("'drifted_share'" in s for s in sqls)
    # The metric names logged by a drift check (mlstack.drift.reports).
    reports = (ROOT / "src/mlstack/drift/reports.py").read_text()
    gate = (ROOT / "src/mlstack/registry/gate.py").read_text()
    assert any("model_version_tags" in s for s in sqls)  # live quality beside the offline metric
    for sql in sqls:
        aliases = {a: t for t, a in re.findall(r"(?:FROM|JOIN)\s+(\w+)\s+(\w+)", sql)}
        assert aliases and set(aliases.values()) <= set(tables), aliases
        for alias, column in re.findall(r"\b([a-z])\.(\w+)", sql):
            assert column in tables[aliases[alias]], f"{aliases[alias]}.{column} does not exist"
        for key in re.findall(r"m\.key = '(\w+)'", sql):
            assert f'Metric("{key}"' in reports, f"drift checks log no metric {key}"
        for key in re.findall(r"'mlstack\.gate\.(\w+)'", sql):  # tags the gate writes (gate.as_tags)
            assert f'"{key}":' in gate, f"the gate records no tag mlstack.gate.{key}"
        if "FROM metrics" in sql:
            assert "$__unixEpochFilter(" in sql  # Grafana's time range macro
