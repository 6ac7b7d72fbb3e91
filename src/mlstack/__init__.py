"""mlstack: the core library of the platform. Every lifecycle rule lives here."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlstack")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
