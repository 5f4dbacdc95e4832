"""`POST /explain`: SHAP contributions for records, checked exactly like `POST /predict`.

    POST /explain?top=5  {"records": [{...}, ...]}
    -> {"explanations": [{"row", "output_name", "base_value", "output", "contributions":
        [{"feature", "value", "contribution"}, ...], "rest", "rest_count"}, ...],
        "space", "methods", "model_version", "request_id"}

The same token, body limit, JSON checks, per-field errors (422) and timeout (504) as
`/predict`, with a smaller row limit (`MAX_RECORDS`). Explanations are not predictions:
they are neither logged nor counted in the prediction metrics. Each served version gets its
explainer once (linear and sampled members read background rows from the store then).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from loopml.explain.stage import MAX_RECORDS
from loopml.serve.http import (
    Gate,
    Refused,
    authorize,
    checked_columns,
    parse_records,
    read_body,
    refusal,
    request_id_of,
)
from loopml.serve.slot import ModelSlot, Served

log = logging.getLogger("loopml.serve")

MAX_TOP = 1_000
_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class Explainers:
    """One explainer per served version (the latest two kept), built on first use."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._built: dict[int, Any] = {}
        self._lock = threading.Lock()

    def get(self, served: Served) -> Any:
        """The explainer of `served`'s model."""
        explainer = self._built.get(served.version)
        if explainer is not None:
            return explainer
        with self._lock:
            if served.version not in self._built:
                self._built[served.version] = self._build(served)
                for old in sorted(self._built)[:-2]:
                    del self._built[old]
            return self._built[served.version]

    def _build(self, served: Served) -> Any:
        from loopml.explain.contributions import Explainer
        from loopml.explain.stage import background_rows

        run = self.store.meta.run(served.run_id)
        background = background_rows(self.store, run, served.model)
        return Explainer(served.model, background, seed=int(run.get("seed") or 0))


def add_explain_route(
    app: FastAPI,
    slot: ModelSlot,
    settings: Any,
    gate: Gate,
    store: Any,
    executor: ThreadPoolExecutor,
) -> None:
    """Register `POST /explain` on `app` (same checks as `/predict`)."""
    explainers = Explainers(store)

    @app.post(
        "/explain",
        summary="SHAP contributions per input column for records",
        responses={code: {"description": "refused"} for code in (400, 401, 413, 422, 503, 504)},
    )
    async def explain(request: Request) -> Response:
        request_id = request_id_of(request)
        try:
            authorize(request, settings.token)
            gate.enter()
        except Refused as refused:
            return refusal(refused, request_id)
        served = slot.current
        try:
            top = _top(request.query_params.get("top"))
            body = await read_body(request, settings.max_body_bytes)
            records = parse_records(body, min(settings.max_rows, MAX_RECORDS))
            deadline = time.perf_counter() + settings.timeout_s
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(
                executor, lambda: _explain(explainers, served, records, top, settings)
            )
            if time.perf_counter() > deadline:
                raise Refused(
                    504,
                    f"explaining took longer than the {settings.timeout_s:g} s limit; "
                    "send fewer records per request",
                )
            answer["model_version"] = served.version
            answer["request_id"] = request_id
            return Response(
                orjson.dumps(answer, option=_JSON),
                media_type="application/json",
                headers={"X-Request-ID": request_id},
            )
        except Refused as refused:
            return refusal(refused, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return refusal(
                Refused(500, f"the model failed on this request; the server log has {request_id}"),
                request_id,
            )
        finally:
            gate.leave()


def _top(text: str | None) -> int:
    if text is None:
        return 10
    if not text.isdigit() or not 1 <= int(text) <= MAX_TOP:
        raise Refused(400, f"`top` must be a whole number from 1 to {MAX_TOP}, e.g. ?top=5")
    return int(text)


def _explain(
    explainers: Explainers, served: Served, records: list[Any], top: int, settings: Any
) -> dict[str, Any]:
    from loopml.explain.stage import explain_columns

    columns = checked_columns(
        records, served.signature, unknown=settings.unknown, extra=settings.extra
    )
    result = explain_columns(explainers.get(served), columns, top=top)
    data = result.to_dict()
    return {
        "explanations": data["explanations"],
        "space": data["space"],
        "methods": data["methods"],
    }
