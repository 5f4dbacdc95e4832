"""`loopml serve`: the real server on loopback, driven over HTTP like a client would."""

from __future__ import annotations

import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from loopml.serve.metrics import ServeMetrics
from tests.commands import loopml
from tests.serve.conftest import Server, demo_records, serving

SECRET = "do-not-echo-4c1d"


@pytest.fixture(scope="module")
def server(trained_demo: object) -> Iterator[Server]:
    with serving(trained_demo.root, "latest") as running:
        yield running


def _names(server: Server) -> list[str]:
    signature = httpx.get(f"{server.url}/metadata").json()["signature"]
    return [column["name"] for column in signature["columns"]]


def test_health_ready_metadata_and_docs(server: Server) -> None:
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/ready").json()
    assert ready["ready"] and ready["model_version"] == 1
    meta = httpx.get(f"{server.url}/metadata").json()
    assert meta["model_version"] == 1 and meta["reference"] == "latest"
    assert meta["task"] == "binary" and meta["classes"] == ["no", "yes"]
    assert "flight_date" in _names(server)
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert "/predict" in schema["paths"] and "records" in str(schema["paths"]["/predict"])
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_predictions_equal_batch_scoring(
    server: Server, trained_demo: object, tmp_path: Path
) -> None:
    records = demo_records(trained_demo.root, 300, _names(server))
    source = tmp_path / "rows.csv"
    pd.DataFrame.from_records(records).to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    loopml("score", "latest", str(source), str(out), cwd=trained_demo.root, check=True)
    batch = pd.read_csv(out)
    one_request = server.post(records)
    assert one_request.status_code == 200, one_request.text
    body = one_request.json()
    assert body["model_version"] == 1 and len(body["request_id"]) == 32
    assert body["predictions"] == batch["prediction"].tolist()
    got = pd.DataFrame(body["probabilities"])
    for label in ("no", "yes"):
        assert got[label].to_numpy() == pytest.approx(batch[f"proba_{label}"].to_numpy(), abs=1e-9)
    # One row per request gives the same answers as many rows in one.
    for i in (0, 7, 299):
        single = server.post([records[i]]).json()
        assert single["predictions"] == [body["predictions"][i]]
        assert single["probabilities"][0]["yes"] == pytest.approx(
            body["probabilities"][i]["yes"], abs=1e-12
        )


def test_a_request_id_is_taken_from_the_client(server: Server, trained_demo: object) -> None:
    records = demo_records(trained_demo.root, 1, _names(server))
    response = server.post(records, headers={"X-Request-ID": "order-17"})
    assert response.json()["request_id"] == "order-17"
    assert response.headers["x-request-id"] == "order-17"


def _bad(server: Server, records: object) -> dict:
    response = server.post(records)
    assert response.status_code == 422, response.text
    assert SECRET not in response.text  # the payload is never echoed
    return response.json()


def test_each_bad_field_is_named(server: Server, trained_demo: object) -> None:
    names = _names(server)
    good = demo_records(trained_demo.root, 3, names)
    missing = dict(good[0])
    del missing["distance"]
    extra = good[1] | {"password": SECRET}
    body = _bad(server, [missing, extra, good[2]])
    assert {(e["row"], e["field"], e["problem"].split(":")[0]) for e in body["errors"]} == {
        (0, "distance", "missing"),
        (1, "password", "unexpected"),
    }
    wrong = [good[0] | {"distance": SECRET}, good[1] | {"carrier": ["AA"]}, good[2]]
    body = _bad(server, wrong)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(0, "distance"), (1, "carrier")]
    assert "expected a number, got text" in body["errors"][0]["problem"]
    flagged = _bad(server, [good[0] | {"distance": True}])
    assert flagged["errors"][0]["field"] == "distance"
    null = _bad(server, [good[0] | {"carrier": None, "flight_date": "not a date " + SECRET}])
    problems = {e["field"]: e["problem"] for e in null["errors"]}
    assert "missing" in problems["carrier"] and "not a date" in problems["flight_date"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "no body"),
        (b"{not json", "not valid JSON"),
        (b'{"records": [{"distance": NaN}]}', "not valid JSON"),
        (b'{"rows": []}', '"records"'),
        (b'{"records": {}}', '"records"'),
        (b'{"records": []}', "empty"),
        (b"[1, 2]", '"records"'),
        (b'{"records": [1]}', "object"),
    ],
)
def test_malformed_bodies_are_refused(server: Server, body: bytes, says: str) -> None:
    response = httpx.post(
        f"{server.url}/predict", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert says in str(response.json()) and "Traceback" not in response.text


def test_unknown_references_and_unsafe_bindings_fail_before_serving(
    trained_demo: object,
) -> None:
    unknown = loopml("serve", "champion", cwd=trained_demo.root)
    assert unknown.returncode != 0 and "unknown model reference `champion`" in unknown.stderr
    exposed = loopml("serve", "latest", "--host", "0.0.0.0", cwd=trained_demo.root)
    assert (
        exposed.returncode == 2 and "--token" in exposed.stderr and "--insecure" in exposed.stderr
    )
    short = loopml("serve", "latest", "--token", "abc", cwd=trained_demo.root)
    assert short.returncode == 2 and "at least 16" in short.stderr
    with socket.socket() as taken:  # a port another program holds: no banner, one sentence
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = loopml("serve", "latest", "--port", port, cwd=trained_demo.root)
    assert busy.returncode == 2 and f"port {port} on 127.0.0.1 is in use" in busy.stderr
    assert "Serving" not in busy.stdout
    foreign = loopml("serve", "latest", "--host", "192.0.2.1", "--insecure", cwd=trained_demo.root)
    assert foreign.returncode == 2 and "cannot bind 192.0.2.1" in foreign.stderr
    for proc in (unknown, exposed, short, busy, foreign):
        assert "Traceback" not in proc.stderr


def test_a_tampered_model_file_is_refused(demo_copy: Path) -> None:
    files = sorted((demo_copy / ".loopml" / "artifacts").rglob("*.skops"))
    for path in files:
        path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    proc = loopml("serve", "latest", cwd=demo_copy)
    assert proc.returncode == 1 and "sha256" in proc.stderr and "Traceback" not in proc.stderr


def test_a_token_guards_predict_and_metadata(trained_demo: object) -> None:
    token = "s3cret-token-0123456789"
    with serving(trained_demo.root, "latest", env={"LOOPML_TOKEN": token}) as server:
        names = []
        assert httpx.get(f"{server.url}/metadata").status_code == 401
        assert httpx.get(f"{server.url}/health").status_code == 200
        auth = {"Authorization": f"Bearer {token}"}
        names = [
            c["name"]
            for c in httpx.get(f"{server.url}/metadata", headers=auth).json()["signature"][
                "columns"
            ]
        ]
        records = demo_records(trained_demo.root, 2, names)
        refused = server.post(records, headers={"Authorization": "Bearer wrong-token-123456"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert server.post(records).status_code == 401
        assert server.post(records, headers=auth).status_code == 200
        text = httpx.get(f"{server.url}/metrics", headers=auth).text
        # A request without the token is counted, but it is not the model failing: no error.
        assert 'loopml_requests_total{model_version="none",status="401"} 2.0' in text
        assert 'loopml_request_latency_seconds_count{model_version="none",status="401"} 2.0' in text
        assert "loopml_errors_total{" not in text


def _slow_body(records: list[dict], started: threading.Event) -> Iterator[bytes]:
    """A request body sent in two parts a second apart: a request held in flight."""
    import json

    payload = json.dumps({"records": records}).encode()
    yield payload[:10]
    started.set()
    time.sleep(1.0)
    yield payload[10:]


def _in_flight(server: Server, records: list[dict]) -> tuple[threading.Thread, dict]:
    """A /predict request sent with a slow body, returned once the server is reading it."""
    started, results = threading.Event(), {}

    def send() -> None:
        results["answer"] = httpx.post(
            f"{server.url}/predict",
            content=_slow_body(records, started),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )

    thread = threading.Thread(target=send)
    thread.start()
    assert started.wait(10)
    time.sleep(0.2)
    return thread, results


def test_limits_answer_413_503_504(trained_demo: object) -> None:
    args = ("--max-rows", "300", "--max-body-mb", "0.2", "--max-concurrency", "1")
    with serving(
        trained_demo.root, "latest", *args, "--timeout", "0.001", "--unknown", "reject"
    ) as server:
        names = _names(server)
        records = demo_records(trained_demo.root, 300, names)
        unseen = _bad(server, [records[0], records[1] | {"origin": "BOS"}])  # checked first
        assert [(e["row"], e["field"]) for e in unseen["errors"]] == [(1, "origin")]
        assert "never saw" in unseen["errors"][0]["problem"] and "BOS" not in str(unseen)
        too_many = server.post(records + records[:1])
        assert too_many.status_code == 413 and "300" in too_many.json()["detail"]
        huge = server.post([records[0] | {"tailnum": "N" * 300_000}])
        assert huge.status_code == 413 and "limit" in huge.json()["detail"]
        slow = server.post(records)  # scoring 300 rows takes more than 1 ms
        assert slow.status_code == 504 and "fewer records" in slow.json()["detail"]
        holder, results = _in_flight(server, records[:2])
        busy = server.post(records[:1])
        holder.join()
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert results["answer"].status_code in (200, 504)  # answered, not refused as busy


def test_sigterm_finishes_requests_in_flight(trained_demo: object) -> None:
    with serving(trained_demo.root, "latest") as server:
        records = demo_records(trained_demo.root, 5, _names(server))
        sender, results = _in_flight(server, records)
        server.proc.send_signal(signal.SIGTERM)
        sender.join()
        assert results["answer"].status_code == 200
        assert len(results["answer"].json()["predictions"]) == 5
        assert server.proc.wait(timeout=30) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health", timeout=2)


def test_two_workers_answer(trained_demo: object) -> None:
    with serving(trained_demo.root, "latest", "--workers", "2") as server:
        records = demo_records(trained_demo.root, 1, _names(server))
        answers = [server.post(records) for _ in range(20)]
        assert {a.status_code for a in answers} == {200}
        assert len({a.json()["request_id"] for a in answers}) == 20
        refused = [server.post([records[0] | {"distance": "far"}]) for _ in range(4)]
        assert {a.status_code for a in refused} == {422}
        # Each scrape sums both workers' counts, whichever worker answers it.
        version = ("model_version", "1")
        for _ in range(3):
            samples = _samples(server)
            assert samples[("loopml_requests_total", (version, ("status", "200")))] == 20
            latency = ("loopml_request_latency_seconds_count", (version, ("status", "422")))
            assert samples[latency] == 4
            assert samples[("loopml_errors_total", (("kind", "refused"), version))] == 4
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0


def test_hot_swap_under_continuous_requests_fails_none(demo_copy: Path, tmp_path: Path) -> None:
    train = ("train", "--families", "logistic", "--max-trials", "1", "--time-budget", "30")
    loopml(*train, cwd=demo_copy, check=True)  # version 2: a different model
    loopml("models", "promote", "1", "staging", cwd=demo_copy, check=True)
    with serving(demo_copy, "staging", "--poll", "0.3") as server:
        records = demo_records(demo_copy, 50, _names(server))
        seen: list[tuple[int, int]] = []
        stop = threading.Event()

        def hammer() -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    answer = client.post(f"{server.url}/predict", json={"records": records})
                    version = answer.json().get("model_version") if answer.is_success else None
                    seen.append((answer.status_code, version))

        clients = [threading.Thread(target=hammer) for _ in range(3)]
        for client in clients:
            client.start()
        time.sleep(1.0)
        loopml("models", "promote", "2", "staging", cwd=demo_copy, check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(v == 2 for _, v in seen[-5:]):
            time.sleep(0.2)
        time.sleep(0.5)
        stop.set()
        for client in clients:
            client.join()
        assert {status for status, _ in seen} == {200}, "a request failed during the swap"
        versions = [v for _, v in seen]
        assert versions[0] == 1 and versions[-1] == 2
        assert versions.index(2) > 0 and all(v == 2 for v in versions[versions.index(2) + 9 :])
        assert httpx.get(f"{server.url}/metadata").json()["swaps"] == 1
        # The new answers are version 2's: the same as batch scoring with version 2.
        source, out = tmp_path / "rows.csv", tmp_path / "v2.csv"
        pd.DataFrame.from_records(records).to_csv(source, index=False)
        loopml("score", "2", str(source), str(out), cwd=demo_copy, check=True)
        answer = server.post(records).json()
        expected = pd.read_csv(out)["proba_yes"].to_numpy()
        got = [row["yes"] for row in answer["probabilities"]]
        assert got == pytest.approx(expected, abs=1e-9)
        # The alias removed: the last version goes on answering, /ready says so, and the log
        # says it once, not at every poll.
        loopml("models", "demote", "staging", cwd=demo_copy, check=True)
        time.sleep(2.0)
        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 200 and ready.json()["reference_resolves"] is False
        assert server.post(records[:1]).json()["model_version"] == 2
    assert server.proc.stderr.read().count("no longer resolves") == 1


def test_every_answered_record_is_logged_under_load_and_sigterm(demo_copy: Path) -> None:
    from loopml.monitor.log import read_log

    folder = demo_copy / ".loopml" / "artifacts" / "predictions" / "flights-delay"
    shutil.rmtree(folder, ignore_errors=True)  # what other tests' servers logged

    with serving(demo_copy, "latest", "--workers", "2") as server:
        pool = demo_records(demo_copy, 40, _names(server))
        answered: dict[str, int] = {}
        lock = threading.Lock()

        def client(k: int) -> None:
            with httpx.Client(timeout=30) as session:
                for i in range(40):
                    records = pool[(k + i) % 40 : (k + i) % 40 + 1 + i % 3]
                    answer = session.post(f"{server.url}/predict", json={"records": records})
                    if answer.status_code == 200:
                        with lock:
                            answered[answer.json()["request_id"]] = len(records)

        clients = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
    logged = read_log(folder).to_pandas()
    assert len(answered) == 8 * 40
    assert len(logged) == sum(answered.values())
    assert logged.groupby("request_id").size().to_dict() == answered
    assert (logged["model_version"] == 1).all() and logged["latency_ms"].gt(0).all()
    assert {"in.carrier", "prediction", "proba_yes"} <= set(logged.columns)


def test_a_crash_loses_at_most_the_last_flush_interval(demo_copy: Path) -> None:
    from loopml.monitor.log import read_log

    folder = demo_copy / ".loopml" / "artifacts" / "predictions" / "flights-delay"
    shutil.rmtree(folder, ignore_errors=True)
    with serving(demo_copy, "latest") as server:
        records = demo_records(demo_copy, 3, _names(server))
        early = [server.post(records).json()["request_id"] for _ in range(30)]
        time.sleep(2.5)  # more than the 1 s flush interval: these are on disk
        late = [server.post(records).json()["request_id"] for _ in range(30)]
        server.proc.kill()  # SIGKILL: no handler runs, nothing is flushed on the way out
        server.proc.wait(timeout=30)
    logged = read_log(folder).to_pandas()  # readable: segments appear by atomic rename only
    kept = logged.groupby("request_id").size().to_dict()
    assert all(kept.get(rid) == 3 for rid in early)
    assert set(kept) <= set(early) | set(late)


def _samples(server: Server) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_speak_prometheus_and_count_what_was_served(
    server: Server, trained_demo: object
) -> None:
    records = demo_records(trained_demo.root, 5, _names(server))
    time.sleep(1.5)  # past the 1 s flush interval: what earlier tests sent is written
    before = _samples(server)
    answers = [server.post(records[: 1 + i % 5]) for i in range(10)]
    server.post([records[0] | {"distance": "far"}])
    after = _samples(server)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("loopml_requests_total", model_version="1", status="200") == 10
    assert delta("loopml_requests_total", model_version="1", status="422") == 1
    assert delta("loopml_records_total", model_version="1") == sum(1 + i % 5 for i in range(10))
    labels = [label for a in answers for label in a.json()["predictions"]]
    for label in set(labels):
        assert delta("loopml_predictions_total", model_version="1", label=label) == labels.count(
            label
        )
    assert delta("loopml_request_latency_seconds_count", model_version="1", status="200") == 10
    assert delta("loopml_request_latency_seconds_count", model_version="1", status="422") == 1
    assert delta("loopml_errors_total", model_version="1", kind="refused") == 1
    assert delta("loopml_errors_total", model_version="1", kind="failed") == 0
    info = [v for (name, labels), v in after.items() if name == "loopml_model_info"]
    assert info == [1.0]
    assert after[("loopml_log_dropped_rows", ())] == 0
    assert after[("loopml_in_flight_requests", ())] == 0
    # The log's gauges follow its writer, not the requests: once idle, all is written.
    served = sum(1 + i % 5 for i in range(10))
    key = ("loopml_log_written_rows", ())
    deadline = time.monotonic() + 10
    while (idle := _samples(server))[key] - before.get(key, 0) < served:
        assert time.monotonic() < deadline, idle
        time.sleep(0.2)
    assert idle[key] - before.get(key, 0) == served
    assert idle[("loopml_log_buffered_rows", ())] == 0


def test_metrics_count_records_without_classes_and_each_kind_of_error() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    metrics = ServeMetrics()
    metrics.observe(version=2, status=200, seconds=0.001, records=3)  # no classes: no labels
    for status in (413, 422, 500, 504, 401):
        metrics.observe(version=2, status=status, seconds=0.002)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
    }
    version = ("model_version", "2")
    assert samples[("loopml_records_total", (version,))] == 3
    assert samples[("loopml_errors_total", (("kind", "refused"), version))] == 2
    assert samples[("loopml_errors_total", (("kind", "failed"), version))] == 2
    for status in ("200", "401", "500"):
        key = ("loopml_request_latency_seconds_count", (version, ("status", status)))
        assert samples[key] == 1


def test_feedback_by_request_id_over_http_and_from_a_file(
    server: Server, trained_demo: object, tmp_path: Path
) -> None:
    records = demo_records(trained_demo.root, 3, _names(server))
    first = server.post(records[:1]).json()["request_id"]
    second = server.post(records).json()["request_id"]
    one = httpx.post(f"{server.url}/feedback", json={"request_id": first, "label": "yes"})
    assert one.status_code == 200 and one.json()["accepted"] == 1
    many = {"feedback": [{"request_id": second, "record": r, "label": "no"} for r in range(3)]}
    assert httpx.post(f"{server.url}/feedback", json=many).json()["accepted"] == 3
    unknown = httpx.post(f"{server.url}/feedback", json={"request_id": "made-up", "label": "no"})
    assert unknown.status_code == 422 and unknown.json()["unknown"] == ["made-up"]
    bad = httpx.post(f"{server.url}/feedback", json={"records": []})
    assert bad.status_code == 422 and "request_id" in bad.json()["detail"]
    assert httpx.post(f"{server.url}/feedback", content=b"[1]").status_code == 400
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": [first, "also-made-up"], "label": ["no", "yes"]}).to_csv(
        labels, index=False
    )
    proc = loopml("feedback", str(labels), cwd=trained_demo.root)
    assert proc.returncode == 1 and "also-made-up" in proc.stdout and "Stored 1 of 2" in proc.stdout
    missing = loopml("feedback", str(tmp_path / "nothing.csv"), cwd=trained_demo.root)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
