"""mlflow-users: create (or re-password) the read-only MLflow user the serving containers log in as.

Streamlit and the API only read the registry and its artifacts, so they hold this user's password,
never the admin's: with it a model can be loaded but no alias moved, no tag or version changed
and no artifact written into an existing run (basic auth's `default_permission = READ`; the user
is not an admin). Idempotent: run at every `docker compose up`, it sets the password from
`.secrets` again, so rotating the secret takes effect at the next start.

Reads MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (the admin, as
every MLflow client does), MLFLOW_READER_USERNAME (default mlstack-reader),
MLFLOW_READER_PASSWORD. Exit 0 when the user exists with that password and is not an admin.
"""

from __future__ import annotations

import os
import sys
import time

DEFAULT_READER = "mlstack-reader"


def ensure_reader(tracking_uri: str, username: str, password: str) -> str:
    """Create `username` with `password`, or set that password on the existing user; never admin.
    Returns what was done ("created" or "updated"). Raises MlflowException on refusal."""
    from mlflow.exceptions import MlflowException
    from mlflow.server import get_app_client

    client = get_app_client("basic-auth", tracking_uri=tracking_uri)
    try:
        client.get_user(username)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_user(username, password)
        return "created"
    client.update_user_password(username, password)
    client.update_user_admin(username, False)  # a reader made admin by hand is taken back
    return "updated"


def main() -> int:
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    username = os.environ.get("MLFLOW_READER_USERNAME") or DEFAULT_READER
    password = os.environ.get("MLFLOW_READER_PASSWORD", "")
    if not password:
        print("mlflow-users: MLFLOW_READER_PASSWORD is not set, run make secrets", file=sys.stderr)
        return 2
    deadline = time.monotonic() + float(os.environ.get("MLFLOW_USERS_TIMEOUT", "90"))
    while True:
        try:
            done = ensure_reader(tracking_uri, username, password)
            print(f"mlflow-users: {done} read-only user {username} on {tracking_uri}")
            return 0
        except Exception as exc:  # the server may still be starting; the error never holds a password
            if time.monotonic() > deadline:
                print(f"mlflow-users: could not set up {username}: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
