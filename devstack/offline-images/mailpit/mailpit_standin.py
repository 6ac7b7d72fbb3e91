"""Stand-in for Mailpit: SMTP in, Mailpit-shaped JSON API out. Messages live in memory.

Usage: mailpit [--smtp ADDR] [--listen ADDR]   serve (defaults 0.0.0.0:1025 and 0.0.0.0:8025)
       mailpit readyz                          exit 0 when the HTTP API answers (healthcheck)
Environment (as Mailpit): MP_SMTP_BIND_ADDR, MP_UI_BIND_ADDR, MP_MAX_MESSAGES,
MP_SMTP_AUTH_ACCEPT_ANY, MP_SMTP_AUTH_ALLOW_INSECURE, MP_UI_AUTH (space-separated user:password
pairs) and MP_UI_AUTH_FILE (a file of user:password lines), plain text only: basic auth on the UI
and API, /livez and /readyz stay open, as Mailpit.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import email.utils
import html
import json
import os
import secrets
import shlex
import signal
import string
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "v1.28.2-standin"
ALPHABET = string.ascii_letters + string.digits


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def split_addr(value: str, default_host: str, default_port: int) -> tuple[str, int]:
    host, _, port = (value or "").rpartition(":")
    return (host or default_host, int(port or default_port))


def addresses(values: list[str] | None) -> list[dict[str, str]]:
    return [{"Name": n, "Address": a} for n, a in email.utils.getaddresses(values or []) if a]


class Store:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.messages: list[dict] = []  # newest first

    def add(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text, html_body, attachments, inline = "", "", [], []
        for part in msg.walk():
            if part.is_multipart():
                continue
            disposition = part.get_content_disposition()
            ctype = part.get_content_type()
            if disposition in ("attachment", "inline") and part.get_filename():
                payload = part.get_payload(decode=True) or b""
                info = {
                    "PartID": str(len(attachments) + len(inline) + 1),
                    "FileName": part.get_filename() or "",
                    "ContentType": ctype,
                    "ContentID": (part.get("Content-ID") or "").strip("<>"),
                    "Size": float(len(payload)),
                }
                (attachments if disposition == "attachment" else inline).append(info)
            elif ctype == "text/plain" and not text:
                text = part.get_content()
            elif ctype == "text/html" and not html_body:
                html_body = part.get_content()
        to = addresses(msg.get_all("To"))
        cc = addresses(msg.get_all("Cc"))
        listed = {a["Address"].lower() for a in to + cc}
        bcc = [{"Name": "", "Address": r} for r in rcpt_tos if r.lower() not in listed]
        frm = addresses(msg.get_all("From"))
        now = datetime.now(UTC)
        try:
            date = email.utils.parsedate_to_datetime(msg["Date"]) if msg["Date"] else now
        except (TypeError, ValueError):
            date = now
        entry = {
            "ID": "".join(secrets.choice(ALPHABET) for _ in range(22)),
            "MessageID": (msg.get("Message-ID") or "").strip().strip("<>"),
            "Read": False,
            "From": frm[0] if frm else ({"Name": "", "Address": mail_from} if mail_from else None),
            "To": to,
            "Cc": cc,
            "Bcc": bcc,
            "ReplyTo": addresses(msg.get_all("Reply-To")),
            "ReturnPath": mail_from,
            "Subject": str(msg.get("Subject") or ""),
            "Created": now.isoformat().replace("+00:00", "Z"),
            "Date": date.isoformat(),
            "Tags": [],
            "Size": float(len(raw)),
            "Attachments": len(attachments),
            "Snippet": " ".join((text or html.unescape(html_body)).split())[:250],
            "_text": text,
            "_html": html_body,
            "_attachments": attachments,
            "_inline": inline,
            "_raw": raw,
            "_headers": {k: msg.get_all(k) for k in dict.fromkeys(msg.keys())},
        }
        with self.lock:
            self.messages.insert(0, entry)
            del self.messages[self.limit :]
        return entry["ID"]

    @staticmethod
    def summary(m: dict) -> dict:
        return {k: v for k, v in m.items() if not k.startswith("_") and k != "Date"}

    def find(self, mid: str) -> dict | None:
        with self.lock:
            if mid == "latest":
                return self.messages[0] if self.messages else None
            return next((m for m in self.messages if m["ID"] == mid), None)

    def listing(self, items: list[dict], start: int, limit: int, total_matching: int) -> dict:
        with self.lock:
            total = len(self.messages)
            unread = sum(1 for m in self.messages if not m["Read"])
        page = [self.summary(m) for m in items[start : start + limit]]
        return {
            "total": total,
            "unread": unread,
            "count": len(page),
            "messages_count": total_matching,
            "messages_unread": sum(1 for m in items if not m["Read"]),
            "start": start,
            "tags": [],
            "messages": page,
        }

    def search(self, query: str) -> list[dict]:
        terms = shlex.split(query)
        with self.lock:
            items = list(self.messages)

        def matches(m: dict, term: str) -> bool:
            negate = term.startswith("!") or term.startswith("-")
            term = term[1:] if negate else term
            field, sep, value = term.partition(":")
            value = value.lower() if sep else term.lower()
            people = lambda xs: " ".join(f"{x['Name']} <{x['Address']}>" for x in xs).lower()  # noqa: E731
            if sep and field == "to":
                hit = value in people(m["To"] + m["Cc"] + m["Bcc"])
            elif sep and field == "from":
                hit = value in people([m["From"]] if m["From"] else [])
            elif sep and field == "subject":
                hit = value in m["Subject"].lower()
            elif sep and field == "message-id":
                hit = value == m["MessageID"].lower()
            elif sep and field == "is":
                hit = (value == "read") == m["Read"] if value in ("read", "unread") else False
            else:
                sender = people([m["From"]]) if m["From"] else ""
                hay = " ".join([m["Subject"], m["_text"], m["_html"], people(m["To"]), sender])
                hay = hay.lower()
                hit = value in hay
            return hit != negate

        return [m for m in items if all(matches(m, t) for t in terms)]


class Api(BaseHTTPRequestHandler):
    store: Store
    server_version = "Mailpit-standin"

    def log_message(self, fmt: str, *args) -> None:  # quieter than the default
        if os.environ.get("MP_VERBOSE"):
            super().log_message(fmt, *args)

    def _send(self, code: int, body: object, ctype: str = "application/json") -> None:
        data = (
            body
            if isinstance(body, bytes)
            else (json.dumps(body) if ctype == "application/json" else str(body)).encode()
        )
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            return json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return {}

    def _authorized(self) -> bool:
        """MP_UI_AUTH's (and MP_UI_AUTH_FILE's) basic auth; on failure a 401 has been sent."""
        pairs = (os.environ.get("MP_UI_AUTH") or "").split()
        if os.environ.get("MP_UI_AUTH_FILE"):
            with open(os.environ["MP_UI_AUTH_FILE"]) as fh:
                pairs += [line.strip() for line in fh if line.strip()]
        if not pairs or urlsplit(self.path).path.rstrip("/") in ("/livez", "/readyz"):
            return True
        scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
        try:
            credentials = base64.b64decode(given.strip()).decode() if scheme.lower() == "basic" else ""
        except ValueError:
            credentials = ""
        if any(secrets.compare_digest(credentials.encode(), pair.encode()) for pair in pairs):
            return True
        data = b"Unauthorised.\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="Login"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return False

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._authorized():
            return
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/") or "/"
        start, limit = int(q.get("start", 0)), int(q.get("limit", 50))
        if path in ("/livez", "/readyz"):
            return self._send(200, "ok", "text/plain")
        if path == "/api/v1/info":
            listing = self.store.listing([], 0, 0, 0)
            return self._send(
                200,
                {
                    "Version": VERSION,
                    "LatestVersion": "",
                    "Database": "memory",
                    "DatabaseSize": 0,
                    "Messages": listing["total"],
                    "Unread": listing["unread"],
                    "Tags": {},
                    "RuntimeStats": {"Uptime": int(time.monotonic())},
                },
            )
        if path == "/api/v1/messages":
            with self.store.lock:
                items = list(self.store.messages)
            return self._send(200, self.store.listing(items, start, limit, len(items)))
        if path == "/api/v1/search":
            query = (q.get("query") or "").strip()
            if not query:
                return self._send(400, "Error: no search query", "text/plain")
            items = self.store.search(query)
            return self._send(200, self.store.listing(items, start, limit, len(items)))
        if path.startswith("/api/v1/message/"):
            parts = path.split("/")[4:]
            m = self.store.find(parts[0]) if parts else None
            if m is None:
                return self._send(404, "Message not found", "text/plain")
            if len(parts) == 1:
                m["Read"] = True
                body = {k: v for k, v in m.items() if not k.startswith("_")}
                for k in ("Read", "Created", "Snippet"):
                    body.pop(k, None)
                body["Attachments"] = m["_attachments"]
                body.update({"Text": m["_text"], "HTML": m["_html"], "Inline": m["_inline"]})
                return self._send(200, body)
            if parts[1] == "raw":
                return self._send(200, m["_raw"], "text/plain; charset=utf-8")
            if parts[1] == "headers":
                return self._send(200, m["_headers"])
            return self._send(404, "not found", "text/plain")
        if path == "/":
            with self.store.lock:
                rows = "".join(
                    f"<tr><td>{html.escape(m['Created'])}</td>"
                    f"<td>{html.escape(', '.join(a['Address'] for a in m['To']))}</td>"
                    f"<td>{html.escape(m['Subject'])}</td></tr>"
                    for m in self.store.messages
                )
            page = (
                "<!doctype html><title>Mailpit (stand-in)</title><h1>Mailpit stand-in</h1>"
                f"<table><tr><th>received</th><th>to</th><th>subject</th></tr>{rows}</table>"
            )
            return self._send(200, page, "text/html; charset=utf-8")
        return self._send(404, "not found", "text/plain")

    def do_DELETE(self) -> None:
        if not self._authorized():
            return
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/api/v1/messages":
            ids = set(self._body().get("IDs") or [])
            with self.store.lock:
                self.store.messages[:] = [m for m in self.store.messages if ids and m["ID"] not in ids]
            return self._send(200, "ok", "text/plain")
        return self._send(404, "not found", "text/plain")

    def do_PUT(self) -> None:
        if not self._authorized():
            return
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/api/v1/messages":
            body = self._body()
            ids, read = set(body.get("IDs") or []), bool(body.get("Read"))
            with self.store.lock:
                for m in self.store.messages:
                    if not ids or m["ID"] in ids:
                        m["Read"] = read
            return self._send(200, "ok", "text/plain")
        return self._send(404, "not found", "text/plain")


def readyz(listen: str) -> int:
    _, port = split_addr(listen, "0.0.0.0", 8025)  # noqa: S104
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as resp:
            return 0 if resp.status == 200 else 1
    except OSError:
        return 1


def serve(smtp_addr: str, listen: str) -> int:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    store = Store(int(os.environ.get("MP_MAX_MESSAGES", "500") or 500))

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            content = envelope.original_content or envelope.content
            raw = content if isinstance(content, bytes) else content.encode()
            mid = store.add(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
            print(f"mailpit-standin: stored {mid} for {envelope.rcpt_tos}", flush=True)
            return "250 2.0.0 Ok: queued as " + mid

    kwargs = {}
    if truthy(os.environ.get("MP_SMTP_AUTH_ACCEPT_ANY")):
        kwargs["authenticator"] = lambda *args: AuthResult(success=True)
        kwargs["auth_require_tls"] = not truthy(os.environ.get("MP_SMTP_AUTH_ALLOW_INSECURE"))
    smtp_host, smtp_port = split_addr(smtp_addr, "0.0.0.0", 1025)  # noqa: S104
    controller = Controller(
        Handler(), hostname=smtp_host, port=smtp_port, server_hostname="mailpit", **kwargs
    )
    controller.start()
    http_host, http_port = split_addr(listen, "0.0.0.0", 8025)  # noqa: S104
    Api.store = store
    httpd = ThreadingHTTPServer((http_host, http_port), Api)
    httpd.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(
        f"mailpit-standin {VERSION}: SMTP {smtp_host}:{smtp_port}, HTTP {http_host}:{http_port}",
        flush=True,
    )
    try:
        httpd.serve_forever()
    finally:
        controller.stop()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mailpit")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "readyz", "version"])
    parser.add_argument("--smtp", "-s", default=os.environ.get("MP_SMTP_BIND_ADDR", "0.0.0.0:1025"))
    parser.add_argument("--listen", "-l", default=os.environ.get("MP_UI_BIND_ADDR", "0.0.0.0:8025"))
    args, _unknown = parser.parse_known_args(argv)
    if args.command == "readyz":
        return readyz(args.listen)
    if args.command == "version":
        print(VERSION)
        return 0
    return serve(args.smtp, args.listen)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
