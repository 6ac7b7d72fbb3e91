"""Stand-in for the RustFS server: moto's S3 backend with RustFS's address, health and keys.

Only for booting the compose stack on a machine that cannot pull rustfs/rustfs. Requests must
carry RUSTFS_ACCESS_KEY as their access key id (header or presigned query); the signature itself
is not verified. Objects are kept in memory.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return (host or "0.0.0.0", int(port))  # noqa: S104 - inside the container


class RustfsStandin:
    def __init__(self, app, access_key: str) -> None:
        self.app = app
        self.access_key = access_key

    def _deny(self, start_response, code: str, message: str):
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
        start_response("403 Forbidden", [("Content-Type", "application/xml")])
        return [body]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in ("/health", "/health/ready", "/health/live") and environ["REQUEST_METHOD"] in (
            "GET",
            "HEAD",
        ):
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"status":"ok","service":"rustfs-standin"}']
        auth = environ.get("HTTP_AUTHORIZATION", "")
        query = environ.get("QUERY_STRING", "")
        found = CREDENTIAL.search(auth)
        key = found.group(1) if found else None
        if key is None:
            q = re.search(r"X-Amz-Credential=([^%/&]+)(?:%2F|/)", query)
            key = q.group(1) if q else None
        if key is None:
            return self._deny(start_response, "AccessDenied", "Anonymous access is forbidden")
        if key != self.access_key:
            return self._deny(
                start_response,
                "InvalidAccessKeyId",
                "The access key Id you provided does not exist",
            )
        return self.app(environ, start_response)


def credential(name: str) -> str:
    """RUSTFS_<KEY>, or the content of the file RUSTFS_<KEY>_FILE names (RustFS's file-based
    credentials, e.g. a compose secret); "" when neither is set."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return ""
    with open(path) as fh:
        value = fh.read().strip()
    if not value:
        sys.exit(f"rustfs-standin: {name}_FILE ({path}) is empty")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(prog="rustfs", description=__doc__)
    parser.add_argument("--address", default=os.environ.get("RUSTFS_ADDRESS", ":9000"))
    parser.add_argument("--access-key", default=credential("RUSTFS_ACCESS_KEY") or "rustfsadmin")
    parser.add_argument("--secret-key", default=credential("RUSTFS_SECRET_KEY") or "rustfsadmin")
    parser.add_argument("--console-enable", action="store_true")
    parser.add_argument("volumes", nargs="*")
    args = parser.parse_args()
    if not credential("RUSTFS_ACCESS_KEY") or not credential("RUSTFS_SECRET_KEY"):
        print("rustfs-standin: WARNING default credentials in use", file=sys.stderr)
    host, port = parse_address(args.address)
    app = RustfsStandin(create_backend_app("s3"), args.access_key)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"rustfs-standin: S3 API on {host}:{port} (moto, in memory)", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
