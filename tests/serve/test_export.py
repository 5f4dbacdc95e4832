"""`loopml export`: a folder that scores and serves without the project, like `loopml score`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.commands import loopml, run_json
from tests.serve.conftest import bundle_score, bundle_server, clean_env


@pytest.fixture
def bundle(demo_copy: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    summary = run_json("export", "latest", str(folder), cwd=demo_copy)
    assert summary["folder"] == str(folder)
    return folder


def test_bundle_holds_what_it_needs(bundle: Path) -> None:
    names = {p.name for p in bundle.iterdir()}
    assert {"model.skops", "bundle.json", "requirements.txt", "score.py", "serve.py"} <= names
    assert {"Dockerfile", "README.md", "vendor"} <= names
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["sha256"] == hashlib.sha256((bundle / "model.skops").read_bytes()).hexdigest()
    assert manifest["version"] == 1 and manifest["signature"]["columns"]
    pins = (bundle / "requirements.txt").read_text().split()
    assert all("==" in pin for pin in pins) and any(p.startswith("scikit-learn==") for p in pins)


def test_bundle_scores_like_loopml(bundle: Path, demo_copy: Path, tmp_path: Path) -> None:
    source = demo_copy / "data" / "flights.csv"
    expected_file = tmp_path / "expected.csv"
    loopml("score", "latest", str(source), str(expected_file), cwd=demo_copy, check=True)
    out = tmp_path / "bundle_out.csv"
    proc = bundle_score(bundle, source, out)
    assert proc.returncode == 0, proc.stderr
    got, expected = pd.read_csv(out), pd.read_csv(expected_file)
    assert got["row"].tolist() == expected["row"].tolist()
    pd.testing.assert_series_equal(got["proba_yes"], expected["proba_yes"])


def test_tampered_bundle_is_refused(bundle: Path, demo_copy: Path, tmp_path: Path) -> None:
    data = bytearray((bundle / "model.skops").read_bytes())
    data[100] ^= 0xFF
    (bundle / "model.skops").write_bytes(bytes(data))
    proc = bundle_score(bundle, demo_copy / "data" / "flights.csv", tmp_path / "o.csv")
    assert proc.returncode != 0 and "sha256" in proc.stderr
    assert not (tmp_path / "o.csv").exists()


def _post(url: str, body: bytes, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_bundle_server_answers_over_loopback(bundle: Path, demo_copy: Path) -> None:
    with bundle_server(bundle) as url:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            assert json.loads(response.read())["model_version"] == 1
        frame = pd.read_csv(demo_copy / "data" / "flights.csv").head(3)
        records = json.loads(frame.to_json(orient="records"))
        status, body = _post(f"{url}/predict", json.dumps({"records": records}).encode())
        assert status == 200 and len(body["predictions"]) == 3 - len(body["rejected"])
        assert set(body["probabilities"][0]) == {"no", "yes"}
        status, body = _post(f"{url}/predict", b"not json")
        assert status == 400 and "records" in body["error"]
        status, body = _post(f"{url}/predict", json.dumps({"records": [{"x": 1}]}).encode())
        assert status == 422 and "lacks column" in body["error"]


def test_bundle_server_needs_a_token_beyond_loopback(bundle: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(bundle / "serve.py"), "--host", "0.0.0.0", "--port", "1"],
        cwd=bundle,
        env=clean_env() | {"BUNDLE_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "--token" in proc.stderr


def test_export_refuses_a_folder_in_use(demo_copy: Path) -> None:
    (demo_copy / "used").mkdir()
    (demo_copy / "used" / "file.txt").write_text("mine")
    proc = loopml("export", "latest", "used", cwd=demo_copy)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr
    assert (demo_copy / "used" / "file.txt").read_text() == "mine"
