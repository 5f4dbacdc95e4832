"""The alert rules of `loopml monitor` (spec `monitor.alerts`), and the webhook they go to.

    alerts = raise_alerts(result, rules, goals)   # list of {rule, message, value, threshold}
    delivery = post_alerts(webhook, payload)      # {delivered, attempts, status | error}
    headers, unset = webhook_headers(webhook)     # `${VAR}` read; headers naming an unset one left out

Rules: the dataset verdict (share of drifted features), prediction drift, one feature's PSI,
a metric drop (observed on labelled predictions, or estimated from the probabilities),
latency p99, error rate, rows the prediction log dropped, and the spec's goals checked on
the window (`service_goal`: goals such as `p99_latency_ms <= 20` on the service figures;
`goal`: metric goals on the observed metric). Service rules wait for `min_requests` requests.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from loopml.spec import SERVICE_METRICS, Alerts, Goal, Webhook

log = logging.getLogger("loopml.monitor")

_SERVICE_FIGURES = {  # service goal -> the figure of `MonitorResult.service` it is checked on
    "p50_latency_ms": "latency_p50_ms",
    "p99_latency_ms": "latency_p99_ms",
    "throughput_rps": "rate_per_s",
    "error_rate": "error_rate",
}


def raise_alerts(result: Any, rules: Alerts, goals: list[Goal]) -> list[dict[str, Any]]:
    """Every alert the rules raise on one monitoring result (`monitor.check.MonitorResult`)."""
    alerts: list[dict[str, Any]] = []
    verdict = result.dataset_drift
    if rules.dataset_drift and verdict["drifted"]:
        weighted = " (weighted by importance)" if verdict["weighted"] else ""
        features = ", ".join(verdict["drifted_features"][:8])
        alerts.append(
            _alert(
                "dataset_drift",
                f"{verdict['share']:.0%} of the features drifted{weighted}, at or above "
                f"{verdict['threshold']:.0%}: {features}",
                verdict["share"],
                verdict["threshold"],
            )
        )
    drifted = result.prediction
    if rules.prediction_drift and drifted is not None and drifted.drifted:
        alerts.append(
            _alert(
                "prediction_drift",
                f"the predictions drifted ({drifted.method} {drifted.score:.3g}, "
                f"threshold {drifted.threshold:g})",
                drifted.score,
                drifted.threshold,
            )
        )
    for feature in result.features:
        limit = rules.feature_psi.get(feature.name, rules.feature_psi.get("*"))
        if limit is not None and feature.psi == feature.psi and feature.psi > limit:
            alerts.append(
                _alert(
                    "feature_psi",
                    f"`{feature.name}` moved: PSI {feature.psi:.3g} above {limit:g}",
                    feature.psi,
                    limit,
                    feature=feature.name,
                )
            )
    if rules.metric_drop is not None:
        alerts += _metric_drops(result, rules)
    alerts += _service_alerts(result, rules)
    alerts += _goal_alerts(result, goals, rules)
    return alerts


def _metric_drops(result: Any, rules: Alerts) -> list[dict[str, Any]]:
    from loopml.evaluate.metrics import metric_direction

    out = []
    checks = [("observed", result.performance, "test")]
    if rules.estimated:  # the estimate is judged against the same estimate on the test part
        checks.append(("estimated", result.estimated, "reference"))
    for kind, performance, against in checks:
        performance = performance or {}
        value, interval = performance.get("value"), performance.get("interval")
        base = performance.get(against)
        if kind == "estimated" and base is None:
            against, base = "test", performance.get("test")
        if value is None or interval is None or base is None or value != value:
            continue
        higher = metric_direction(performance["metric"])
        drop = base - value if higher else value - base
        outside = interval[1] < base if higher else interval[0] > base
        if outside and drop > rules.metric_drop:
            where = "the test part" + (
                " (estimated the same way)" if against == "reference" else ""
            )
            rows = performance.get("labelled", performance.get("rows", 0))
            out.append(
                _alert(
                    "metric_drop",
                    f"{kind} {performance['metric']} on {rows:,} predictions is {value:.4g} "
                    f"({interval[0]:.4g}–{interval[1]:.4g}), worse than {base:.4g} on {where}",
                    value,
                    base,
                    kind=kind,
                )
            )
    return out


def _answered(result: Any) -> int:
    """Requests served, refused or failed in the window."""
    return (result.requests or 0) + (result.service.get("errors") or 0)


def _service_alerts(result: Any, rules: Alerts) -> list[dict[str, Any]]:
    out = []
    service = result.service
    dropped = service.get("dropped_rows") or 0
    if rules.dropped_rows is not None and dropped > rules.dropped_rows:
        out.append(
            _alert(
                "dropped_rows",
                f"the prediction log dropped {dropped:,} rows (its buffer stayed full or the "
                "disk failed); see the server log",
                dropped,
                rules.dropped_rows,
            )
        )
    answered = _answered(result)
    if answered < rules.min_requests:
        return out
    p99, rate = service.get("latency_p99_ms"), service.get("error_rate")
    if rules.latency_p99_ms is not None and p99 is not None and p99 > rules.latency_p99_ms:
        out.append(
            _alert(
                "latency_p99",
                f"latency p99 is {p99:.3g} ms, above {rules.latency_p99_ms:g} ms",
                p99,
                rules.latency_p99_ms,
            )
        )
    if rules.error_rate is not None and rate is not None and rate > rules.error_rate:
        out.append(
            _alert(
                "error_rate",
                f"{rate:.1%} of {answered:,} requests were refused or failed "
                f"({service['errors']:,}), above {rules.error_rate:.1%}",
                rate,
                rules.error_rate,
            )
        )
    return out


def _goal_alerts(result: Any, goals: list[Goal], rules: Alerts) -> list[dict[str, Any]]:
    out = []
    service, answered = result.service, _answered(result)
    performance = result.performance or {}
    for goal in goals:
        if goal.metric in SERVICE_METRICS:
            if answered < rules.min_requests:
                continue
            rule, observed = "service_goal", service.get(_SERVICE_FIGURES[goal.metric])
            where = "the service"
        elif goal.metric == performance.get("metric"):
            rule, observed = "goal", performance.get("value")
            where = f"{performance.get('labelled', 0):,} labelled predictions"
        else:
            continue
        if observed is not None and observed == observed and not goal.met_by(observed):
            out.append(
                _alert(
                    rule,
                    f"goal `{goal}` missed: {goal.metric} is {observed:.4g} on {where}",
                    observed,
                    goal.value,
                    goal=str(goal),
                )
            )
    return out


def _alert(rule: str, message: str, value: Any, threshold: Any, **extra: Any) -> dict[str, Any]:
    return {"rule": rule, "message": message, "value": value, "threshold": threshold} | extra


def post_alerts(webhook: Webhook, payload: dict[str, Any]) -> dict[str, Any]:
    """POST `payload` as JSON to the webhook, retrying with backoff; never raises.

    A header whose `${VAR}` is unset is not sent; `headers_not_sent` then names it and its
    variables."""
    import urllib.error
    import urllib.request

    body = json.dumps(payload, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "loopml-monitor"}
    expanded, unset = webhook_headers(webhook)
    headers |= expanded
    extra: dict[str, Any] = {"headers_not_sent": unset} if unset else {}
    attempts, error = 0, None
    for attempt in range(webhook.retries + 1):
        attempts = attempt + 1
        request = urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=webhook.timeout_s) as response:
                return {"delivered": True, "attempts": attempts, "status": response.status} | extra
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                break  # the hook refuses this payload: retrying will not help
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out
            error = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        if attempt < webhook.retries:
            time.sleep(min(0.5 * 2**attempt, 8.0))
    log.warning("could not post %d alert(s) to the webhook: %s", len(payload["alerts"]), error)
    return {"delivered": False, "attempts": attempts, "error": error} | extra


_VARIABLE = re.compile(r"\$\{(\w+)\}")


def webhook_headers(webhook: Webhook) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The webhook's headers with each `${NAME}` read from the environment (secrets stay out
    of yaml), less those naming a variable that is unset or empty (header -> its variables)."""
    headers, unset = {}, {}
    for name, value in webhook.headers.items():
        missing = [var for var in _VARIABLE.findall(value) if not os.environ.get(var)]
        if missing:
            unset[name] = missing
        else:
            headers[name] = _VARIABLE.sub(lambda m: os.environ[m.group(1)], value)
    return headers, unset


def unset_header_notes(unset: dict[str, list[str]]) -> list[str]:
    """One sentence per webhook header left out because its variables are unset."""
    return [
        f"monitor.webhook.headers.{name} is not sent: "
        + ", ".join(f"${{{var}}}" for var in variables)
        + f" {'is' if len(variables) == 1 else 'are'} unset or empty in the environment of "
        "`loopml monitor`"
        for name, variables in unset.items()
    ]
