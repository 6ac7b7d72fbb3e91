"""airflow-init: the FabAuthManager's two users, created or brought up to date from the environment.

    MLSTACK_AIRFLOW_ADMIN_USER  (admin)  / MLSTACK_AIRFLOW_ADMIN_PASSWORD   role Admin
    MLSTACK_AIRFLOW_VIEWER_USER (viewer) / MLSTACK_AIRFLOW_VIEWER_PASSWORD  role Viewer (reads, never triggers)

What `airflow users create` and `airflow users reset-password` do (the same FAB security manager
calls), in one process instead of four Airflow starts, and with the passwords read from the
environment rather than put on a command line, where the process list would show them. A rerun
(every `docker compose up`) sets each user's role and password again, so a password changed in
.secrets takes effect at the next start. Passwords are never printed.
"""

from __future__ import annotations

import os

from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
from airflow.utils.providers_configuration_loader import providers_configuration_loaded

# (user variable, default user name, password variable, FAB role)
USERS = (
    ("MLSTACK_AIRFLOW_ADMIN_USER", "admin", "MLSTACK_AIRFLOW_ADMIN_PASSWORD", "Admin"),
    ("MLSTACK_AIRFLOW_VIEWER_USER", "viewer", "MLSTACK_AIRFLOW_VIEWER_PASSWORD", "Viewer"),
)


@providers_configuration_loaded
def main() -> None:
    """Create each user, or set its role and password when it exists."""
    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        for user_var, default, password_var, role_name in USERS:
            username = os.environ.get(user_var) or default
            password = os.environ.get(password_var)
            if not password:
                raise SystemExit(f"airflow-init: {password_var} is not set (run make secrets)")
            role = sm.find_role(role_name)
            if role is None:
                raise SystemExit(f"airflow-init: FAB has no role {role_name!r}")
            user = sm.find_user(username=username)
            if user is None:
                if not sm.add_user(
                    username, username, role_name, f"{username}@mlstack.invalid", role, password
                ):
                    raise SystemExit(f"airflow-init: could not create the Airflow user {username!r}")
                print(f"airflow-init: created Airflow user {username!r} (role {role_name})")
                continue
            user.roles = [role]
            user.active = True
            sm.update_user(user)
            if not sm.reset_password(user.id, password):
                raise SystemExit(f"airflow-init: could not set the password of {username!r}")
            print(
                f"airflow-init: updated Airflow user {username!r} (role {role_name}, password from the environment)"
            )


if __name__ == "__main__":
    main()
