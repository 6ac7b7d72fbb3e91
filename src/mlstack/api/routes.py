"""The API's routes: predictions (`/v1/predict`, MLflow's `/invocations`), the served model,
probes and metrics. Every prediction goes through `serving.service`, like the CLI's and the app's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from mlstack import json_rows
from mlstack.api import bodies
from mlstack.api.auth import BearerToken
from mlstack.api.bodies import RequestRefused
from mlstack.api.metrics import CONTENT_TYPE
from mlstack.api.schemas import ErrorResponse, ModelInfo, predict_request_model, predict_response_model
from mlstack.api.state import ApiState, split_tags
from mlstack.errors import InputError, MlstackError, NoChampionError, RegistryError
from mlstack.serving import service
from mlstack.serving.form import form_defaults
from mlstack.serving.loader import TRAIN_HINT
from mlstack.serving.service import ServedPrediction

SOURCE_PREDICT = "api"
SOURCE_INVOCATIONS = "api-invocations"
SOURCE_FEEDBACK = "api"


def _refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    words = {
        400: "Not JSON, or not one of the accepted shapes",
        401: "Token missing or wrong",
        413: "Body or row count over the limit",
        422: "A row does not fit the dataset spec: each field and problem named",
        503: "No champion to serve yet, or the registry cannot be reached",
    }
    return {s: {"model": ErrorResponse, "description": words[s]} for s in statuses}


def _serve(state: ApiState, rows: Any, source: str) -> ServedPrediction:
    """Check, predict and log; InputError becomes a 422 naming each field and problem."""
    try:
        served = service.predict(state.server, rows, source)  # rows are checked before any load
    except InputError as exc:
        raise RequestRefused(422, str(exc), "rows", bodies.input_problems(str(exc))) from None
    except RegistryError as exc:
        state.failed(exc)
        raise
    result = served.prediction
    state.metrics.set_served(result.name, result.alias, result.version)
    return served


def _shadow_task(state: ApiState, served: ServedPrediction, source: str) -> BackgroundTask | None:
    """The challenger's shadow scoring of this answer, run after the response is sent (no added
    latency; see `serving.shadow`); None when shadowing is off or there was no challenger at the
    last look (a task per answer costs a thread hop and a registry query)."""
    if state.shadow is None or state.shadow.idle:
        return None
    return BackgroundTask(
        state.shadow.score, served.prediction, served.features, served.prediction_ids, source
    )


def _predict_answer(served: ServedPrediction) -> bytes:
    """The JSON of a `/v1/predict` answer (`PredictResponse`), its rows encoded column by column
    (`json_rows`: a dict and a `json.dumps` pass per row cost more than scoring 1,000 rows)."""
    result = served.prediction
    items = {
        "prediction_id": json_rows.encoded(served.prediction_ids),
        "prediction": json_rows.encoded(result.predictions),
    }
    if result.probabilities is not None:
        items["probabilities"] = json_rows.keyed(result.probabilities)
    head = {"model": result.name, "version": result.version, "alias": result.alias, "stale": result.stale}
    return (
        json.dumps(head, separators=(",", ":"))[:-1]
        + ',"predictions":'
        + json_rows.array(json_rows.objects(items, len(result.predictions)))
        + ',"prediction_log_error":'
        + json.dumps(served.log.error)
        + "}"
    ).encode()


QUALITY_REFRESH_S = 60.0


def _refresh_live_quality(state: ApiState) -> None:
    """The live quality gauges from the labelled predictions of the quality window; a log that
    cannot be read leaves the last values (the scrape itself still answers)."""
    import logging
    from datetime import UTC, datetime

    from mlstack import tracking
    from mlstack.drift.inputs import parse_window
    from mlstack.monitoring.feedback import labelled_predictions
    from mlstack.monitoring.live_quality import by_version, live_metric
    from mlstack.registry.gate import rule_for

    settings, spec = state.settings, state.spec
    try:
        since = datetime.now(UTC) - parse_window(settings.quality_window)
        labelled = labelled_predictions(settings, since=since, model_name=tracking.model_name(settings, spec))
        metric = live_metric(spec, rule_for(settings, spec).metric)
        state.metrics.set_live_quality(by_version(labelled, metric), metric)
    except Exception as exc:
        logging.getLogger(__name__).warning("live quality gauges not refreshed: %s", str(exc)[:200])


WAITING = "waiting-for-champion"  # /ready's status before a first champion (the healthcheck reads it)


def _unavailable(exc: RegistryError) -> JSONResponse:
    waiting = isinstance(exc, NoChampionError)
    detail = f"{exc} {TRAIN_HINT}" if waiting else str(exc)
    status = WAITING if waiting else "unavailable"
    return JSONResponse({"detail": detail, "problems": [], "status": status}, status_code=503)


def _count_refusal(state: ApiState, refused: RequestRefused) -> None:
    if refused.problems and refused.reason == "rows":
        for problem in refused.problems:
            state.metrics.input_errors.labels(bodies.reason_of(problem.message)).inc()
    else:
        state.metrics.input_errors.labels(refused.reason).inc()


Parse = Callable[[bytes, int], Any]


async def _answer(state: ApiState, request: Request, parse: Parse, source: str) -> ServedPrediction:
    """Read the body within the limits, take its rows with `parse`, predict and log them.
    RequestRefused (counted by reason) for a request to refuse; RegistryError when nothing serves."""
    try:
        body = await bodies.read_body(request, state.settings.api_max_body_bytes)
        rows = parse(body, state.settings.api_max_rows)
        served = await run_in_threadpool(_serve, state, rows, source)
    except RequestRefused as refused:
        _count_refusal(state, refused)
        raise
    state.metrics.count_prediction(served.prediction)
    return served


def router(state: ApiState, auth: BearerToken) -> APIRouter:
    """Every route of the API, answering about `state`'s served alias."""
    api = APIRouter()
    settings, spec = state.settings, state.spec
    request_model = predict_request_model(spec, settings.api_max_rows)
    response_model = predict_response_model(spec)
    guarded = [Depends(auth)]

    @api.post(
        "/v1/predict",
        response_model=response_model,
        responses=_refusals(400, 401, 413, 422, 503),
        dependencies=guarded,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request_model.__name__}"}}
                },
            }
        },
        summary=f"Predict {spec.target} for one or more rows",
        tags=["predictions"],
    )
    async def predict(request: Request) -> Response:
        """Predict with `models:/<name>@champion` (the alias is followed without a restart).
        Each row is checked against the dataset spec; every prediction is logged with its id."""
        try:
            served = await _answer(state, request, bodies.predict_rows, SOURCE_PREDICT)
        except RequestRefused as refused:
            content = ErrorResponse(detail=refused.detail, problems=refused.problems).model_dump()
            return JSONResponse(content, status_code=refused.status)
        except RegistryError as exc:
            return _unavailable(exc)
        return Response(
            _predict_answer(served),
            media_type="application/json",
            background=_shadow_task(state, served, SOURCE_PREDICT),
        )

    @api.post(
        "/invocations",
        dependencies=guarded,
        summary="MLflow scoring protocol (drop-in for `mlflow models serve`)",
        tags=["predictions"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "description": "One of dataframe_records, dataframe_split, instances, inputs",
                            "properties": {k: {} for k in bodies.MLFLOW_FORMATS},
                        }
                    },
                    "text/csv": {"schema": {"type": "string", "description": "A header row, then rows"}},
                },
            }
        },
    )
    async def invocations(request: Request) -> Response:
        """`{"dataframe_records": [...]}`, `{"dataframe_split": {...}}`, `{"instances": [...]}` or
        a `text/csv` body in, `{"predictions": [...]}` out; refusals as MLflow words them
        (`error_code`, `message`)."""
        try:
            csv = request.headers.get("content-type", "").startswith("text/csv")
            parse = bodies.csv_rows if csv else bodies.invocation_rows
            served = await _answer(state, request, parse, SOURCE_INVOCATIONS)
        except RequestRefused as refused:  # every refusal is a 4xx: MLflow calls them BAD_REQUEST
            words = {"error_code": "BAD_REQUEST", "message": refused.detail}
            return JSONResponse(words, status_code=refused.status)
        except RegistryError as exc:
            words = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": str(exc)}
            return JSONResponse(words, status_code=503)
        return JSONResponse(
            {"predictions": served.prediction.predictions},
            background=_shadow_task(state, served, SOURCE_INVOCATIONS),
        )

    @api.post(
        "/v1/feedback",
        dependencies=guarded,
        tags=["feedback"],
        responses=_refusals(400, 401, 413, 422),
        summary="Ground truth: the true label (or value) of predictions, by prediction id",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["feedback"],
                            "properties": {
                                "feedback": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["prediction_id"],
                                        "properties": {
                                            "prediction_id": {"type": "string"},
                                            spec.target: {"description": "The true label or value"},
                                        },
                                    },
                                }
                            },
                        }
                    }
                },
            }
        },
    )
    async def post_feedback(request: Request) -> Response:
        """Each item is accepted or refused with its reason (unknown id, label outside the spec,
        duplicate); the raw body is kept. 200 when at least one item was accepted, else 422."""
        from mlstack.monitoring.feedback import frame_from_items, record_feedback

        try:
            body = await bodies.read_body(request, settings.api_max_body_bytes)
            items = bodies.feedback_items(body, settings.api_max_rows)
            frame = frame_from_items(items)
            result = await run_in_threadpool(
                record_feedback, settings, spec, frame, SOURCE_FEEDBACK, raw=body, raw_format="json"
            )
        except RequestRefused as refused:
            _count_refusal(state, refused)
            return JSONResponse({"detail": refused.detail, "problems": []}, status_code=refused.status)
        except MlstackError as exc:  # e.g. no label column: the whole body is unusable
            return JSONResponse({"detail": str(exc), "problems": []}, status_code=422)
        content = result.to_dict()
        content.pop("raw_uri", None)  # where the store keeps it is the operator's business
        return JSONResponse(content, status_code=200 if result.accepted else 422)

    @api.get(
        "/v1/model",
        response_model=ModelInfo,
        dependencies=guarded,
        tags=["model"],
        responses=_refusals(401, 503),
    )
    def model() -> Any:
        """The served version, its lineage (data, code, orchestrator run) and its gate decision."""
        try:
            loaded = state.current()
            tags = state.version_tags(loaded)
        except RegistryError as exc:
            return _unavailable(exc)
        lineage, gate = split_tags(tags)
        return ModelInfo(
            model=loaded.name,
            alias=state.server.alias,
            version=loaded.version,
            run_id=loaded.run_id,
            stale=state.server.stale,
            loaded_at=loaded.loaded_at,
            lineage=lineage,
            gate=gate,
        )

    @api.get("/health", tags=["probes"])
    def health() -> dict[str, str]:
        """Answers while the process lives (no registry call)."""
        return {"status": "ok"}

    @api.get("/ready", tags=["probes"], responses=_refusals(503))
    def ready() -> Any:
        """200 once a champion is loaded and can answer; 503 before (with the reason)."""
        try:
            loaded = state.current()
        except RegistryError as exc:
            return _unavailable(exc)
        return {
            "status": "ready",
            "model": loaded.name,
            "version": loaded.version,
            "stale": state.server.stale,
        }

    @api.get("/metrics", tags=["probes"], include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics (live quality refreshed at most once a minute)."""
        if state.metrics.quality_due(QUALITY_REFRESH_S):
            _refresh_live_quality(state)
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)

    return api


def add_schemas(app: FastAPI, state: ApiState) -> None:
    """Put the spec-generated request model into /openapi.json (the predict route reads its body
    itself, so FastAPI does not add it)."""
    request_model = predict_request_model(state.spec, state.settings.api_max_rows)
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default_openapi()
        generated = request_model.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(generated.pop("$defs", {}))
        generated["examples"] = [{"rows": [form_defaults(state.spec)]}]  # what "Try it out" sends
        components[request_model.__name__] = generated
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
