"""`POST /explain` on the real server: additive answers equal to /predict, and /predict's refusals."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.serve.conftest import Server, demo_records, serving

SECRET = "do-not-echo-9f2e"


@pytest.fixture(scope="module")
def server(trained_demo: object) -> Iterator[Server]:
    with serving(trained_demo.root, "latest") as running:
        yield running


def _names(server: Server) -> list[str]:
    signature = httpx.get(f"{server.url}/metadata").json()["signature"]
    return [column["name"] for column in signature["columns"]]


def _explain(server: Server, body: object = None, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{server.url}/explain", timeout=60, **({"json": body} | kwargs))


def test_explanations_add_up_to_the_predicted_probability(
    server: Server, trained_demo: object
) -> None:
    records = demo_records(trained_demo.root, 5, _names(server))
    answer = httpx.post(f"{server.url}/explain?top=3", json={"records": records}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == 1 and answer.headers["x-request-id"] == body["request_id"]
    predicted = server.post(records).json()["probabilities"]
    assert len(body["explanations"]) == len(records)
    for row, proba in zip(body["explanations"], predicted, strict=True):
        assert row["output_name"] == "yes" and len(row["contributions"]) == 3
        total = (
            row["base_value"] + row["rest"] + sum(c["contribution"] for c in row["contributions"])
        )
        assert abs(total - row["output"]) < 1e-9 and abs(row["output"] - proba["yes"]) < 1e-9
        assert {c["feature"] for c in row["contributions"]} <= set(_names(server))
    assert "/explain" in httpx.get(f"{server.url}/openapi.json").json()["paths"]


def test_each_bad_field_is_named_like_predict(server: Server, trained_demo: object) -> None:
    good = demo_records(trained_demo.root, 2, _names(server))
    missing = dict(good[0])
    del missing["distance"]
    bad = [missing, good[1] | {"password": SECRET, "carrier": ["AA"]}]
    explained = _explain(server, {"records": bad})
    predicted = httpx.post(f"{server.url}/predict", json={"records": bad}, timeout=60)
    assert explained.status_code == predicted.status_code == 422
    assert explained.json()["errors"] == predicted.json()["errors"]
    assert explained.json()["detail"] == predicted.json()["detail"]
    assert SECRET not in explained.text
    wrong = _explain(server, {"records": [good[0] | {"distance": SECRET}]}).json()
    assert wrong["errors"] == [
        {"row": 0, "field": "distance", "problem": "expected a number, got text"}
    ]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"", 400, "no body"),
        (b"{not json", 400, "not valid JSON"),
        (b'{"rows": []}', 400, '"records"'),
        (b'{"records": []}', 400, "empty"),
        (b'{"records": [1]}', 422, "object"),
    ],
)
def test_malformed_bodies_are_refused(server: Server, body: bytes, status: int, says: str) -> None:
    response = _explain(server, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status and says in str(response.json())
    assert "Traceback" not in response.text and response.json()["request_id"]


def test_row_limit_and_top_are_checked(server: Server, trained_demo: object) -> None:
    record = demo_records(trained_demo.root, 1, _names(server))[0]
    too_many = _explain(server, {"records": [record] * 101})
    assert too_many.status_code == 413 and "100" in too_many.json()["detail"]
    for top in ("0", "x", "-1"):
        response = httpx.post(f"{server.url}/explain?top={top}", json={"records": [record]})
        assert response.status_code == 400 and "top" in response.json()["detail"]


def test_a_token_guards_explain(trained_demo: object) -> None:
    token = "s3cret-token-explain-0123"
    with serving(trained_demo.root, "latest", env={"LOOPML_TOKEN": token}) as server:
        auth = {"Authorization": f"Bearer {token}"}
        names = [
            c["name"]
            for c in httpx.get(f"{server.url}/metadata", headers=auth).json()["signature"][
                "columns"
            ]
        ]
        records = demo_records(trained_demo.root, 1, names)
        assert _explain(server, {"records": records}).status_code == 401
        assert _explain(server, {"records": records}, headers=auth).status_code == 200
