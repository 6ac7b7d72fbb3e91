"""Prometheus metrics of the API: requests and latency by route and status, predictions by model
version and class, input errors by reason, model loads (time, failures), the served version, and
live quality (the primary metric on labelled predictions, and their count, per version).

Each app has its own registry (tests build several apps in one process). With `--workers N`
every worker counts its own requests; a scrape reaches one worker, so run one worker per
container and scale containers when the figures matter.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mlstack.serving.scoring import Prediction

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Seconds; fine below 10 ms where a one-row prediction lands, coarse above for large requests.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ApiMetrics:
    """The API's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mlstack_api_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "mlstack_api_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "mlstack_api_predictions", "Predictions answered", ["model_version", "prediction"], registry=r
        )
        self.input_errors = Counter(
            "mlstack_api_input_errors", "Refused requests and rows, by reason", ["reason"], registry=r
        )
        self.load_seconds = Histogram(
            "mlstack_api_model_load_seconds", "Time to load a model version", buckets=LOAD_BUCKETS, registry=r
        )
        self.load_failures = Counter(
            "mlstack_api_model_load_failures",
            "Failed attempts to resolve or load the served alias",
            registry=r,
        )
        self.served = Gauge(
            "mlstack_api_served_model_version",
            "1 for the model version being served",
            ["model", "alias", "version"],
            registry=r,
        )
        self.live_quality = Gauge(
            "mlstack_live_quality",
            "Primary metric on labelled predictions in the live quality window",
            ["model_version", "shadow", "metric"],
            registry=r,
        )
        self.live_labels = Gauge(
            "mlstack_live_quality_labels",
            "Labelled predictions in the live quality window",
            ["model_version", "shadow"],
            registry=r,
        )
        self._quality_at = 0.0
        self._served_key: tuple[str, str, str] | None = None
        self._served_lock = threading.Lock()  # requests run in a thread pool

    def count_prediction(self, prediction: Prediction) -> None:
        """Count each row's prediction under its version and class (regressors: `value`)."""
        version = str(prediction.version)
        if prediction.probabilities is None:
            self.predictions.labels(version, "value").inc(len(prediction.predictions))
            return
        for value, count in collections.Counter(map(str, prediction.predictions)).items():
            self.predictions.labels(version, value).inc(count)

    def set_served(self, name: str, alias: str, version: str) -> None:
        """Mark `version` as the served one (the previous one drops out of the gauge)."""
        key = (name, alias, str(version))
        if key == self._served_key:
            return
        with self._served_lock:
            self.served.clear()
            self.served.labels(*key).set(1)
            self._served_key = key

    def set_live_quality(self, table: Any, metric: str) -> None:
        """Replace the live quality gauges with `table` (`live_quality.by_version`)."""
        with self._served_lock:
            self.live_quality.clear()
            self.live_labels.clear()
            for row in table.to_dict("records"):
                version, shadow = str(row["model_version"]), str(bool(row["shadow"])).lower()
                self.live_quality.labels(version, shadow, metric).set(float(row[metric]))
                self.live_labels.labels(version, shadow).set(int(row["labels"]))

    def quality_due(self, every_s: float) -> bool:
        """True at most once per `every_s` seconds (a scrape must not query the log each time)."""
        now = time.monotonic()
        if self._quality_at and now - self._quality_at < every_s:
            return False
        self._quality_at = now
        return True

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


def route_label(scope: Scope) -> str:
    """The route's path template (`/v1/predict`), never the raw path: unknown paths share one label
    so a scan of random URLs cannot grow the series without bound."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request by route, method and status (a plain ASGI middleware:
    it adds no per-request task or body copy)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}  # what the client sees when the app fails before answering
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            labels = (route_label(scope), scope.get("method", ""), str(status["code"]))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
