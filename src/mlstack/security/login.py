"""The password login of the Streamlit app (issue 15 §3): a secret from `.secrets`, compared in
constant time, with failed attempts throttled for the whole process.

Streamlit's own `st.login` needs an OIDC provider, which the stack does not run; the password is
`MLSTACK_UI_PASSWORD` (`make secrets` writes a random one; the container's secrets check refuses a
default). The login is required in production mode, and anywhere a password is set.

Throttling is per process, not per session (a new browser session would reset a per-session
count): after `max_failures` failed attempts within `window` seconds every attempt is refused for
`lockout` seconds, whatever the password, so guessing costs minutes, not milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from mlstack.config import Settings
from mlstack.errors import ConfigError
from mlstack.secrets_check import environment, mode_of

PASSWORD_VARIABLE = "MLSTACK_UI_PASSWORD"  # noqa: S105  # pragma: allowlist secret - a variable name


class Verdict(Enum):
    """The outcome of one login attempt."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    THROTTLED = "throttled"


@dataclass
class Attempt:
    """A verdict and, when throttled, how many seconds are left."""

    verdict: Verdict
    retry_after: float = 0.0

    def message(self) -> str:
        """What the login form says."""
        if self.verdict is Verdict.ACCEPTED:
            return "Logged in."
        if self.verdict is Verdict.THROTTLED:
            return f"Too many failed logins: try again in {self.retry_after:.0f} s."
        return "Wrong password."


@dataclass
class PasswordGate:
    """Constant-time password check with a process-wide throttle of failures."""

    password: str
    max_failures: int = 5
    window: float = 60.0
    lockout: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failures: deque[float] = field(default_factory=deque, init=False, repr=False)
    _locked_until: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.password:
            raise ConfigError(f"{PASSWORD_VARIABLE}: empty; the login needs a password")

    def attempt(self, given: str) -> Attempt:
        """Check `given`; every failure counts towards the throttle, a success does not reset it."""
        with self._lock:
            now = self.clock()
            if now < self._locked_until:
                return Attempt(Verdict.THROTTLED, self._locked_until - now)
            # Digests first: compare_digest's time then depends on neither length.
            ok = hmac.compare_digest(
                hashlib.sha256(given.encode()).digest(), hashlib.sha256(self.password.encode()).digest()
            )
            if ok:
                return Attempt(Verdict.ACCEPTED)
            while self._failures and now - self._failures[0] > self.window:
                self._failures.popleft()
            self._failures.append(now)
            if len(self._failures) >= self.max_failures:
                self._failures.clear()
                self._locked_until = now + self.lockout
            return Attempt(Verdict.REFUSED)


def login_required(settings: Settings) -> bool:
    """True in production mode (`MLSTACK_ENV`) and whenever a password is set."""
    return settings.ui_password is not None or mode_of(environment()) == "production"


def gate_for(settings: Settings) -> PasswordGate:
    """The gate of the configured password; ConfigError naming the variable when there is none."""
    password = settings.ui_password.get_secret_value() if settings.ui_password else ""
    if not password:
        raise ConfigError(
            f"{PASSWORD_VARIABLE} is not set: the app requires a login in production mode. Set it in "
            ".secrets (`make secrets` writes a random one)."
        )
    return PasswordGate(password)
