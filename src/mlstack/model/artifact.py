"""Load a logged scikit-learn model as data: skops only, with the trusted types this code owns.

`mlflow.sklearn.load_model` takes both the format (pickle or skops) and skops' trusted-types
list from the model's own `MLmodel` file, so whoever can write to the artifact store could make
every loader run their code. Here the `MLmodel` file only says where the skops file is: a model
in any other format is refused, and so is a skops file holding a type outside
`estimator.TRUSTED_TYPES`, before anything in it is built.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from mlstack.errors import UntrustedModelError
from mlstack.model.estimator import TRUSTED_TYPES

SKOPS_FORMAT = "skops"


def skops_name(model_dir: Path, label: str) -> str:
    """The skops file named by the `MLmodel` in `model_dir` (a plain file name beside it);
    UntrustedModelError for any other format or name."""
    try:
        meta = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UntrustedModelError(f"model {label}: refused: its MLmodel file is unreadable ({exc})") from None
    flavor = (meta.get("flavors") or {}).get("sklearn") or {}
    fmt = flavor.get("serialization_format")
    if fmt != SKOPS_FORMAT:
        raise UntrustedModelError(
            f"model {label}: refused: it is stored as {fmt or 'an unknown format'!s}, and only skops "
            "models are loaded (pickle formats run code when loaded)"
        )
    name = str(flavor.get("pickled_model") or "")
    if not name.endswith(".skops") or Path(name).name != name or name.startswith("."):
        raise UntrustedModelError(f"model {label}: refused: no skops file in the model ({name!r})")
    return name


def skops_file(model_dir: Path, label: str) -> Path:
    """The skops file of the MLflow model in `model_dir`; UntrustedModelError for anything else."""
    path = (model_dir / skops_name(model_dir, label)).resolve()
    if path.parent != model_dir.resolve() or not path.is_file():
        raise UntrustedModelError(f"model {label}: refused: no skops file in the model ({path.name!r})")
    return path


def load_skops(path: Path, label: str) -> Any:
    """The object in a skops file, when every type it holds is trusted by skops or by this code."""
    import skops.io

    try:
        found = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # not a skops archive at all (e.g. a pickle under a .skops name)
        raise UntrustedModelError(
            f"model {label}: refused: {path.name} is not a valid skops file ({type(exc).__name__})"
        ) from None
    untrusted = sorted(set(found) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedModelError(
            f"model {label}: refused: its skops file holds types outside mlstack's trusted list: {untrusted}"
        )
    return skops.io.load(path, trusted=list(TRUSTED_TYPES))


def load_pipeline(model_uri: str, label: str | None = None) -> Any:
    """Download the model at `model_uri` (models:/…, runs:/…) and load its Pipeline safely.

    `label` names the model in errors (e.g. "penguins-classifier version 3").
    """
    import mlflow

    label = label or model_uri
    root = model_root(model_uri)
    # Only the two files a load reads (not the whole model folder: the environment files, the
    # examples, the ONNX form): each file is a request through the tracking server's proxy.
    with tempfile.TemporaryDirectory(prefix="mlstack-model-") as tmp:
        local = Path(tmp)
        mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/MLmodel", dst_path=tmp)
        mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{skops_name(local, label)}", dst_path=tmp)
        return load_skops(skops_file(local, label), label)


def model_root(model_uri: str) -> str:
    """Where the model's files are: a models:/ URI (name and version, alias, or logged model id)
    resolved once to its artifact location; any other URI as it is."""
    if model_uri.startswith("models:/"):
        from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

        return str(ModelsArtifactRepository.get_underlying_uri(model_uri)).rstrip("/")
    return model_uri.rstrip("/")
