"""Tampering with a stored model, as someone holding the store's keys could (issue 15, section 1)."""

from __future__ import annotations

import pathlib
import pickle
from urllib.parse import urlparse

import yaml

from mlstack import tracking


class Payload:
    """Unpickling this writes `marker`: what an attacker's pickle would do, harmlessly."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.write_text, (self.marker, "code ran"))


def model_dir(settings, name: str, version: str) -> pathlib.Path:
    """Where an embedded store keeps the files of a registered version."""
    client = tracking.configure(settings)
    return pathlib.Path(urlparse(client.get_model_version_download_uri(name, version)).path)


def store_pickle(directory: pathlib.Path, marker: pathlib.Path) -> None:
    """Replace the stored model with a pickle, the MLmodel file saying so."""
    (directory / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    (directory / "model.skops").unlink(missing_ok=True)
    meta = yaml.safe_load((directory / "MLmodel").read_text())
    meta["flavors"]["sklearn"].update(serialization_format="cloudpickle", pickled_model="model.pkl")
    meta["flavors"]["python_function"]["model_path"] = "model.pkl"
    (directory / "MLmodel").write_text(yaml.safe_dump(meta))
