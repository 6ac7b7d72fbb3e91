"""Alert mails: the Airflow SMTP connection built from Settings, the task-failure notifier, drift alerts.

One path for every mail the platform sends: ``MLSTACK_SMTP_*`` settings (from the environment,
``.env`` or ``.secrets``) -> an Airflow SMTP connection (``AIRFLOW_CONN_SMTP_DEFAULT``, JSON form)
-> the SMTP provider's hook / ``SmtpNotifier``. Mailpit locally, Gmail in production.

Traps of the SMTP provider this module steps around:

- the provider defaults to implicit SSL (port 465 style): for 587 + STARTTLS ``disable_ssl`` must be
  set, and with implicit SSL ``disable_tls`` must be set too (STARTTLS on an SSL socket fails);
- in a connection *URI* every extra is a string, so ``disable_tls=false`` is a non-empty string
  and DISABLES STARTTLS: we use the JSON form with real booleans and write only the keys that are
  true;
- notifier fields are Jinja templates: an error text holding ``{{`` would break the rendering and
  lose the mail, so subject and body are built in Python and never rendered.

Nothing here imports Airflow at module import time (DAG files import this module while parsing).
"""

from __future__ import annotations

import copy
import html
import json
import logging
import os
import smtplib
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mlstack.config import Settings, load_settings
from mlstack.errors import ConfigError

if TYPE_CHECKING:
    from mlstack.drift.result import DriftSummary

log = logging.getLogger(__name__)

SMTP_CONN_ID = "smtp_default"
SMTP_CONN_ENV = "AIRFLOW_CONN_SMTP_DEFAULT"
# Set next to SMTP_CONN_ENV when *we* wrote it, so a later call may refresh it from settings,
# while a connection the operator exported by hand is never overwritten.
_FROM_SETTINGS_MARK = "_MLSTACK_SMTP_CONN_FROM_SETTINGS"
DEFAULT_SENDER = "mlstack@localhost"
SMTP_TIMEOUT_SECONDS = 30
SMTP_RETRY_LIMIT = 2


# --------------------------------------------------------------------------------------------
# the connection
# --------------------------------------------------------------------------------------------


def smtp_configured(settings: Settings) -> bool:
    """True when settings name an SMTP host (otherwise alerts are logged, not mailed)."""
    return bool(settings.smtp_host)


def sender(settings: Settings) -> str:
    return settings.smtp_sender or settings.smtp_user or DEFAULT_SENDER


def smtp_connection(settings: Settings) -> dict[str, Any]:
    """The Airflow connection (JSON form) for the configured SMTP server.

    ``smtp_ssl`` -> implicit TLS (port 465); else ``smtp_starttls`` -> STARTTLS (587, Gmail);
    else plain (Mailpit on 1025). The server certificate is always verified (system CAs).
    """
    if not settings.smtp_host:
        raise ConfigError("MLSTACK_SMTP_HOST: not set, so there is no SMTP server to send alerts to")
    extra: dict[str, Any] = {
        "from_email": sender(settings),
        "timeout": SMTP_TIMEOUT_SECONDS,
        "retry_limit": SMTP_RETRY_LIMIT,
    }
    if settings.smtp_ssl:
        extra["disable_tls"] = True  # implicit TLS already; STARTTLS on top would fail
    else:
        extra["disable_ssl"] = True  # the provider's default is implicit SSL
        if not settings.smtp_starttls:
            extra["disable_tls"] = True
    conn: dict[str, Any] = {
        "conn_type": "smtp",
        "host": settings.smtp_host,
        "port": settings.smtp_port,
        "extra": extra,
    }
    if settings.smtp_user:
        conn["login"] = settings.smtp_user
    if settings.smtp_password is not None and settings.smtp_password.get_secret_value():
        conn["password"] = settings.smtp_password.get_secret_value()
    return conn


def smtp_connection_json(settings: Settings) -> str:
    """``AIRFLOW_CONN_SMTP_DEFAULT`` value: the JSON form (holds the password: never log it)."""
    return json.dumps(smtp_connection(settings), separators=(",", ":"))


def describe_smtp(settings: Settings) -> str:
    """One line for logs and `make` output, without the password."""
    if not smtp_configured(settings):
        return "SMTP: not configured (alerts are logged only)"
    mode = "implicit TLS" if settings.smtp_ssl else ("STARTTLS" if settings.smtp_starttls else "plain")
    who = f" as {settings.smtp_user}" if settings.smtp_user else ""
    to = ", ".join(settings.alert_recipients) or "NO RECIPIENTS (MLSTACK_ALERT_RECIPIENTS)"
    return f"SMTP: {settings.smtp_host}:{settings.smtp_port} {mode}{who}, from {sender(settings)} to {to}"


def connection_env(settings: Settings) -> dict[str, str]:
    """Environment for Airflow processes: the SMTP connection, when settings configure one."""
    if not smtp_configured(settings):
        return {}
    return {SMTP_CONN_ENV: smtp_connection_json(settings), _FROM_SETTINGS_MARK: "1"}


def ensure_smtp_connection(settings: Settings, environ: os._Environ | dict | None = None) -> bool:
    """Export the connection built from settings into this process, unless one was set by hand.

    Returns True when an SMTP connection is available (from settings or exported before).
    """
    env = os.environ if environ is None else environ
    set_by_hand = SMTP_CONN_ENV in env and _FROM_SETTINGS_MARK not in env
    if set_by_hand:
        return True
    if not smtp_configured(settings):
        return SMTP_CONN_ENV in env
    env.update(connection_env(settings))
    return True


# --------------------------------------------------------------------------------------------
# sending
# --------------------------------------------------------------------------------------------


def _notifier_class():
    """The SmtpNotifier subclass, defined on first use (keeps Airflow out of module import)."""
    global _NotifierClass
    if _NotifierClass is not None:
        return _NotifierClass
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    class MlstackSmtpNotifier(SmtpNotifier):
        """SmtpNotifier whose recipients, sender and connection come from mlstack settings.

        Resolved when a mail is due (in the task process), not when the DAG file is parsed.
        Subject and body are built in Python; the provider's Jinja rendering is bypassed so an
        error text can never break the mail. ``kind="failure"`` formats a task-failure mail from
        the Airflow context; ``kind="message"`` sends ``subject``/``html_content`` as given.
        """

        def __init__(self, *, kind: str = "failure", to: str | Iterable[str] | None = None, **kwargs):
            kwargs.setdefault("smtp_conn_id", SMTP_CONN_ID)
            super().__init__(to=to, **kwargs)  # type: ignore[arg-type]
            self.kind = kind

        def __call__(self, *args: Any) -> None:
            context = args[0] if len(args) == 1 else {}
            # Work on a copy: a notifier object is shared by every task of a DAG.
            mail = copy.copy(self)
            settings = load_settings()
            if not mail.prepare(settings):
                return
            if mail.kind == "failure":
                mail.subject, mail.html_content = failure_mail(context)
            mail.notify(context)  # type: ignore[arg-type]  # Airflow's Context is a TypedDict
            log.info(
                "alert mail sent to %s via SMTP %s: %s",
                ", ".join(mail.recipients),
                destination(settings),
                mail.subject,
            )

        def prepare(self, settings: Settings) -> bool:
            if not ensure_smtp_connection(settings):
                log.warning("alert not mailed: %s", describe_smtp(settings))
                return False
            self.to = _as_list(self.to) or list(settings.alert_recipients)
            if not self.to:
                log.warning("alert not mailed: MLSTACK_ALERT_RECIPIENTS is empty")
                return False
            self.from_email = self.from_email or sender(settings)
            return True

        @property
        def recipients(self) -> list[str]:
            return _as_list(self.to)

    _NotifierClass = MlstackSmtpNotifier
    return _NotifierClass


_NotifierClass: Any = None


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return [str(v) for v in value]


def failure_notifier(to: str | Iterable[str] | None = None, **kwargs: Any):
    """``on_failure_callback`` for every task: one mail after the last try (an SmtpNotifier).

    Recipients default to ``MLSTACK_ALERT_RECIPIENTS``, the connection to the one built from
    ``MLSTACK_SMTP_*``; both are read when the mail is due. Without an SMTP host or recipients the
    failure is logged and no mail is attempted.
    """
    return _notifier_class()(kind="failure", to=to, **kwargs)


def failure_mail(context: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and HTML body naming DAG, task, run id, try number, the error and the log link."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = str(getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?"))
    task_id = str(getattr(ti, "task_id", "?"))
    run_id = getattr(ti, "run_id", None) or context.get("run_id", "?")
    try_number = getattr(ti, "try_number", None)
    max_tries = getattr(ti, "max_tries", None)
    tries = f"{try_number}" + (f" of {max_tries + 1}" if isinstance(max_tries, int) else "")
    error = context.get("exception") or context.get("reason") or "unknown error"
    error_text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    try:
        log_url = getattr(ti, "log_url", "") or ""
    except Exception:  # the log URL needs Airflow's config; a mail without it beats no mail
        log_url = ""
    first_line = error_text.strip().splitlines()[0] if error_text.strip() else "failed"
    subject = f"[mlstack] {dag_id}.{task_id} failed (run {run_id}, try {tries}): {first_line}"[:250]
    rows = [
        ("DAG", dag_id),
        ("Task", task_id),
        ("Run id", run_id),
        ("Try", tries),
        ("Logical date", str(context.get("logical_date") or "")),
    ]
    cells = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    link = (
        f"<p>Task log: <a href='{html.escape(log_url, quote=True)}'>{html.escape(log_url)}</a></p>"
        if log_url
        else ""
    )
    body = (
        f"<p>Task <b>{html.escape(task_id)}</b> of DAG <b>{html.escape(dag_id)}</b> failed"
        " after its last try. The champion model was not changed by this run.</p>"
        f"<table>{cells}</table>"
        f"<p>Error:</p><pre>{html.escape(error_text)}</pre>"
        f"{link}"
    )
    return subject, body


def send_alert(
    subject: str,
    html_content: str,
    *,
    settings: Settings | None = None,
    to: str | Iterable[str] | None = None,
) -> bool:
    """Mail an alert (e.g. drift) through the same SMTP settings as failure mails.

    Works inside and outside Airflow tasks (the connection is exported into this process).
    Returns False, after logging why, when SMTP or recipients are not configured, or when the
    SMTP server cannot be reached (refused, unknown host, no answer): one line naming the
    destination and the settings, no traceback. A server that answers but refuses us (TLS
    certificate, login) still raises: that is a wrong setting to fix, not an outage.
    """
    settings = settings or load_settings()
    mail = _notifier_class()(kind="message", to=to, subject=subject, html_content=html_content)
    if not mail.prepare(settings):
        return False
    where = destination(settings)
    try:
        mail.notify({})
    except (ConnectionError, TimeoutError, socket.gaierror, smtplib.SMTPConnectError) as exc:
        log.warning("alert not mailed: %s", unreachable_reason(where, exc))
        return False
    log.info("alert mail sent to %s via SMTP %s: %s", ", ".join(mail.recipients), where, subject)
    return True


def destination(settings: Settings) -> str:
    """``host:port`` the mail goes to: the exported connection's, else the settings'."""
    try:
        conn = json.loads(os.environ.get(SMTP_CONN_ENV, ""))
        return f"{conn['host']}:{conn.get('port') or settings.smtp_port}"
    except (ValueError, KeyError, TypeError):  # a URI-form connection set by hand, or none
        return f"{settings.smtp_host}:{settings.smtp_port}"


def unreachable_reason(where: str, exc: BaseException) -> str:
    """One line: which SMTP server could not be reached, how, and which settings to fix."""
    if isinstance(exc, ConnectionRefusedError):
        how = "refused the connection"
    elif isinstance(exc, socket.gaierror):
        how = "does not resolve"
    elif isinstance(exc, TimeoutError):
        how = f"did not answer within {SMTP_TIMEOUT_SECONDS}s"
    else:
        how = f"failed ({type(exc).__name__}: {exc})"
    return (
        f"SMTP {where} {how} (MLSTACK_SMTP_HOST / MLSTACK_SMTP_PORT: start that mail server "
        "or point these settings at one)"
    )


def drift_alert_mail(summary: DriftSummary, *, action: str = "") -> tuple[str, str]:
    """Subject and HTML body of a drift alert: the summary's text, then what happens next."""
    from mlstack.drift.result import format_summary

    head = f"{summary.drifted_count} drifted column(s) ({summary.drifted_share:.0%} of columns)"
    subject = f"[mlstack] drift on {summary.model}: {head}"[:250]
    body = (
        f"<p>Drift detected for model <b>{html.escape(summary.model)}</b> on dataset "
        f"<b>{html.escape(summary.dataset)}</b>.</p>"
        f"<pre>{html.escape(format_summary(summary))}</pre>"
        + (f"<p>{html.escape(action)}</p>" if action else "")
    )
    return subject, body
