"""Reading and refusing HTTP requests: ids, tokens, bodies, limits, and JSON refusals.

Every refusal is a `Refused` (status, one-sentence detail, optional per-field errors),
answered by `refusal` as `{"detail", "errors"?, "request_id"}` with no stack trace and none
of the request's values.
"""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Refused(Exception):
    """A request answered with a 4xx/5xx and one sentence saying why."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers


class Gate:
    """Counts requests in flight against the concurrency limit (503 when full)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def enter(self) -> None:
        if self.in_flight >= self.limit:
            raise Refused(
                503,
                f"the server is at its limit of {self.limit} requests in flight; retry shortly",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1


def request_id_of(request: Request) -> str:
    given = request.headers.get("x-request-id")
    return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex


def authorize(request: Request, token: str | None) -> None:
    if token is None:
        return
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        raise Refused(
            401,
            "this server needs a bearer token: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_big = f"the request body is larger than the {limit:,}-byte limit; send fewer records"
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, too_big)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_records(body: bytes, max_rows: int) -> list[Any]:
    if not body:
        raise Refused(400, 'the request has no body; send {"records": [{...}, ...]}')
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"the body is not valid JSON ({exc.args[0]})") from None
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise Refused(400, 'the body must be an object with a list "records": {"records": [...]}')
    if not records:
        raise Refused(400, '"records" is empty; send at least one record')
    if len(records) > max_rows:
        raise Refused(
            413, f"{len(records):,} records is more than the {max_rows:,} a request may hold"
        )
    return records


def checked_columns(records: list[Any], signature: Any, *, unknown: str, extra: str) -> Any:
    """`records` as the model's input columns, or a 422 naming every field that does not fit."""
    from loopml.serve.records import MAX_ERRORS, read_records

    columns, errors = read_records(records, signature, unknown=unknown, extra=extra)
    if errors:
        more = f" (the first {MAX_ERRORS} are listed)" if len(errors) > MAX_ERRORS else ""
        raise Refused(
            422,
            f"{len(errors)} field(s) do not fit the model's input{more}",
            errors=errors[:MAX_ERRORS],
        )
    return columns


def parse_feedback(body: bytes) -> Any:
    import pandas as pd

    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"the body is not valid JSON ({exc.args[0]})") from None
    rows = data.get("feedback", [data]) if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise Refused(
            400,
            'send {"request_id": "…", "label": …} or {"feedback": [{"request_id": "…", '
            '"label": …, "record": 0}, …]}',
        )
    return pd.DataFrame.from_records(rows)


def refusal(refused: Refused, request_id: str) -> Response:
    body: dict[str, Any] = {"detail": refused.detail, "request_id": request_id}
    if refused.errors is not None:
        body["errors"] = refused.errors
    headers = {"X-Request-ID": request_id, **(refused.headers or {})}
    return Response(
        orjson.dumps(body),
        status_code=refused.status,
        media_type="application/json",
        headers=headers,
    )
