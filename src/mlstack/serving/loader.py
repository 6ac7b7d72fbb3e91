"""Load `models:/<name>@champion`: resolve the alias, cache the model per version.

A promotion is picked up without a restart (the alias is re-resolved every
`alias_refresh_seconds`); when the registry cannot be reached, or answers 5xx, the last loaded
model keeps answering and says it may be stale. No lock is held while MLflow is called: one
caller refreshes, the others keep being answered with the model already loaded.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import NoChampionError, RegistryAuthError, RegistryError, UntrustedModelError
from mlstack.registry import CHAMPION
from mlstack.server_access import auth_failure, registry_problem
from mlstack.serving.inputs import Rows, checked_inputs
from mlstack.serving.scoring import Prediction, predict_with

# Where the front doors send people who have no champion yet.
TRAIN_HINT = (
    "Train one: `make demo` (or `mlstack run`) on embedded defaults, or trigger the "
    "`training_pipeline` DAG in Airflow. The gate promotes the first version that meets the floor "
    "to `@champion`; this page picks it up without a restart."
)


@dataclass(frozen=True)
class LoadedModel:
    """One registered model version in memory, with the run that produced it."""

    name: str
    version: str
    run_id: str
    model: Any  # the scikit-learn Pipeline, the source of truth
    loaded_at: float
    fast: Any = None  # its ONNX form (model.onnx_form.OnnxModel) when it passed parity
    fast_note: str = ""  # why there is no fast form, for the pages that show the model

    @property
    def predictor(self) -> Any:
        """What answers: the ONNX form when it passed parity at training, else the pipeline."""
        return self.fast if self.fast is not None else self.model

    @property
    def served_by(self) -> str:
        """ "onnx" or "skops"."""
        return "onnx" if self.fast is not None else "skops"

    @property
    def classes(self) -> list[str]:
        """Class names in the order of the model's probability columns (empty for regressors)."""
        return [str(c) for c in getattr(self.model, "classes_", [])]


_MODEL_CACHE: dict[tuple[str, str, str], LoadedModel] = {}
# Versions refused once stay refused (their files are not fetched again on every refresh).
_REFUSED: dict[tuple[str, str, str], UntrustedModelError] = {}
_CACHE_LOCK = threading.Lock()


def load_version(settings: Settings, name: str, version: str) -> LoadedModel:
    """Load one model version once per process (versions are immutable), as data: see
    `model.artifact.load_pipeline`. UntrustedModelError names the version and the reason."""
    from mlstack.model.artifact import load_pipeline

    key = (settings.resolved_tracking_uri, name, str(version))
    with _CACHE_LOCK:
        cached, refused = _MODEL_CACHE.get(key), _REFUSED.get(key)
    if cached is not None:
        return cached
    if refused is not None:
        raise refused
    client = tracking.configure(settings)
    info = client.get_model_version(name, str(version))
    try:
        model = load_pipeline(f"models:/{name}/{version}", f"{name} version {version}")
    except UntrustedModelError as exc:
        with _CACHE_LOCK:
            _REFUSED[key] = exc
        raise
    fast, note = fast_form(info.run_id, info.tags, model)
    loaded = LoadedModel(name, str(version), info.run_id, model, time.time(), fast, note)
    with _CACHE_LOCK:
        _MODEL_CACHE[key] = loaded
    return loaded


def fast_form(run_id: str, tags: dict[str, str], pipeline: Any) -> tuple[Any, str]:
    """The version's ONNX form when its tag says it passed parity and its file is the one that
    passed (same sha256); else (None, why). Any failure here serves the pipeline instead."""
    import mlflow

    from mlstack.model import onnx_form

    tag = onnx_form.read_tag(tags.get(onnx_form.ONNX_TAG))
    if tag.get("status") != "passed":
        return None, f"no ONNX form: {tag.get('reason') or tag.get('status') or 'not tagged'}"
    try:
        with tempfile.TemporaryDirectory(prefix="mlstack-onnx-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=onnx_form.ONNX_ARTIFACT, dst_path=tmp
            )
            data = Path(path).read_bytes()
        if hashlib.sha256(data).hexdigest() != tag.get("sha256"):
            return None, "ONNX form refused: its file is not the one that passed parity"
        return onnx_form.OnnxModel(data, pipeline), ""
    except Exception as exc:  # the pipeline still answers; the note says why it is slower
        return None, f"ONNX form not loaded: {type(exc).__name__}: {str(exc)[:200]}"


def registry_reachable(settings: Settings, timeout: float = 2.0) -> bool:
    """Quick check that a registry *server* answers and accepts our login.

    MLflow's own client retries a refused connection with backoff for about a minute; a page
    that already holds a model should not wait that long to learn it must serve it as stale.
    Local stores (SQLite, files) are always "reachable" here. `registry_problem` says what is wrong.
    """
    return registry_problem(settings, timeout) is None


def resolve_alias(settings: Settings, name: str, alias: str = CHAMPION) -> str:
    """The version an alias points at; NoChampionError when none; RegistryError when unreachable."""
    client = tracking.configure(settings)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception as exc:
        text = str(exc)
        missing = "RESOURCE_DOES_NOT_EXIST" in text or "not found" in text.lower()
        # MLflow basic auth answers 403, not 404, to a non-admin (serving's read-only login)
        # asking for a model that does not exist yet; search shows what exists to that login.
        denied = getattr(exc, "error_code", "") == "PERMISSION_DENIED"
        if missing or (denied and not _model_visible(client, name)):
            raise NoChampionError(
                f"model {name} has no @{alias} yet: train one with `mlstack run` "
                "(or trigger the training DAG)"
            ) from None
        refused = auth_failure(text, settings.registry_uri or settings.resolved_tracking_uri)
        if refused:
            raise RegistryAuthError(f"{refused} (resolving {name}@{alias})") from None
        raise RegistryError(f"registry unreachable while resolving {name}@{alias}: {text[:200]}") from exc


def _model_visible(client: Any, name: str) -> bool:
    """Whether registered model `name` exists for this login (True when that cannot be told)."""
    try:
        escaped = name.replace("'", "''")
        return bool(client.search_registered_models(filter_string=f"name = '{escaped}'", max_results=1))
    except Exception:
        return True


Loader = Callable[[Settings, str, str], LoadedModel]


class ModelServer:
    """Serves one alias of one registered model, re-resolving the alias on an interval.

    `loader` loads one version (default `load_version`); the Streamlit app passes one wrapped
    in `st.cache_resource` so models are cached per version by Streamlit as well.
    """

    def __init__(
        self,
        settings: Settings,
        spec: DatasetSpec,
        alias: str = CHAMPION,
        loader: Loader | None = None,
    ) -> None:
        self.settings, self.spec, self.alias = settings, spec, alias
        self.name = tracking.model_name(settings, spec)
        self.loader: Loader = loader or load_version
        self._current: LoadedModel | None = None
        self._checked_at = 0.0
        self.stale = False
        self.refused = False  # stale because the alias points at a version that was refused
        self.last_error: str | None = None
        self._state = threading.Lock()  # guards the fields above; never held while MLflow is called
        self._refresh = threading.Lock()  # one refresh at a time

    def _fresh(self) -> LoadedModel | None:
        with self._state:
            due = time.monotonic() - self._checked_at >= self.settings.alias_refresh_seconds
            return self._current if self._current is not None and not due else None

    def current(self) -> LoadedModel:
        """The version the alias points at (re-resolved when due), or the last one, flagged stale,
        while the registry cannot be reached or answers 5xx. NoChampionError when the alias points
        nowhere; RegistryError (naming the registry and the problem) when nothing was loaded yet.

        While one caller refreshes, every other caller that has a model gets it at once; only a
        cold start (nothing loaded) waits for the refresh in flight."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        if not self._refresh.acquire(blocking=self._current is None):
            return self._current  # type: ignore[return-value]  # warm: a refresh is in flight
        try:
            fresh = self._fresh()  # refreshed by the caller we waited for
            return fresh if fresh is not None else self._refresh_now()
        finally:
            self._refresh.release()

    def _refresh_now(self) -> LoadedModel:
        """Resolve the alias and load its version (MLflow calls, no state lock), then swap."""
        current = self._current
        version: str | None = None
        try:
            problem = registry_problem(self.settings)
            if problem:
                failure = RegistryAuthError if problem.startswith("authentication failed") else RegistryError
                raise failure(problem)
            version = resolve_alias(self.settings, self.name, self.alias)
            loaded = self.loader(self.settings, self.name, version)
        except NoChampionError:
            raise
        except UntrustedModelError as exc:
            if current is None:
                raise
            # A refused version never replaces the one serving; the page says why.
            self._mark(stale=True, refused=True, error=str(exc)[:300])
            return current
        except Exception as exc:
            if current is None:
                where = ""
                if version is not None:  # the registry answered the alias: fetching the files failed
                    where = f" (version {version}): the registry answered, but its files could not be fetched"
                    where += " from the artifact store"
                raise RegistryError(f"cannot load {self.name}@{self.alias}{where}: {exc}") from exc
            # Keep answering with what we have; the page shows it may be stale.
            self._mark(stale=True, refused=False, error=str(exc)[:300])
            return current
        with self._state:
            self._current = loaded
        self._mark(stale=False, refused=False, error=None)
        return loaded

    def _mark(self, *, stale: bool, refused: bool, error: str | None) -> None:
        with self._state:
            self.stale, self.refused, self.last_error = stale, refused, error
            self._checked_at = time.monotonic()

    def predict(self, rows: Rows) -> Prediction:
        """Check `rows` and score them with the current version (nothing is logged here)."""
        loaded = self.current()
        checked = checked_inputs(rows, self.spec)
        return predict_with(loaded, checked, self.spec, self.alias, self.stale)
