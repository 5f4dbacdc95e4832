"""Real-time serving over HTTP: `loopml serve` vs `mlflow models serve` vs BentoML, one model.

The serving goals: at concurrency 1, loopml's requests/s at least 4x MLflow's and 2x
BentoML's with a p50 latency of at most 1 ms; at concurrency 32 (2 workers each) and for
1,000-row requests, at least 2x BentoML's. This script serves THE SAME fitted model with
the three servers, one after the other on this machine, loads each with the same load
generator (wrk) and the same rows, and prints the figures side by side with the ratios.

1. The model. Unless ``--project`` names a trained project, a project is made in a
   temporary folder from the bundled demo (``loopml init --demo``), its ``train:``
   section set to one custom family ``lgbm200`` (``lightgbm.LGBMClassifier``, native
   categorical codes, ``num_iterations: 200``; no ensemble, no calibration), then
   ``loopml profile``, ``loopml split``, ``loopml train --time-budget 60 --jobs 1``: model
   version 1, a scikit-learn pipeline (loopml's preprocessing + a LightGBM booster of
   exactly 200 trees, which the script checks). ``num_iterations`` and not ``n_estimators``: loopml
   stops a native booster early during the search and refits it with the rounds its
   folds kept x 1.1 (``n_estimators`` is overwritten; a non-native pipeline would get
   200 x 1.1 = 220), while LightGBM's own ``num_iterations`` parameter takes precedence
   over ``n_estimators`` in ``fit``, so the refitted model has 200 trees. ``--jobs 1``
   (``--jobs``): LightGBM on 2 OpenMP threads slows down many times over when other work
   shares the 2 cores (next to a test run one fold took 18 s and the search ran out of
   budget; on one thread all 5 folds take under 1 s), and the booster keeps the training threads as its ``n_jobs`` for
   prediction, where one thread per worker is also what a server on 2 cores wants; all
   three servers serve the model as stored.
2. The servers, each given the model's fitted pipeline (``TrainedModel.members[0]``):

   - loopml: ``loopml serve VERSION --port P [--workers 2]`` from the project folder;
     ``POST /predict`` ``{"records": [...]}``, readiness ``GET /health``;
   - MLflow (``benchmarks/_venv_mlflow``): the pipeline saved with
     ``mlflow.sklearn.save_model(..., pyfunc_predict_fn="predict_proba")`` and an
     inferred signature (``_peer_mlflow.py``), served with ``mlflow models serve -m DIR
     --env-manager local --port P --workers N``; ``POST /invocations``
     ``{"dataframe_records": [...]}``, readiness ``GET /ping``;
   - BentoML (``benchmarks/_venv_bentoml``): ``_peer_bentoml.py``, a ``@bentoml.service``
     (``workers=N``) whose ``@bentoml.api predict(records: list[dict])`` returns
     ``pipeline.predict_proba(pd.DataFrame.from_records(records))``, served with
     ``bentoml serve _peer_bentoml:Service --port P --arg workers=N``; ``POST /predict``
     ``{"records": [...]}``, readiness ``GET /readyz``.

   The peers' virtualenvs are created on first use (``python -m venv`` + ``pip install``
   of the pinned peer, the lightgbm / scikit-learn / pandas / numpy versions of this
   environment, and loopml itself from this checkout in editable mode, because the
   pipeline holds loopml's transformer classes; updated when those versions or loopml's
   requirements change). loopml's requirements bring uvloop and httptools, which the
   peers' uvicorn then uses too, as loopml's server does.
3. The load: ``wrk --latency`` with ``_post.lua``, which POSTs one fixed JSON body
   (``Content-Type: application/json``). The rows are real rows: the training +
   validation rows of the model's split (after loopml's cleaning, in dataset order; the
   model's input columns). The one-row body is the first of them with no missing value,
   the 1,000-row body the first 1,000 as they are: null only in columns that had missing
   values in training (loopml's server rejects a null where training never had one).
   Cases:

   1. concurrency 1 (``-t1 -c1``), 1 row per request, 1 worker: p50, p99, requests/s;
   2. concurrency 32 (``-t2 -c32``), 1 row per request, 2 workers: requests/s, p50, p99;
   3. 1,000 rows per request, concurrency 1 (``--batch-connections``), 1 worker: rows/s.

   For each system and worker count one server is started (its own process group,
   logs in ``benchmarks/_data/serve_http/``) and, per case, the script waits for its
   readiness URL, sends one real request and checks that the answer is 200 and that its
   probabilities match the model's ``predict_proba`` on those rows within 1e-6 (a
   benchmark of a server that answers errors is worthless), runs wrk for ``--warmup``
   seconds (discarded), then for ``--seconds``. Latency percentiles, requests/s and the
   count of non-2xx/3xx answers come from ``_post.lua``'s ``done`` (wrk's own figures,
   in microseconds, not rounded as in its text output); a run with non-2xx answers or
   socket errors is flagged. wrk runs on the same 2 cores as the server it loads.

``--repeat N`` measures each case N times and shows the run with the median requests/s
(all runs' figures are in the JSON): on a 2-core machine, run-to-run noise is large.
``--peer-threads N`` sets the LightGBM booster's ``n_jobs`` (prediction threads) in the
peers; by default they serve the pipeline exactly as loopml stored it (``n_jobs`` = the
``train --jobs``). On 2 cores a one-row ``predict_proba`` with ``n_jobs=2`` took about
twice as long as with 1: with a ``--project`` trained on 2 jobs, compare both.

Results: a table case x system (p50 / p99 ms, requests/s, rows/s, non-2xx), the ratios
against the goals, and everything as JSON in ``benchmarks/_data/serve_http.json``
(git-ignored). Every server started is stopped (its process group and descendants),
also on errors and Ctrl-C.

Usage::

    python benchmarks/serve_http.py                              # all systems and cases, 10 s each
    python benchmarks/serve_http.py --systems mlflow,bentoml     # the peers only
    python benchmarks/serve_http.py --project /tmp/loopml-serve-x --cases 1,3 --seconds 20
    python benchmarks/serve_http.py --repeat 3 --peer-threads 1 --out /tmp/serve.json

When the installed loopml has no ``serve`` command, loopml is skipped with a message and
the peers still run. Exit status: 0 when every requested measurement ran (and loopml,
when measured, met the goals), 1 when loopml missed a goal, 2 when something failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import find_loopml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
LOGS = DATA / "serve_http"
LUA = HERE / "_post.lua"
TOLERANCE = 1e-6
TREES = 200

# The custom family of the benchmark model: see the module docstring for num_iterations.
TRAIN_SECTION = {
    "families": ["lgbm200"],
    "max_trials": 1,
    "ensemble": False,
    "calibrate": False,
    "custom_families": [
        {
            "name": "lgbm200",
            "estimator": "lightgbm.LGBMClassifier",
            "tasks": ["binary"],
            "encoding": "native",
            "params": {"num_iterations": TREES, "verbosity": -1},
        }
    ],
}

# The newest releases this benchmark was checked with (mlflow 3.18.0 and bentoml 1.4.40
# needed dependencies the package index in use did not have yet); edit to compare others.
MLFLOW = "mlflow==3.17.2"
BENTOML = "bentoml==1.4.39"
SAME_AS_HERE = ("lightgbm", "scikit-learn", "pandas", "numpy")  # pinned to this env's


@dataclass(frozen=True)
class Venv:
    """A benchmark-only virtualenv: where, the peer package, what to import to check it."""

    name: str
    path: Path
    package: str
    probe: str
    versions_of: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def bin(self) -> Path:
        return self.path / "bin"


VENVS = {
    "mlflow": Venv(
        "mlflow",
        HERE / "_venv_mlflow",
        MLFLOW,
        "mlflow.sklearn, loopml",
        ("mlflow", "uvicorn", "uvloop", "httptools", "fastapi", *SAME_AS_HERE, "skops"),
    ),
    "bentoml": Venv(
        "bentoml",
        HERE / "_venv_bentoml",
        BENTOML,
        "bentoml, loopml",
        ("bentoml", "uvicorn", "uvloop", "httptools", "starlette", *SAME_AS_HERE, "skops"),
    ),
}


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    threads: int
    connections: int
    workers: int
    rows: int


SYSTEMS = ("loopml", "mlflow", "bentoml")


# --------------------------------------------------------------------------------------
# virtualenvs, project, model
# --------------------------------------------------------------------------------------


_VERSIONS = """
import importlib.metadata as m, json, sys
out = {}
for p in sys.argv[1:]:
    try:
        out[p] = m.version(p)
    except m.PackageNotFoundError:
        out[p] = "not installed"
try:
    out["loopml requires"] = sorted(m.requires("loopml") or [])
except m.PackageNotFoundError:
    out["loopml requires"] = None
print(json.dumps(out))
"""


def versions_in(python: Path | str, names: tuple[str, ...]) -> dict[str, Any]:
    """Package versions in the environment of `python`, and loopml's requirements there."""
    proc = subprocess.run([str(python), "-c", _VERSIONS, *names], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": proc.stderr.strip()[-300:]}


def ensure_venv(venv: Venv) -> dict[str, Any]:
    """Create or update the peer's venv when needed; its package versions.

    Updated when the peer, a package pinned to this environment's version, or loopml's
    own requirements (pyproject) differ from what is installed there: loopml is installed
    with its dependencies, so the peers get the same HTTP stack extras (uvloop,
    httptools) that loopml's server has, which uvicorn then uses.
    """
    pins = [f"{name}=={metadata.version(name)}" for name in SAME_AS_HERE]
    install = [venv.package, *pins, "pyarrow", "-e", str(ROOT)]
    wanted: dict[str, Any] = dict(p.split("==") for p in (venv.package, *pins))
    wanted["loopml requires"] = sorted(metadata.requires("loopml") or [])
    if venv.python.exists():
        probe = subprocess.run(
            [str(venv.python), "-c", f"import {venv.probe}"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            have = versions_in(venv.python, (venv.package.split("==")[0], *SAME_AS_HERE))
            if have == wanted:
                return versions_in(venv.python, venv.versions_of)
            changed = sorted(k for k in wanted if have.get(k) != wanted[k])
            print(f"{venv.name}: {venv.path.name} differs in {changed}; updating", flush=True)
    t0 = time.perf_counter()
    print(
        f"{venv.name}: filling the benchmark-only virtualenv {venv.path} "
        f"(pip install {' '.join(install)}) ...",
        flush=True,
    )
    if not venv.python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True)
    subprocess.run(
        [str(venv.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *install],
        check=True,
    )
    print(f"{venv.name}: installed in {time.perf_counter() - t0:.0f} s", flush=True)
    return versions_in(venv.python, venv.versions_of)


def make_project(loopml: list[str], budget: float, jobs: int) -> Path:
    """A fresh demo project with the 200-tree LightGBM model as version 1."""
    import yaml

    project = Path(tempfile.mkdtemp(prefix="loopml-serve-"))
    print(f"making the benchmark model in {project} (reuse it with --project) ...", flush=True)
    t0 = time.perf_counter()

    def step(*argv: str) -> None:
        proc = subprocess.run([*loopml, *argv], cwd=project, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"loopml {' '.join(argv)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")

    step("init", "--demo")
    spec_path = project / "loopml.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["train"] = TRAIN_SECTION
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    step("profile")
    step("split")
    step("train", "--time-budget", f"{budget:g}", "--jobs", str(jobs))
    print(f"  trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return project


@dataclass
class Bench:
    """The model and what each request sends, with the probabilities it must answer."""

    project: Path
    version: int
    model: Any
    columns: list[str]
    records: dict[int, list[dict[str, Any]]]  # rows per request -> the records sent
    expected_model: dict[int, Any]  # TrainedModel.predict_proba (loopml serves the model)
    expected_member: dict[int, Any]  # members[0].predict_proba (what the peers serve)
    same_computation: bool
    trees: int
    iterations: int


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):  # date, datetime, Timestamp
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def as_records(frame: Any) -> list[dict[str, Any]]:
    """JSON-ready records: missing values as null, dates as ISO strings."""
    cells = frame.astype(object).where(frame.notna(), None)
    return json.loads(json.dumps(cells.to_dict("records"), default=_jsonable))


def prepare(project_dir: Path, ref: str, batch_rows: int) -> Bench:
    import numpy as np
    import pandas as pd

    import loopml

    project = loopml.Project(project_dir / "loopml.yaml")
    info = project.model(ref)
    version = int(info["version"])
    model = project.load_model(str(version))
    if model.classes is None:
        sys.exit("the model is a regression model; this benchmark compares probabilities")
    member = model.members[0]
    booster = member.steps[-1][1]
    trees, iterations = booster.booster_.num_trees(), booster.booster_.current_iteration()
    same = len(model.members) == 1 and model.calibration is None

    # Real rows: the split's training + validation rows (after loopml's cleaning, in
    # dataset order), so that a value is missing only where training had missing values.
    split = project.open_split(info.get("split_id") or "latest")
    features = split.train_valid()[list(model.columns)].reset_index(drop=True)
    complete = features.dropna()
    if complete.empty:
        sys.exit("no training row has every input column; cannot make the one-row body")
    if len(features) < batch_rows:
        reps = -(-batch_rows // len(features))
        features = pd.concat([features] * reps, ignore_index=True)

    records = {1: as_records(complete.head(1)), batch_rows: as_records(features.head(batch_rows))}
    expected_model, expected_member = {}, {}
    for n, recs in records.items():
        frame = pd.DataFrame.from_records(recs)[model.columns]
        expected_model[n] = np.asarray(model.predict_proba(frame), dtype=float)
        expected_member[n] = np.asarray(member.predict_proba(frame), dtype=float)
    return Bench(
        project_dir,
        version,
        model,
        list(model.columns),
        records,
        expected_model,
        expected_member,
        same,
        trees,
        iterations,
    )


# --------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    """One server process group (and every descendant seen, e.g. BentoML's workers,
    which circus starts in sessions of their own)."""

    running: ClassVar[list[Server]] = []

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str], log: Path):
        self.name = name
        self.argv = argv
        self.log = log
        self.handle = log.open("w")
        self.handle.write(f"$ {' '.join(argv)}\n")
        self.handle.flush()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.seen: set[int] = set()
        Server.running.append(self)

    def note_children(self) -> None:
        self.seen |= descendants(self.proc.pid)

    def tail(self, chars: int = 3000) -> str:
        self.handle.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self not in Server.running:
            return
        self.note_children()
        groups = {self.proc.pid}
        for pid in self.seen:
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:
                    groups.add(pid)
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=15)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in self.seen):
            time.sleep(0.1)
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        for pid in self.seen:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.handle.close()
        Server.running.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for server in list(cls.running):
            server.stop()


def http(url: str, body: bytes | None = None, timeout: float = 60) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Target:
    """How to start, wait for, call and read one system."""

    name: str
    ready_path: str
    predict_path: str
    body_key: str
    argv: Any  # (workers, port) -> argv
    cwd: Path
    env: dict[str, str]

    def body(self, records: list[dict[str, Any]]) -> bytes:
        return json.dumps({self.body_key: records}, separators=(",", ":")).encode()


def read_probabilities(name: str, payload: Any, classes: list[Any]) -> Any:
    """The (n, k) probabilities in an answer: loopml's in `classes` order, a peer's in the
    pipeline's order."""
    import numpy as np

    if name == "loopml":
        rows = payload["probabilities"]
        if rows and isinstance(rows[0], dict):
            return np.asarray([[row[str(c)] for c in classes] for row in rows], dtype=float)
        return np.asarray(rows, dtype=float)
    if name == "mlflow":
        return np.asarray(payload["predictions"], dtype=float)
    return np.asarray(payload, dtype=float)


def base_env(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    if extra_path is not None:  # mlflow starts `uvicorn` by name
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "1"
    return env


def start(target: Target, workers: int, timeout: float) -> tuple[Server, str, float]:
    """A ready server: (server, base URL, seconds to readiness)."""
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    server = Server(
        target.name,
        target.argv(workers, port),
        target.cwd,
        target.env,
        LOGS / f"{target.name}_w{workers}.log",
    )
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{target.name} exited with status {server.proc.returncode} before it was "
                f"ready; log {server.log}:\n{server.tail()}"
            )
        with contextlib.suppress(OSError):
            status, _ = http(base + target.ready_path, timeout=2)
            if status == 200:
                break
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(
                f"{target.name} not ready after {timeout:.0f} s; log {server.log}:\n{server.tail()}"
            )
        time.sleep(0.2)
    ready = time.perf_counter() - t0
    time.sleep(0.5)  # let every worker come up before the descendants are noted
    server.note_children()
    return server, base, ready


def check_answer(target: Target, url: str, bench: Bench, rows: int) -> float:
    """Send one real request; the largest |difference| to the expected probabilities."""
    import numpy as np

    status, raw = http(url, target.body(bench.records[rows]))
    if status != 200:
        raise RuntimeError(f"{target.name} answered {status}: {raw[:500]!r}")
    try:
        payload = json.loads(raw)
        got = read_probabilities(target.name, payload, bench.model.classes)
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"{target.name}: cannot read the answer ({exc}): {raw[:500]!r}") from exc
    expected = (
        bench.expected_model[rows] if target.name == "loopml" else bench.expected_member[rows]
    )
    if target.name == "loopml" and payload.get("model_version") not in (None, bench.version):
        raise RuntimeError(
            f"loopml served model version {payload['model_version']}, not {bench.version}"
        )
    if got.shape != expected.shape:
        raise RuntimeError(
            f"{target.name}: probabilities of shape {got.shape}, expected {expected.shape}: "
            f"{raw[:300]!r}"
        )
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= TOLERANCE:
        raise RuntimeError(
            f"{target.name}: probabilities differ from the model's predict_proba by {diff:.3g} "
            f"(> {TOLERANCE}); first row got {got[0].tolist()}, expected {expected[0].tolist()}"
        )
    return diff


# --------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------


def wrk(case: Case, url: str, body_file: Path, seconds: float) -> dict[str, Any]:
    argv = [
        "wrk",
        f"-t{case.threads}",
        f"-c{case.connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "60s",
        "-s",
        str(LUA),
        url,
        "--",
        str(body_file),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = figures["duration_us"] / 1e6
    return {
        "argv": " ".join(argv),
        "requests": figures["requests"],
        "seconds": seconds_run,
        "rps": figures["requests"] / seconds_run,
        "rows_per_s": figures["requests"] * case.rows / seconds_run,
        "p50_ms": figures["p50_us"] / 1000,
        "p90_ms": figures["p90_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "mean_ms": figures["mean_us"] / 1000,
        "max_ms": figures["max_us"] / 1000,
        "non2xx": figures["non2xx"],
        "socket_errors": {k: figures[k] for k in ("connect", "read", "write", "timeout")},
        "text": proc.stdout,
    }


def measure(
    target: Target,
    cases: list[Case],
    bench: Bench,
    bodies: Path,
    args: argparse.Namespace,
) -> dict[str, dict[str, Any]]:
    """Every case of `target`, one server per worker count; results by case key."""
    results: dict[str, dict[str, Any]] = {}
    by_workers: dict[int, list[Case]] = {}
    for case in cases:
        by_workers.setdefault(case.workers, []).append(case)
    for workers, group in sorted(by_workers.items()):
        print(f"  {target.name}: starting with {workers} worker(s) ...", flush=True)
        server = None
        try:
            server, base, ready_s = start(target, workers, args.start_timeout)
            print(f"    ready in {ready_s:.1f} s", flush=True)
            for case in group:
                url = base + target.predict_path
                result: dict[str, Any] = {"workers": workers, "ready_s": ready_s}
                try:
                    status, _ = http(base + target.ready_path, timeout=10)
                    if status != 200:
                        raise RuntimeError(f"{target.name}: {target.ready_path} answered {status}")
                    result["max_abs_diff"] = check_answer(target, url, bench, case.rows)
                    body_file = bodies / f"{target.name}_{case.rows}.json"
                    body_file.write_bytes(target.body(bench.records[case.rows]))
                    result["body_bytes"] = body_file.stat().st_size
                    if args.warmup > 0:
                        wrk(case, url, body_file, args.warmup)
                    result["load_1m_before"] = os.getloadavg()[0]
                    runs = [wrk(case, url, body_file, args.seconds) for _ in range(args.repeat)]
                    ranked = sorted(runs, key=lambda run: run["rps"])
                    result |= ranked[(len(ranked) - 1) // 2]  # the median run by requests/s
                    if len(runs) > 1:
                        result["all_rps"] = [run["rps"] for run in runs]
                        result["all_p50_ms"] = [run["p50_ms"] for run in runs]
                    errors = sum(result["socket_errors"].values())
                    flag = "" if result["non2xx"] == 0 and errors == 0 else "  <-- ERRORS"
                    print(
                        f"    case {case.key} ({case.label}): p50 {result['p50_ms']:.2f} ms, "
                        f"p99 {result['p99_ms']:.2f} ms, {result['rps']:,.0f} req/s, "
                        f"{result['rows_per_s']:,.0f} rows/s, non-2xx {result['non2xx']}, "
                        f"socket errors {errors}{flag}",
                        flush=True,
                    )
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                    result["error"] = str(exc)
                    print(f"    case {case.key}: FAILED: {exc}", flush=True)
                results[case.key] = result
        except RuntimeError as exc:
            print(f"    FAILED: {exc}", flush=True)
            for case in group:
                results[case.key] = {"workers": workers, "error": str(exc)}
        finally:
            if server is not None:
                server.stop()
    return results


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def ok(result: dict[str, Any] | None) -> bool:
    return bool(result) and "error" not in result and result.get("non2xx") == 0


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float | None:
    if not (ok(a) and ok(b)) or not b[key]:
        return None
    return a[key] / b[key]


def report(cases: list[Case], results: dict[str, dict[str, dict[str, Any]]]) -> list[dict]:
    print()
    header = (
        f"{'case':<34} {'system':<8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>9} "
        f"{'rows/s':>11} {'non-2xx':>7}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        for system in results:
            r = results[system].get(case.key)
            if r is None:
                continue
            name = f"{case.key}. {case.label}"
            if "error" in r:
                print(f"{name:<34} {system:<8} FAILED: {r['error'].splitlines()[0][:60]}")
                continue
            errors = sum(r["socket_errors"].values())
            print(
                f"{name:<34} {system:<8} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['rps']:>9,.0f} {r['rows_per_s']:>11,.0f} {r['non2xx']:>7}"
                + (f"  socket errors {errors}" if errors else "")
            )
    lo, ml, bt = (results.get(s, {}) for s in SYSTEMS)
    rows_key = next((c.key for c in cases if c.key == "3"), None)
    goals = [
        ("c=1 req/s: loopml / MLflow", ratio(lo.get("1"), ml.get("1"), "rps"), ">=", 4.0),
        ("c=1 req/s: loopml / BentoML", ratio(lo.get("1"), bt.get("1"), "rps"), ">=", 2.0),
        (
            "c=1 p50 latency of loopml (ms)",
            lo["1"]["p50_ms"] if ok(lo.get("1")) else None,
            "<=",
            1.0,
        ),
        ("c=32 req/s: loopml / BentoML", ratio(lo.get("2"), bt.get("2"), "rps"), ">=", 2.0),
        (
            "1000-row rows/s: loopml / BentoML",
            ratio(lo.get(rows_key), bt.get(rows_key), "rows_per_s") if rows_key else None,
            ">=",
            2.0,
        ),
    ]
    print()
    summary = []
    for label, value, op, bound in goals:
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        shown = "n/a" if value is None else f"{value:.2f}"
        verdict = "" if met is None else ("met" if met else "MISSED")
        print(f"{label:<36} {shown:>8}   goal {op} {bound:g}   {verdict}")
        summary.append({"what": label, "value": value, "goal": f"{op} {bound:g}", "met": met})
    # the peers against each other, for context
    for key, label in (("1", "c=1"), ("2", "c=32"), (rows_key, "1000-row")):
        value = ratio(bt.get(key), ml.get(key), "rows_per_s") if key else None
        if value is not None:
            print(f"{label + ' throughput: BentoML / MLflow':<36} {value:>8.2f}")
    return summary


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "wrk": wrk_version.strip().splitlines()[0] if wrk_version.strip() else "?",
        "load_1m_5m_15m": os.getloadavg(),
    }


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="loopml,mlflow,bentoml")
    parser.add_argument("--cases", default="1,2,3", help="1: c=1; 2: c=32, 2 workers; 3: 1000 rows")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk -d of each measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="wrk run before, discarded")
    parser.add_argument("--project", type=Path, default=None, help="a trained project to reuse")
    parser.add_argument("--model", default="latest", help="model version/alias (--project)")
    parser.add_argument("--time-budget", type=float, default=60.0, help="of the model's train")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="loopml train --jobs of the model made here (why 1: the docstring)",
    )
    parser.add_argument("--batch-rows", type=int, default=1000, help="rows per request, case 3")
    parser.add_argument("--batch-connections", type=int, default=1, help="wrk -c of case 3")
    parser.add_argument("--workers", type=int, default=2, help="workers of each server, case 2")
    parser.add_argument(
        "--peer-threads",
        type=int,
        default=0,
        help="n_jobs of the booster in the peers (0: as loopml stored the model)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="measurements per case; the median one is shown"
    )
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--loopml", default=None, help="the loopml command (default: this env's)")
    parser.add_argument("--out", type=Path, default=DATA / "serve_http.json")
    args = parser.parse_args()

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    all_cases = {
        "1": Case("1", "c=1, 1 row, 1 worker", 1, 1, 1, 1),
        "2": Case("2", f"c=32, 1 row, {args.workers} workers", 2, 32, args.workers, 1),
        "3": Case(
            "3",
            f"c={args.batch_connections}, {args.batch_rows} rows, 1 worker",
            1,
            args.batch_connections,
            1,
            args.batch_rows,
        ),
    }
    keys = [k.strip() for k in args.cases.split(",") if k.strip()]
    if not keys or set(keys) - set(all_cases):
        parser.error(f"--cases takes some of {', '.join(all_cases)}")
    cases = [all_cases[k] for k in keys]
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)

    loopml = find_loopml(args.loopml)
    try:
        return run(args, systems, cases, loopml)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        Server.stop_all()


def run(args: argparse.Namespace, systems: list[str], cases: list[Case], loopml: list[str]) -> int:
    versions: dict[str, dict[str, Any]] = {}
    for name in systems:
        if name in VENVS:
            versions[name] = ensure_venv(VENVS[name])

    trained_here = args.project is None
    project = (
        make_project(loopml, args.time_budget, args.jobs)
        if trained_here
        else args.project.resolve()
    )
    bench = prepare(project, args.model, args.batch_rows)
    print(
        f"model: {project} version {bench.version}, {bench.trees} trees "
        f"({bench.iterations} boosting rounds), {len(bench.columns)} input columns, "
        f"classes {bench.model.classes}"
    )
    if bench.iterations != TREES:
        message = f"the model has {bench.iterations} boosting rounds, not {TREES}"
        if trained_here:
            sys.exit(message)
        print(f"warning: {message}", file=sys.stderr)
    if not bench.same_computation:
        print(
            "warning: the model is an ensemble or calibrated: the peers serve its first "
            "member's raw probabilities, loopml the model's; the figures are not like for like",
            file=sys.stderr,
        )

    import loopml as loopml_module

    versions["loopml"] = versions_in(
        sys.executable, ("loopml", "uvicorn", "uvloop", "httptools", "fastapi", *SAME_AS_HERE)
    )
    versions["loopml"].pop("loopml requires", None)
    versions["loopml"]["loopml"] = getattr(loopml_module, "__version__", "?")
    for name, found in versions.items():
        shown = ", ".join(f"{k} {v}" for k, v in found.items() if k != "loopml requires")
        print(f"{name} environment: {shown}")
    targets: dict[str, Target] = {}
    skipped: dict[str, str] = {}
    if "loopml" in systems:
        probe = subprocess.run(
            [*loopml, "serve", "--help"], cwd=project, capture_output=True, text=True
        )
        if probe.returncode != 0:
            skipped["loopml"] = "this loopml has no `serve` command"
            print(f"loopml skipped: {skipped['loopml']}", flush=True)
        else:
            targets["loopml"] = Target(
                "loopml",
                "/health",
                "/predict",
                "records",
                lambda w, p: [
                    *loopml,
                    "serve",
                    str(bench.version),
                    "--port",
                    str(p),
                    *(["--workers", str(w)] if w > 1 else []),
                ],
                project,
                base_env(),
            )
    LOGS.mkdir(parents=True, exist_ok=True)
    records_file = LOGS / "records.json"
    records_file.write_text(json.dumps(bench.records[args.batch_rows]))
    if "mlflow" in systems:
        venv = VENVS["mlflow"]
        model_dir = LOGS / "mlflow_model"
        shutil.rmtree(model_dir, ignore_errors=True)
        proc = subprocess.run(
            [
                str(venv.python),
                "-W",
                "ignore",
                str(HERE / "_peer_mlflow.py"),
                str(project / "loopml.yaml"),
                str(bench.version),
                str(model_dir),
                str(records_file),
                str(args.peer_threads),
            ],
            capture_output=True,
            text=True,
            env=base_env(),
        )
        if proc.returncode != 0:
            skipped["mlflow"] = f"saving the MLflow model failed: {proc.stderr[-2000:]}"
            print(skipped["mlflow"], flush=True)
        else:
            targets["mlflow"] = Target(
                "mlflow",
                "/ping",
                "/invocations",
                "dataframe_records",
                lambda w, p, v=venv, d=model_dir: [
                    str(v.bin / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    str(d),
                    "--env-manager",
                    "local",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(p),
                    "--workers",
                    str(w),
                ],
                project,
                base_env(venv.bin),
            )
    if "bentoml" in systems:
        venv = VENVS["bentoml"]
        targets["bentoml"] = Target(
            "bentoml",
            "/readyz",
            "/predict",
            "records",
            lambda w, p, v=venv: [
                str(v.bin / "bentoml"),
                "serve",
                "_peer_bentoml:Service",
                "--working-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(p),
                "--arg",
                f"project={project / 'loopml.yaml'}",
                "--arg",
                f"version={bench.version}",
                "--arg",
                f"workers={w}",
                "--arg",
                f"n_jobs={args.peer_threads}",
            ],
            HERE,
            base_env(venv.bin),
        )

    info = machine()
    print(
        f"machine: {info['cpus']} CPUs ({info['cpu']}), load {info['load_1m_5m_15m'][0]:.2f} "
        f"(1 min); {info['wrk']}; {args.seconds:g} s per measurement after {args.warmup:g} s "
        "of warm-up",
        flush=True,
    )
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="serve-http-") as tmp:
        for name in SYSTEMS:
            if name in targets:
                results[name] = measure(targets[name], cases, bench, Path(tmp), args)
    summary = report(cases, results)
    info["load_after"] = os.getloadavg()

    failed = bool(set(systems) - set(skipped) - set(results)) or any(
        name != "loopml" for name in skipped
    )
    failed = failed or any(
        not ok(r) or sum(r["socket_errors"].values())
        for rs in results.values()
        for r in rs.values()
    )
    missed = any(item["met"] is False for item in summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": info,
                "versions": versions,
                "model": {
                    "project": str(project),
                    "version": bench.version,
                    "trees": bench.trees,
                    "boosting_rounds": bench.iterations,
                    "columns": bench.columns,
                    "classes": [str(c) for c in bench.model.classes],
                    "same_computation": bench.same_computation,
                    "train_section": TRAIN_SECTION if trained_here else None,
                },
                "settings": {
                    "seconds": args.seconds,
                    "warmup": args.warmup,
                    "repeat": args.repeat,
                    "peer_threads": args.peer_threads or "as stored",
                    "cases": {c.key: c.__dict__ for c in cases},
                },
                "skipped": skipped,
                "results": results,
                "goals": summary,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nresults: {args.out}; server logs: {LOGS}")
    if failed:
        return 2
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
