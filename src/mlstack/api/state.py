"""What the routes of one app share: settings, spec, the served alias, metrics and limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from mlstack import tracking
from mlstack.api.metrics import ApiMetrics
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import NoChampionError
from mlstack.lineage import TAG_PREFIX
from mlstack.registry.gate import TAG_GROUP
from mlstack.serving.loader import LoadedModel, Loader, ModelServer, load_version
from mlstack.serving.shadow import Shadow


def timed_loader(metrics: ApiMetrics, load: Loader = load_version) -> Loader:
    """`load` that records how long each version took to load, the first time it is seen (later
    calls of the same version hit the process cache and would only blur the histogram)."""
    seen: set[tuple[str, str]] = set()

    def loader(settings: Settings, name: str, version: str) -> LoadedModel:
        started = time.perf_counter()
        loaded = load(settings, name, version)
        if (name, str(version)) not in seen:
            seen.add((name, str(version)))
            metrics.load_seconds.observe(time.perf_counter() - started)
        return loaded

    return loader


@dataclass
class ApiState:
    """The served alias and everything the routes need to answer about it."""

    settings: Settings
    spec: DatasetSpec
    metrics: ApiMetrics
    server: ModelServer
    shadow: Shadow | None = None
    _tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _tags_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, spec: DatasetSpec, loader: Loader | None = None) -> ApiState:
        """A state serving `@champion` of `spec`'s model, loads timed into fresh metrics."""
        metrics = ApiMetrics()
        load = timed_loader(metrics, loader or load_version)
        server = ModelServer(settings, spec, loader=load)
        shadow = Shadow(settings, spec, loader=load) if settings.shadow_share > 0 else None
        return cls(settings, spec, metrics, server, shadow)

    def current(self) -> LoadedModel:
        """The served version (re-resolved when due); failures to load are counted, a missing
        champion is not a failure (NoChampionError propagates either way)."""
        try:
            loaded = self.server.current()
        except Exception as exc:
            self.failed(exc)
            raise
        self.metrics.set_served(loaded.name, self.server.alias, loaded.version)
        return loaded

    def failed(self, exc: Exception) -> None:
        """Count a failure to resolve or load the alias (a missing champion is not one)."""
        if not isinstance(exc, NoChampionError):
            self.metrics.load_failures.inc()

    def version_tags(self, loaded: LoadedModel) -> dict[str, str]:
        """The version's mlstack tags without the prefix (read once per version)."""
        key = (loaded.name, loaded.version)
        with self._tags_lock:
            cached = self._tags.get(key)
        if cached is not None:
            return cached
        client = tracking.configure(self.settings)
        tags = client.get_model_version(loaded.name, loaded.version).tags or {}
        ours = {k.removeprefix(TAG_PREFIX): str(v) for k, v in tags.items() if k.startswith(TAG_PREFIX)}
        with self._tags_lock:
            self._tags[key] = ours
        return ours


def split_tags(tags: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(lineage, gate decision) from a version's mlstack tags."""
    gate = {k.removeprefix(TAG_GROUP): v for k, v in tags.items() if k.startswith(TAG_GROUP)}
    lineage = {k: v for k, v in tags.items() if not k.startswith(TAG_GROUP)}
    return lineage, gate
