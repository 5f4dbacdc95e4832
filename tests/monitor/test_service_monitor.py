"""`loopml monitor` over a real server: refused requests count as errors, the error-rate rule
fires, the webhook gets the alerts, and the HTML report shows the window."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from loopml import Project
from tests.commands import loopml
from tests.monitor.test_alerts import _Hook, _hook
from tests.serve.conftest import demo_copy, demo_records, serving, trained_demo

__all__ = ["demo_copy", "trained_demo"]


def _set_monitor(root: Path, section: dict) -> None:
    spec = yaml.safe_load((root / "loopml.yaml").read_text())
    spec["monitor"] = section
    (root / "loopml.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_refused_requests_raise_the_error_rate_alert_and_reach_the_webhook(
    demo_copy: Path,
) -> None:
    columns = Project(demo_copy / "loopml.yaml").model("latest")["signature"]["columns"]
    names = [c["name"] for c in columns]
    records = demo_records(demo_copy, 30, names)
    with serving(demo_copy, "latest") as server:
        for record in records:
            assert server.post([record]).status_code == 200
        for record in records[:10]:
            assert server.post([record | {"surprise": 1}]).status_code == 422
    with _hook([]) as url:
        _set_monitor(
            demo_copy,
            {
                "alerts": {"error_rate": 0.1, "min_requests": 10, "latency_p99_ms": 60_000},
                "webhook": {
                    "url": url,
                    "retries": 0,
                    "headers": {"Authorization": "Bearer ${LOOPML_TEST_UNSET_TOKEN}"},
                },
                "periods": 4,
            },
        )
        report = demo_copy / "monitor.html"
        proc = loopml("monitor", "--since", "1h", "--json", "--report", str(report), cwd=demo_copy)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    # The token's variable is unset: the header is left out (not "Bearer "), and said so.
    assert result["webhook"]["headers_not_sent"] == {"Authorization": ["LOOPML_TEST_UNSET_TOKEN"]}
    assert any(
        "Authorization is not sent: ${LOOPML_TEST_UNSET_TOKEN}" in n for n in result["notes"]
    )
    [(body, auth)] = _Hook.received
    assert auth is None
    # The window's end is the time the check ran, in the output and in the webhook's body.
    assert result["until"] is not None and body["until"] == result["until"]
    assert result["requests"] == 30 and result["rows"] == 30
    assert result["service"]["errors"] == 10
    assert abs(result["service"]["error_rate"] - 10 / 40) < 1e-9
    rules = {a["rule"] for a in result["alerts"]}
    assert "error_rate" in rules and "latency_p99" not in rules
    assert result["webhook"]["delivered"] is True and result["webhook"]["status"] == 200
    assert body["model_version"] == result["model_version"]
    assert {a["rule"] for a in body["alerts"]} == rules
    assert result["estimated"]["metric"] == "roc_auc" and result["estimated"]["value"] > 0.5
    assert 1 <= len(result["timeline"]) <= 4
    assert sum(p["rows"] for p in result["timeline"]) == 30
    html = report.read_text()
    assert result["report_path"] == str(report)
    assert "Monitoring" in html and "error_rate" in html and html.count("data:image/png") >= 4
    project = Project(demo_copy / "loopml.yaml")
    [check] = project.store.meta.monitor_checks(project.spec.name)[:1]
    project.close()
    assert check["result"]["webhook"]["delivered"] is True

    # A webhook that is down does not fail the check: it is reported, the exit code is the alert's.
    _set_monitor(
        demo_copy,
        {"alerts": {"error_rate": 0.1, "min_requests": 10}, "webhook": {"url": url, "retries": 0}},
    )
    proc = loopml("monitor", "--since", "1h", "--no-report", "--retrain", cwd=demo_copy)
    assert proc.returncode == 1 and "ALERT error_rate" in proc.stdout
    assert "Could not post the alerts" in proc.stdout and "Report:" not in proc.stdout
    # A service alert is no reason to train a new model (retrain.on), and the output says so.
    assert "No retraining: the alerts that fired (error_rate) are not in retrain.on" in proc.stdout


def test_bad_monitor_settings_are_named(demo_copy: Path) -> None:
    _set_monitor(demo_copy, {"alerts": {"error_rate": 2}})
    proc = loopml("monitor", cwd=demo_copy)
    assert proc.returncode != 0 and "monitor.alerts.error_rate" in proc.stderr
    assert "Traceback" not in proc.stderr
    _set_monitor(demo_copy, {"webhook": {"url": "hooks.example.com"}})
    proc = loopml("monitor", cwd=demo_copy)
    assert proc.returncode != 0 and "monitor.webhook.url" in proc.stderr
