"""The REST face of a served model: FastAPI routes over a `ModelSlot`.

    POST /predict   {"records": [{...}, ...]} -> predictions, probabilities, model_version, request_id
    GET  /health    the process is alive
    GET  /ready     the model is loaded and the store answers (503 until then)
    GET  /metadata  the served version, its reference, task, classes and input signature,
                    and the experiment (canary challenger and split, or shadow) when one runs
    POST /feedback  {"request_id", "label"[, "record"]} (or {"feedback": [...]}): ground truth
    POST /explain   {"records": [...]} -> SHAP contributions per input column (see serve/explain.py)
    GET  /metrics   Prometheus: requests, latency, predictions, the prediction log, the model
    GET  /docs      OpenAPI documentation (/openapi.json)

With an experiment (serve/routing.py) a share of the requests is answered by a challenger
(canary), or every request is also scored by a shadow model after its answer (shadow); the
answer's `variant` and `X-Variant` say which model answered, and the log records it.

Requests are parsed by hand (orjson) rather than through pydantic models: a one-row request
must cost microseconds, and each bad field must be named (row, field, problem) without
echoing its value. The pydantic models below only document the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from loopml.errors import DataError, NotFoundError
from loopml.features.columns import Columns
from loopml.monitor.feedback import feedback_folder, record_feedback
from loopml.monitor.log import LogBatch, PredictionLog, event_folder, prediction_folder
from loopml.serve.explain import add_explain_route
from loopml.serve.http import (
    Gate,
    Refused,
    authorize,
    checked_columns,
    parse_feedback,
    parse_records,
    read_body,
    refusal,
    request_id_of,
)
from loopml.serve.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from loopml.serve.metrics import ServeMetrics
from loopml.serve.routing import (
    CHALLENGER,
    Experiment,
    competing,
    experiment_metadata,
    goes_to_challenger,
    warn_if_paused,
)
from loopml.serve.shadow import ShadowScorer
from loopml.serve.slot import ModelSlot, Served

log = logging.getLogger("loopml.serve")

BLOCK_ROWS = 2048  # rows scored between two checks of the request's timeout
_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class ServeSettings:
    """How the app answers: its model reference, limits, policies and token."""

    spec_path: str
    ref: str
    token: str | None = None
    max_body_bytes: int = 10 * 2**20
    max_rows: int = 10_000
    timeout_s: float = 10.0
    max_concurrency: int = 64
    poll_s: float = 2.0
    unknown: str = "allow"
    extra: str = "reject"
    log: bool = True
    log_flush_s: float = 1.0
    threads: int = 1  # booster threads for a request of 64+ rows
    challenger: str | None = None  # canary: this reference answers `split` % of requests
    split: float | None = None
    shadow: str | None = None  # shadow: this reference scores every request after its answer

    @property
    def experiment(self) -> Experiment:
        """The experiment these settings run beside the champion (mode None: none)."""
        return Experiment(challenger=self.challenger, split=self.split, shadow=self.shadow)


class PredictRequest(BaseModel):
    """The rows to score, one object per row, keyed by input column."""

    records: list[dict[str, Any]] = Field(
        description="One object per row: every input column of the model (see /metadata).",
        examples=[[{"distance": 160, "carrier": "EV", "flight_date": "2013-02-17"}]],
    )


class PredictResponse(BaseModel):
    """The model's answer, one entry per record, in order."""

    predictions: list[Any] = Field(description="The predicted class or value per record.")
    probabilities: list[dict[str, float]] | None = Field(
        None, description="Classifiers: the probability of each class per record."
    )
    model_version: int = Field(description="The model version that answered.")
    request_id: str = Field(description="This request's id (also the X-Request-ID header).")
    variant: str | None = Field(
        None,
        description="During an experiment: `champion` or `challenger`, the model that answered "
        "(also the X-Variant header).",
    )


class FieldError(BaseModel):
    """One bad field of one record."""

    row: int | None
    field: str | None
    problem: str


class ErrorBody(BaseModel):
    """Why a request was refused."""

    detail: str
    errors: list[FieldError] | None = None
    request_id: str


def create_app(settings: ServeSettings) -> FastAPI:
    """The FastAPI app serving `settings.ref` of the project at `settings.spec_path`."""
    from loopml.api import Project

    project = Project(settings.spec_path)
    experiment = settings.experiment
    slot = ModelSlot(project.store, project.spec, settings.ref, threads=settings.threads)
    champion_variant = experiment.champion  # `main` without an experiment
    slots = {champion_variant: slot}
    rival = None  # the challenger's or the shadow's slot
    if experiment.mode is not None:
        # A shadow scores on one booster thread: the cores stay the champion's first.
        threads = 1 if experiment.mode == "shadow" else settings.threads
        rival = ModelSlot(project.store, project.spec, experiment.other, threads=threads)
        slots[experiment.variant] = rival
    gate = Gate(settings.max_concurrency)
    metrics = ServeMetrics()
    executor = ThreadPoolExecutor(max_workers=max(1, settings.max_concurrency))

    predictions = (
        PredictionLog(
            prediction_folder(project),
            flush_s=settings.log_flush_s,
            events=event_folder(project),
            on_change=metrics.log_state,
        )
        if settings.log
        else None
    )
    shadow = (
        ShadowScorer(predictions, metrics)
        if experiment.mode == "shadow" and predictions is not None
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        for variant, each in slots.items():
            await loop.run_in_executor(executor, each.refresh)
            served = each.current
            log.warning(
                "serving `%s` as %s: version %d of %s",
                each.ref,
                variant,
                served.version,
                project.spec.name,
            )
            metrics.serving(served.version, each.ref, served.run_id, variant)
        warn_if_paused(slot, rival)
        follower = asyncio.create_task(
            _follow(slots, settings.poll_s, executor, metrics, lambda: warn_if_paused(slot, rival))
        )
        yield
        follower.cancel()
        executor.shutdown(wait=False)
        if shadow is not None:
            shadow.close()  # the shadow rows of answered requests are logged too
        if predictions is not None:
            predictions.close()  # everything answered is on disk before the process ends
        project.close()

    app = FastAPI(
        title=f"loopml: {project.spec.name}",
        description=f"Predictions from model `{settings.ref}` of {project.spec.name}.",
        version="1",
        lifespan=lifespan,
    )

    def refuse(refused: Refused, request_id: str, version: int | None, started: float) -> Response:
        """Count, log (as a service event) and answer a refused or failed request."""
        seconds = time.perf_counter() - started
        metrics.observe(version=version, status=refused.status, seconds=seconds)
        if predictions is not None:
            predictions.note(request_id, refused.status, version)
        return refusal(refused, request_id)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={code: {"model": ErrorBody} for code in (400, 401, 413, 422, 503, 504)},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
            }
        },
        summary="Score records",
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request)
        try:
            authorize(request, settings.token)
            gate.enter()
        except Refused as refused:
            return refuse(refused, request_id, None, started)
        metrics.in_flight.inc()
        champion = slot.current
        other = competing(champion, rival)
        served, variant = champion, champion_variant
        if (
            other is not None
            and experiment.mode == "canary"
            and goes_to_challenger(request_id, experiment)
        ):
            served, variant = other, CHALLENGER
        try:
            body = await read_body(request, settings.max_body_bytes)
            records = parse_records(body, settings.max_rows)
            deadline = time.perf_counter() + settings.timeout_s  # from a fully received body
            answer, columns, outputs = _answer(
                served, records, settings, deadline=deadline, signature=champion.signature
            )
            answer["model_version"] = served.version
            answer["request_id"] = request_id
            headers = {"X-Request-ID": request_id}
            if experiment.mode is not None:
                answer["variant"] = headers["X-Variant"] = variant
            background = None
            if shadow is not None and other is not None:
                background = shadow.after(other, request_id, columns)
            response = Response(
                orjson.dumps(answer, option=_JSON),
                media_type="application/json",
                headers=headers,
                background=background,
            )
            elapsed = time.perf_counter() - started
            if predictions is not None:
                predictions.append(
                    LogBatch(
                        request_id,
                        served.version,
                        columns.data,
                        outputs,
                        latency_ms=elapsed * 1000,
                        variant=variant,
                        numeric=served.numeric,
                    )
                )
            labels = outputs["prediction"] if served.model.classes is not None else ()
            metrics.observe(
                version=served.version,
                status=200,
                seconds=elapsed,
                records=len(columns),
                labels=labels,
            )
            return response
        except Refused as refused:
            return refuse(refused, request_id, served.version, started)
        except Exception:
            log.exception("request %s failed", request_id)
            failed = f"the model failed on this request; the server log has {request_id}"
            return refuse(Refused(500, failed), request_id, served.version, started)
        finally:
            gate.leave()
            metrics.in_flight.dec()

    add_explain_route(app, slot, settings, gate, project.store, executor)

    @app.post("/feedback", summary="Ground truth for earlier predictions, by request id")
    async def feedback(request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            authorize(request, settings.token)
            body = await read_body(request, settings.max_body_bytes)
            rows = parse_feedback(body)
        except Refused as refused:
            return refusal(refused, request_id)
        if predictions is not None:
            predictions.flush()  # what this worker answered a moment ago is on disk first
        loop = asyncio.get_running_loop()
        try:
            summary = await loop.run_in_executor(
                executor,
                lambda: record_feedback(
                    prediction_folder(project), feedback_folder(project), rows, source="the body"
                ),
            )
        except DataError as exc:
            return refusal(Refused(422, exc.message), request_id)
        status = 200 if summary.unknown_count == 0 else 422
        body = summary.to_dict() | {"request_id": request_id}
        if status == 422:
            body["detail"] = (
                f"{summary.unknown_count} label(s) name predictions this server never logged; "
                "they were not stored"
            )
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus(request: Request) -> Response:
        try:
            authorize(request, settings.token)
        except Refused as refused:
            return refusal(refused, request_id_of(request))
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/health", summary="Alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Model loaded and store reachable")
    async def ready() -> Response:
        served = slot.current
        ok = served is not None and slot.store_ok
        body = {
            "ready": ok,
            "model_loaded": served is not None,
            "store_reachable": slot.store_ok,
            "model_version": None if served is None else served.version,
        }
        if slot.unresolved is not None:  # still answering, with the last version it named
            body["reference_resolves"] = False
            body["note"] = f"`{slot.ref}` names no version now: {slot.unresolved}"
        if rival is not None:
            body["variants"] = {
                name: None if each.current is None else each.current.version
                for name, each in slots.items()
            }
        return Response(
            orjson.dumps(body), status_code=200 if ok else 503, media_type="application/json"
        )

    @app.get("/metadata", summary="The served model version and its input signature")
    async def metadata(request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            authorize(request, settings.token)
        except Refused as refused:
            return refusal(refused, request_id)
        served = slot.current
        body = {
            "project": project.spec.name,
            "reference": slot.ref,
            "model_version": served.version,
            "run_id": served.run_id,
            "task": served.model.task,
            "classes": served.model.classes,
            "loaded_at": served.loaded_at,
            "swaps": slot.swaps,
            "limits": {
                "max_rows": settings.max_rows,
                "max_body_bytes": settings.max_body_bytes,
                "timeout_s": settings.timeout_s,
                "max_concurrency": settings.max_concurrency,
            },
            "unknown_categories": settings.unknown,
            "extra_fields": settings.extra,
            "signature": served.signature.to_dict(),
            "experiment": experiment_metadata(experiment, slots, served, rival),
        }
        return Response(orjson.dumps(body, option=_JSON), media_type="application/json")

    return app


async def _follow(
    slots: dict[str, ModelSlot],
    every: float,
    executor: ThreadPoolExecutor,
    metrics: ServeMetrics,
    swapped: Any,
) -> None:
    """Poll the registry and swap each slot to the version its reference names now."""
    loop = asyncio.get_running_loop()
    problems: dict[str, str | None] = dict.fromkeys(slots)  # said once, until it changes
    while True:
        await asyncio.sleep(every)
        for variant, slot in slots.items():
            problem = None
            try:
                if await loop.run_in_executor(executor, slot.refresh):
                    metrics.serving(slot.current.version, slot.ref, slot.current.run_id, variant)
                    swapped()
            except NotFoundError as exc:
                problem = (
                    f"model `{slot.ref}` no longer resolves ({exc}); still serving the last one"
                )
            except Exception as exc:  # the store is down: keep serving, /ready says so
                problem = f"could not reach the store to follow `{slot.ref}`: {exc}"
            if problem != problems[variant]:
                if problem is not None:
                    log.warning("%s", problem)
                elif problems[variant] is not None:
                    log.warning("model `%s` resolves again", slot.ref)
                problems[variant] = problem


def _answer(
    served: Served,
    records: list[Any],
    settings: ServeSettings,
    *,
    deadline: float,
    signature: Any = None,
) -> tuple[dict[str, Any], Columns, dict[str, Any]]:
    """Validate `records` (against `signature`, the champion's; default: `served`'s) and
    score them, in blocks, refusing with 504 once `deadline` passed.

    Scoring runs on the event loop: a thread hop costs more than it saves here (LightGBM
    releases the GIL but the request's Python work does not), and several requests at once
    are what `--workers` is for. The timeout is checked between blocks of BLOCK_ROWS rows.
    """
    columns = checked_columns(
        records, signature or served.signature, unknown=settings.unknown, extra=settings.extra
    )
    parts = []
    for start in range(0, len(columns), BLOCK_ROWS):
        _check_deadline(deadline, settings.timeout_s)
        block = columns if len(columns) <= BLOCK_ROWS else columns.slice(start, start + BLOCK_ROWS)
        parts.append(served.answer(block))
    _check_deadline(deadline, settings.timeout_s)
    if len(parts) == 1:
        return parts[0][0], columns, parts[0][1]
    answer = {key: [v for part, _ in parts for v in part[key]] for key in parts[0][0]}
    outputs = {key: np.concatenate([out[key] for _, out in parts]) for key in parts[0][1]}
    return answer, columns, outputs


def _check_deadline(deadline: float, limit: float) -> None:
    if time.perf_counter() > deadline:
        raise Refused(
            504, f"scoring took longer than the {limit:g} s limit; send fewer records per request"
        )
