"""Alert rules fire above their thresholds and stay quiet below; the webhook retries, times
out and never fails a check."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from loopml.monitor.alerts import post_alerts, raise_alerts, unset_header_notes
from loopml.monitor.check import MonitorResult
from loopml.monitor.drift import FeatureDrift
from loopml.spec import Alerts, Goal, Webhook


def _drift(name: str, psi: float, drifted: bool = False) -> FeatureDrift:
    return FeatureDrift(name, "numeric", "wasserstein", 0.05, 0.1, drifted, 5000, psi, 0, 0, {})


def _result(**changes: object) -> MonitorResult:
    base = {
        "version": 1,
        "since": None,
        "until": None,
        "rows": 5000,
        "requests": 400,
        "features": [_drift("fare", 0.05), _drift("age", 0.3, drifted=True)],
        "prediction": None,
        "dataset_drift": {
            "drifted": False,
            "share": 0.2,
            "weighted": True,
            "threshold": 0.3,
            "drifted_features": ["age"],
        },
        "service": {
            "errors": 10,
            "error_rate": 10 / 410,
            "latency_p50_ms": 0.8,
            "latency_p99_ms": 12.0,
            "rate_per_s": 50.0,
            "dropped_rows": 0,
        },
        "performance": None,
    }
    return MonitorResult(**(base | changes))


def _rules(result: MonitorResult, goals: list[Goal] | None = None, **rules: object) -> set[str]:
    return {alert["rule"] for alert in raise_alerts(result, Alerts(**rules), goals or [])}


def test_quiet_result_raises_nothing() -> None:
    assert _rules(_result()) == set()


def test_feature_psi_rule_by_name_and_for_every_feature() -> None:
    assert _rules(_result(), feature_psi={"age": 0.25}) == {"feature_psi"}
    assert _rules(_result(), feature_psi={"age": 0.35}) == set()
    alerts = raise_alerts(_result(), Alerts(feature_psi={"*": 0.04}), [])
    assert sorted(a["feature"] for a in alerts) == ["age", "fare"]


def test_service_rules_and_their_minimum_of_requests() -> None:
    assert _rules(_result(), latency_p99_ms=10) == {"latency_p99"}
    assert _rules(_result(), latency_p99_ms=15) == set()
    assert _rules(_result(), error_rate=0.01) == {"error_rate"}
    assert _rules(_result(), error_rate=0.01, latency_p99_ms=10, min_requests=1000) == set()
    assert _rules(_result(), error_rate=None) == set()


def test_dropped_rows_alert_even_with_few_requests() -> None:
    service = _result().service | {"dropped_rows": 7}
    assert _rules(_result(service=service, requests=3)) == {"dropped_rows"}
    assert _rules(_result(service=service), dropped_rows=10) == set()
    assert _rules(_result(service=service), dropped_rows=None) == set()


def test_dataset_and_prediction_drift_rules_can_be_turned_off() -> None:
    verdict = _result().dataset_drift | {"drifted": True, "share": 0.5}
    drifted = _result(dataset_drift=verdict, prediction=_drift("prediction", 0.5, drifted=True))
    assert _rules(drifted) == {"dataset_drift", "prediction_drift"}
    assert _rules(drifted, dataset_drift=False, prediction_drift=False) == set()


def test_metric_drop_observed_and_estimated() -> None:
    observed = {"metric": "roc_auc", "value": 0.70, "interval": [0.66, 0.74], "test": 0.80}
    observed["labelled"] = 900
    assert _rules(_result(performance=observed)) == {"metric_drop"}
    assert _rules(_result(performance=observed), metric_drop=0.15) == set()  # a drop of 0.10
    overlapping = observed | {"interval": [0.66, 0.81]}
    assert _rules(_result(performance=overlapping)) == set()
    # The estimate is judged against the same estimate on the test part, not the test score.
    estimated = {"metric": "roc_auc", "value": 0.74, "interval": [0.73, 0.75], "rows": 5000}
    estimated |= {"test": 0.72, "reference": 0.80}
    alerts = raise_alerts(_result(estimated=estimated), Alerts(), [])
    assert [(a["rule"], a["kind"]) for a in alerts] == [("metric_drop", "estimated")]
    assert _rules(_result(estimated=estimated), estimated=False) == set()
    lower_is_better = {"metric": "log_loss", "value": 0.5, "interval": [0.45, 0.55]}
    lower_is_better |= {"test": 0.4, "labelled": 100}
    assert _rules(_result(performance=lower_is_better)) == {"metric_drop"}


def test_goals_are_checked_on_the_window() -> None:
    observed = {"metric": "roc_auc", "value": 0.70, "interval": [0.5, 0.9], "test": 0.72}
    observed["labelled"] = 50
    goals = [
        Goal(metric="roc_auc", op=">=", value=0.75),
        Goal(metric="p99_latency_ms", op="<=", value=5),
    ]
    alerts = raise_alerts(_result(performance=observed), Alerts(), goals)
    assert sorted((a["rule"], a["goal"]) for a in alerts) == [
        ("goal", "roc_auc >= 0.75"),
        ("service_goal", "p99_latency_ms <= 5"),
    ]
    met = [
        Goal(metric="roc_auc", op=">=", value=0.6),
        Goal(metric="error_rate", op="<=", value=0.1),
    ]
    assert raise_alerts(_result(performance=observed), Alerts(), met) == []


class _Hook(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[dict, str | None]]] = []
    delay = 0.0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((body, self.headers.get("Authorization")))
        time.sleep(type(self).delay)
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _hook(answers: list[int], delay: float = 0.0) -> Iterator[str]:
    _Hook.answers, _Hook.received, _Hook.delay = list(answers), [], delay
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()
        server.server_close()


PAYLOAD = {"project": "p", "alerts": [{"rule": "error_rate", "message": "…"}]}


def test_webhook_retries_server_errors_then_delivers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    monkeypatch.setattr(time, "sleep", lambda s: None)  # no backoff waits in the test
    with _hook([500, 503]) as url:
        hook = Webhook(url=url, retries=3, headers={"Authorization": "Bearer ${HOOK_TOKEN}"})
        delivery = post_alerts(hook, PAYLOAD)
    assert delivery == {"delivered": True, "attempts": 3, "status": 200}
    assert [body for body, _ in _Hook.received] == [PAYLOAD] * 3
    assert {auth for _, auth in _Hook.received} == {"Bearer s3cret"}


def test_a_header_naming_an_unset_variable_is_not_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    monkeypatch.setenv("HOOK_TEAM", "ml")
    monkeypatch.setenv("HOOK_EMPTY", "")
    headers = {
        "Authorization": "Bearer ${HOOK_TOKEN}",
        "X-Team": "${HOOK_TEAM}",
        "X-Both": "${HOOK_EMPTY}:${HOOK_TOKEN}",
    }
    with _hook([]) as url:
        delivery = post_alerts(Webhook(url=url, retries=0, headers=headers), PAYLOAD)
    [(_, auth)] = _Hook.received
    assert auth is None  # not "Bearer "
    assert delivery["delivered"] is True
    assert delivery["headers_not_sent"] == {
        "Authorization": ["HOOK_TOKEN"],
        "X-Both": ["HOOK_EMPTY", "HOOK_TOKEN"],
    }
    assert unset_header_notes(delivery["headers_not_sent"]) == [
        "monitor.webhook.headers.Authorization is not sent: ${HOOK_TOKEN} is unset or empty in "
        "the environment of `loopml monitor`",
        "monitor.webhook.headers.X-Both is not sent: ${HOOK_EMPTY}, ${HOOK_TOKEN} are unset or "
        "empty in the environment of `loopml monitor`",
    ]


def test_webhook_gives_up_without_raising() -> None:
    with _hook([400]) as url:  # the hook refuses the payload: retrying cannot help
        refused = post_alerts(Webhook(url=url, retries=3), PAYLOAD)
    assert refused["delivered"] is False and refused["attempts"] == 1
    assert refused["error"] == "HTTP 400"
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = post_alerts(Webhook(url=f"http://127.0.0.1:{port}/", retries=1), PAYLOAD)
    assert unreachable["delivered"] is False and unreachable["attempts"] == 2
    with _hook([], delay=1.0) as url:
        started = time.perf_counter()
        slow = post_alerts(Webhook(url=url, retries=0, timeout_s=0.2), PAYLOAD)
    assert slow["delivered"] is False and "timed out" in slow["error"]
    assert time.perf_counter() - started < 1.0


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Webhook(url="ftp://example.com/hook")
