"""Service health of a window: requests, rate, latency, refused and failed requests, dropped rows.

Served requests come from the prediction log (one per request: its first record, source
`serve`); refused and failed ones and the log's dropped rows from the service events the
server writes beside it (`PredictionLog.note`). Unauthorized requests (401) are counted
but left out of the error rate: a scanner knocking without a token is not the model failing.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def service_health(table: Any, events: Any) -> dict[str, Any]:
    """Requests, rate, latency p50/p99, errors, error rate and dropped rows of one window."""
    import pyarrow.compute as pc

    out: dict[str, Any] = {
        "requests": 0,
        "rate_per_s": None,
        "latency_p50_ms": None,
        "latency_p99_ms": None,
        "errors": 0,
        "error_rate": None,
        "unauthorized": 0,
        "dropped_rows": 0,
    }
    times = []
    if table.num_rows:
        served = table.filter(pc.equal(table.column("source"), "serve"))  # batch rows: no requests
        if served.num_rows:
            first = served.filter(pc.equal(served.column("record"), 0))
            latency = first.column("latency_ms").to_numpy(zero_copy_only=False)
            latency = latency[~np.isnan(latency)]
            out["requests"] = first.num_rows
            if len(latency):
                out["latency_p50_ms"] = float(np.percentile(latency, 50))
                out["latency_p99_ms"] = float(np.percentile(latency, 99))
            times.append(first.column("time"))
    if events is not None and events.num_rows:
        status = events.column("status").to_numpy(zero_copy_only=False)
        kind = events.column("kind").to_numpy(zero_copy_only=False)
        rows = events.column("rows").to_numpy(zero_copy_only=False)
        requests = kind != "dropped"
        out["unauthorized"] = int(np.sum(requests & (status == 401)))
        out["errors"] = int(np.sum(requests & (status != 401)))
        out["dropped_rows"] = int(rows[kind == "dropped"].sum())
        times.append(events.filter(pc.not_equal(events.column("kind"), "dropped")).column("time"))
    answered = out["requests"] + out["errors"]
    if answered:
        out["error_rate"] = out["errors"] / answered
        stamps = [t for t in times if len(t)]
        start = min(pc.min(t).as_py() for t in stamps)
        end = max(pc.max(t).as_py() for t in stamps)
        out["rate_per_s"] = answered / max((end - start).total_seconds(), 1.0)
        out["first"], out["last"] = start.isoformat(), end.isoformat()
    return out
