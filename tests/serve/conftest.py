"""The trained demo project of tests/runs, and a real `loopml serve` on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from tests.runs.conftest import demo_copy, trained_demo

__all__ = [
    "Server",
    "bundle_score",
    "bundle_server",
    "clean_env",
    "demo_copy",
    "demo_records",
    "serving",
    "trained_demo",
]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]

    def post(self, records: object, **kwargs: object) -> httpx.Response:
        return httpx.post(f"{self.url}/predict", json={"records": records}, timeout=30, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(
    root: Path, model: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`loopml serve MODEL --port P ARGS` in `root`, ready; stopped with SIGTERM afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "serve", model, "--port", str(port), *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | (env or {}),
    )
    server = Server(f"http://127.0.0.1:{port}", proc)
    try:
        _wait_ready(server)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH: a bundle must not lean on the project's code."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def bundle_score(folder: Path, source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`python score.py SOURCE OUT` of an exported bundle, run from OUT's folder."""
    return subprocess.run(
        [sys.executable, str(folder / "score.py"), str(source), str(out)],
        cwd=out.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def bundle_server(folder: Path) -> Iterator[str]:
    """An exported bundle's `serve.py` on a free port, once `/health` answers: its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(folder / "serve.py"), "--port", str(port)],
        cwd=folder,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_ready(server: Server, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"the server exited: {server.proc.stderr.read()}")
        try:
            if httpx.get(f"{server.url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def demo_records(root: Path, n: int, columns: list[str]) -> list[dict[str, object]]:
    """`n` rows of the demo data with every model input present, as JSON records."""
    frame = pd.read_csv(root / "data" / "flights.csv")[columns].dropna().head(n)
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]
