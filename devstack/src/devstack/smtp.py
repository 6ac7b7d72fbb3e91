"""An SMTP server (aiosmtpd) in a thread of this process, collecting the mails it receives.

aiosmtpd's ``Controller`` does the serving; ours is the mailbox that parses each message and wakes
waiters, the Gmail-like STARTTLS + login mode with a fresh self-signed certificate, and a free
port chosen beforehand (the Controller cannot take port 0: its readiness probe connects to the
port it was given).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from devstack import ServerUnavailable
from devstack.ports import LOOPBACK, free_port, port_is_open
from devstack.processes import forget_at_exit, stop_at_exit


def make_self_signed_cert(
    directory: str | os.PathLike[str],
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = (LOOPBACK,),
    days: int = 2,
) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (EC P-256, SAN = hostnames + ips); returns paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0] if hostnames else ips[0])])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Delivery:
    """One accepted mail transaction."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None  # the AUTH user of the session, if any


class _Mailbox:
    """aiosmtpd handler: parses every message and wakes waiters."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.messages: list[EmailMessage] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        message = message_from_bytes(raw, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        login = session.login_data if session.authenticated else None
        if isinstance(login, bytes):
            login = login.decode()
        delivery = Delivery(envelope.mail_from, list(envelope.rcpt_tos), message, login)
        with self.cond:
            self.deliveries.append(delivery)
            self.messages.append(message)
            self.cond.notify_all()
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """An aiosmtpd server in a thread of this process, collecting what it receives."""

    host: str
    port: int
    starttls: bool  # True: STARTTLS required before MAIL/AUTH
    username: str | None  # None: AUTH not required (the plain server accepts any login)
    password: str | None
    cert_path: Path | None  # self-signed certificate (trust it with ssl cafile=cert_path)
    key_path: Path | None
    messages: list[EmailMessage]  # parsed, in arrival order (live list)
    deliveries: list[Delivery]  # same, with envelope and login
    _mailbox: _Mailbox = field(repr=False)
    _controller: Any = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """smtp://host:port."""
        return f"smtp://{self.host}:{self.port}"

    def wait_for(self, n: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``n`` messages arrived; returns a copy of the list."""
        with self._mailbox.cond:
            if not self._mailbox.cond.wait_for(lambda: len(self.messages) >= n, timeout=timeout):
                raise TimeoutError(
                    f"SMTP {self.url}: {len(self.messages)} message(s) after {timeout}s, expected {n}"
                )
            return list(self.messages)

    def clear(self) -> None:
        """Empty the mailbox."""
        with self._mailbox.cond:
            self.messages.clear()
            self.deliveries.clear()

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's self-signed certificate."""
        if self.cert_path is None:
            raise RuntimeError("plain SMTP server has no certificate")
        return ssl.create_default_context(cafile=str(self.cert_path))

    def is_running(self) -> bool:
        """True while the server accepts connections."""
        return not self._stopped and port_is_open(self.port, self.host)

    def stop(self) -> None:
        """Stop the server; raise if its port still answers."""
        if self._stopped:
            return
        self._controller.stop()
        self._stopped = True
        forget_at_exit(self)
        if port_is_open(self.port, self.host):
            raise RuntimeError(f"SMTP server still listening on {self.host}:{self.port}")

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_smtp_server(
    *,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    cert_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
) -> SmtpServer:
    """Start an aiosmtpd server on 127.0.0.1.

    Plain (``starttls=False``): no TLS; AUTH is offered and any login accepted unless
    ``username``/``password`` are given (then only those), never required — Airflow's SMTP
    connection with a user and ``disable_tls=true`` works against it.
    STARTTLS (``starttls=True``): Gmail-style — a fresh self-signed certificate, STARTTLS required
    before anything else, and AUTH required (credentials generated when not given).
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    if starttls:
        username = username or "mailer@example.test"
        password = password or secrets.token_urlsafe(12)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if username is None:  # plain server without credentials: accept anyone
            return AuthResult(success=True, auth_data=data)
        ok = secrets.compare_digest(data.login, username.encode()) and secrets.compare_digest(
            data.password, (password or "").encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    kwargs: dict[str, Any] = {"authenticator": authenticator}
    cert_path = key_path = None
    if starttls:
        cert_path, key_path = make_self_signed_cert(cert_dir or tempfile.mkdtemp(prefix="mlstack-smtp-tls-"))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(cert_path), str(key_path))
        kwargs.update(tls_context=tls, require_starttls=True, auth_required=True, auth_require_tls=True)
    else:
        kwargs.update(auth_required=False, auth_require_tls=False)

    mailbox = _Mailbox()
    last_exc: Exception | None = None
    for attempt in range(3):
        chosen = port if (port and attempt == 0) else free_port()
        # port=0 does not work with Controller (its readiness probe connects to `port`).
        controller = Controller(mailbox, hostname=LOOPBACK, port=chosen, **kwargs)
        try:
            controller.start()
        except Exception as exc:  # bind race: try another port
            last_exc = exc
            with contextlib.suppress(Exception):
                controller.stop()
            continue
        server = SmtpServer(
            host=LOOPBACK,
            port=chosen,
            starttls=starttls,
            username=username,
            password=password,
            cert_path=cert_path,
            key_path=key_path,
            messages=mailbox.messages,
            deliveries=mailbox.deliveries,
            _mailbox=mailbox,
            _controller=controller,
        )
        stop_at_exit(server, server.stop)
        return server
    raise ServerUnavailable(f"aiosmtpd could not start: {last_exc!r}")
