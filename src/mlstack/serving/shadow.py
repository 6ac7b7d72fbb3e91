"""Shadow scoring: while `@challenger` differs from `@champion`, it also answers a sampled share
of the served rows (MLSTACK_SHADOW_SHARE; 0 disables). Its answers go to the prediction log only,
flagged `shadow`, under the prediction ids the caller got, so a label grades both models. The
caller's answer never changes, and a failing shadow never fails a prediction: it is logged and
skipped (the API runs it after the response is sent, so it adds no latency either).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import RegistryError
from mlstack.registry import CHALLENGER
from mlstack.serving.loader import LoadedModel, Loader, ModelServer
from mlstack.serving.scoring import Prediction, predict_with

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowOutcome:
    """One shadow scoring: rows the challenger answered, how many answers agreed, its version."""

    version: str
    rows: int
    agreed: int


class Shadow:
    """The `@challenger` of one model, ready to score a sampled share of served rows."""

    def __init__(
        self,
        settings: Settings,
        spec: DatasetSpec,
        *,
        share: float | None = None,
        loader: Loader | None = None,
        seed: int | None = None,
    ) -> None:
        self.settings, self.spec = settings, spec
        self.share = settings.shadow_share if share is None else share
        self.server = ModelServer(settings, spec, alias=CHALLENGER, loader=loader)
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        # Until then, a lookup found no challenger: no lookup (a registry query) per prediction.
        self._none_until = 0.0

    @property
    def idle(self) -> bool:
        """True when there is surely nothing to shadow now: shadowing is off, or the last lookup
        found no challenger less than `alias_refresh_seconds` ago (the alias is then re-checked,
        like the champion's)."""
        return self.share <= 0 or time.monotonic() < self._none_until

    def challenger(self, champion_version: str) -> LoadedModel | None:
        """The challenger when shadowing is on and it is another version than the champion."""
        if self.idle:
            return None
        try:
            loaded = self.server.current()
        except RegistryError:  # no challenger (or none loadable): nothing to shadow
            self._none_until = time.monotonic() + self.settings.alias_refresh_seconds
            return None
        return None if str(loaded.version) == str(champion_version) else loaded

    def sample(self, rows: int) -> np.ndarray:
        """Positions of the rows to shadow: each with probability `share`."""
        with self._rng_lock:
            draws = self._rng.random(rows)
        return np.flatnonzero(draws < self.share)

    def score(
        self, served: Prediction, features: pd.DataFrame, ids: list[str] | tuple[str, ...], source: str
    ) -> ShadowOutcome | None:
        """Score a sample of `features` (the rows `served` answered) with the challenger and log its
        answers as shadow rows under the same ids. None when there is nothing to shadow; never
        raises (a failure is logged and the shadow is skipped)."""
        try:
            loaded = self.challenger(served.version)
            if loaded is None or not len(features):
                return None
            picked = self.sample(len(features))
            if not len(picked):
                return None
            rows = features.iloc[picked]
            answer = predict_with(loaded, rows, self.spec, CHALLENGER)
            from mlstack.monitoring.prediction_log import log_predictions

            log_predictions(self.settings, rows, answer, source, [ids[i] for i in picked], shadow=True)
            champion = [served.predictions[i] for i in picked]
            agreed = sum(1 for a, b in zip(answer.predictions, champion, strict=True) if a == b)
            return ShadowOutcome(answer.version, len(picked), agreed)
        except Exception as exc:  # the served answer stands whatever happens here
            log.warning("shadow scoring skipped: %s: %s", type(exc).__name__, str(exc)[:200])
            return None
