"""Errors users see. Each names the field (or source, or setting) and the problem."""

from __future__ import annotations


class MlstackError(Exception):
    """Base class: a problem the user can act on, reported without a traceback."""


class ConfigError(MlstackError):
    """A setting is missing or malformed."""


class SourceError(MlstackError):
    """A data source cannot be read (missing file or key, unreadable format, empty)."""


class UnreadableSourceError(SourceError):
    """The batch can never be read as given (missing, empty, not the expected format).

    Bad input, not a transient fault: retrying cannot help, so a DAG task fails at once.
    """


class SourceNotAllowedError(SourceError, ConfigError):
    """A DAG run or remote trigger named a source outside the allowlist: not retried, not read."""


class DataValidationError(MlstackError):
    """A batch failed the dataset spec. `report` holds every failing check."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class InputError(MlstackError):
    """A prediction input does not match the model's schema."""


class RegistryError(MlstackError):
    """The model registry has no such model/version/alias, or refuses an operation."""


class RegistryAuthError(RegistryError):
    """The registry server answered, but refused the login (HTTP 401 or 403)."""


class NoChampionError(RegistryError):
    """No version carries the champion alias yet."""


class UntrustedModelError(RegistryError):
    """A stored model was refused unloaded: not skops, or holding types outside the trusted list."""


class NumericInstabilityError(MlstackError):
    """A model's outputs are not usable numbers: NaN or infinite values, or class probabilities
    that do not sum to 1. Refused at training (on the holdout) and at serving."""
