"""SHAP explanations: loopml vs shap's TreeExplainer on the same 200-tree LightGBM model.

The goals (issue 6): a global explanation of a 200-tree LightGBM on 10,000 rows x 50
columns in under 10 s; a local explanation of one row on the server with a p50 under 5 ms.

1. The model. A table of 10,000 rows x 50 input columns is generated (fixed seed): 40
   numbers (some missing) and 10 categories (5 to 30 values), with a binary target from a
   planted logistic function of a few of them. A project is made from it in a temporary
   folder (or `--project`), with one custom family `lgbm200` (`lightgbm.LGBMClassifier`,
   native categorical codes, `num_iterations: 200`: the refit keeps exactly 200 trees; see
   serve_http.py), no ensemble, no calibration; `loopml profile`, `split`, `train --jobs 1`.
2. Global. `Project.explain("1", data=frame)` on all 10,000 rows (the stage: model load,
   compile, signature check, SHAP values, importance), and the explainer alone
   (`global_explanation`); the peer is `shap.TreeExplainer(booster).shap_values(X)` on the
   same rows, preprocessed (shap cannot read the raw table), once with the preprocessing
   timed and once without. Both compute exact TreeSHAP in C; loopml's values in log-odds
   are checked equal to shap's (max |difference| printed).
3. Local. `loopml serve 1` on a loopback port; `--requests` sequential one-row
   `POST /explain` requests on one keep-alive connection (after 20 warm-up requests): p50
   and p99 client-side latency, and `POST /predict` on the same row for comparison. The
   peer, in process: `TreeExplainer.shap_values` on one preprocessed row, next to loopml's
   `Explainer.explain` on one row (Columns, as the server has them).

Usage::

    python benchmarks/explain.py
    python benchmarks/explain.py --project /tmp/loopml-explain-x --requests 500

Exit status 0 when both goals are met, 1 when one is missed, 2 on failure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import find_loopml

ROWS, NUMBERS, CATEGORIES, TREES = 10_000, 40, 10, 200
GLOBAL_GOAL_S, LOCAL_GOAL_MS = 10.0, 5.0
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


def make_table(seed: int = 0, rows: int = ROWS) -> pd.DataFrame:
    """`rows` x 50 inputs and a binary target planted in a few of them."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for j in range(NUMBERS):
        column = rng.normal(size=rows)
        column[rng.random(rows) < 0.03] = np.nan
        data[f"x{j:02d}"] = column
    for j in range(CATEGORIES):
        levels = [f"c{j}_{k}" for k in range(5 + 25 * j // (CATEGORIES - 1))]
        data[f"cat{j}"] = rng.choice(levels, rows)
    frame = pd.DataFrame(data)
    logit = (
        1.5 * np.nan_to_num(frame["x00"])
        - np.nan_to_num(frame["x01"])
        + 0.5 * np.nan_to_num(frame["x02"]) ** 2
        + np.where(frame["cat0"].isin(["c0_0", "c0_1"]), 1.0, -0.5)
    )
    frame["label"] = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


def make_project(loopml: list[str]) -> Path:
    import yaml

    root = Path(tempfile.mkdtemp(prefix="loopml-explain-"))
    print(f"making the benchmark model in {root} (reuse it with --project) ...", flush=True)
    make_table().to_csv(root / "data.csv", index=False)
    spec = {
        "name": "explain-bench",
        "data": {"path": "data.csv"},
        "target": "label",
        "task": "binary",
        "train": TRAIN_SECTION,
    }
    (root / "loopml.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for argv in (["profile"], ["split"], ["train", "--time-budget", "300", "--jobs", "1"]):
        proc = subprocess.run([*loopml, *argv], cwd=root, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"loopml {' '.join(argv)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return root


def median_time(run: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), out


def global_case(root: Path, repeat: int) -> dict[str, Any]:
    import shap

    from loopml.api import Project
    from loopml.explain.contributions import Explainer
    from loopml.explain.members import LightGBMValues
    from loopml.explain.summary import global_explanation
    from loopml.models.compiled import compile_model

    project = Project(root)
    frame = pd.read_csv(root / "data.csv").drop(columns="label")
    model = project.load_model("1")
    pipeline = model.members[0]
    trees = pipeline[-1].booster_.num_trees()
    stage_s, result = median_time(lambda: project.explain("1", data=frame), repeat)
    explainer = Explainer(compile_model(model))
    explainer_s, _ = median_time(lambda: global_explanation(explainer, frame), repeat)
    X = pipeline[0].transform(frame)
    tree = shap.TreeExplainer(pipeline[-1])
    peer_s, theirs = median_time(lambda: tree.shap_values(X, check_additivity=False), repeat)
    peer_all_s, _ = median_time(
        lambda: tree.shap_values(pipeline[0].transform(frame), check_additivity=False), repeat
    )
    ours = LightGBMValues(pipeline).explain(frame, None).values[:, :, 0]
    theirs = np.asarray(theirs)
    theirs = theirs[:, :, -1] if theirs.ndim == 3 else theirs
    return {
        "rows": len(frame),
        "columns": frame.shape[1],
        "trees": trees,
        "loopml_stage_s": stage_s,
        "loopml_explainer_s": explainer_s,
        "shap_s": peer_s,
        "shap_with_preprocessing_s": peer_all_s,
        "max_abs_difference_log_odds": float(np.abs(ours - theirs).max()),
        "top_columns": [e["feature"] for e in result.importance[:5]],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def latencies(port: int, path: str, body: bytes, n: int) -> np.ndarray:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    out = []
    for i in range(n + 20):
        started = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {payload[:300]!r}")
        if i >= 20:
            out.append((time.perf_counter() - started) * 1000)
    connection.close()
    return np.asarray(out)


def local_case(root: Path, loopml: list[str], n: int) -> dict[str, Any]:
    import shap

    from loopml.api import Project
    from loopml.explain.contributions import Explainer
    from loopml.features.columns import Columns
    from loopml.models.compiled import compile_model

    frame = pd.read_csv(root / "data.csv").drop(columns="label")
    row = frame.dropna().iloc[:1]
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.iloc[0].items()}
    body = json.dumps({"records": [record]}).encode()
    port = free_port()
    server = subprocess.Popen(
        [*loopml, "serve", "1", "--port", str(port), "--no-log"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.3)
        explain_ms = latencies(port, "/explain", body, n)
        predict_ms = latencies(port, "/predict", body, n)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    model = Project(root).load_model("1")
    explainer = Explainer(compile_model(model, threads=1))
    one = Columns.from_frame(row)
    ours = []
    for _ in range(n):
        started = time.perf_counter()
        explainer.explain(one)
        ours.append((time.perf_counter() - started) * 1000)
    pipeline = model.members[0]
    tree = shap.TreeExplainer(pipeline[-1])
    X = pipeline[0].transform(row)
    theirs = []
    for _ in range(n):
        started = time.perf_counter()
        tree.shap_values(X, check_additivity=False)
        theirs.append((time.perf_counter() - started) * 1000)
    return {
        "requests": n,
        "explain_p50_ms": float(np.percentile(explain_ms, 50)),
        "explain_p99_ms": float(np.percentile(explain_ms, 99)),
        "predict_p50_ms": float(np.percentile(predict_ms, 50)),
        "in_process_loopml_p50_ms": float(np.median(ours)),
        "in_process_shap_p50_ms": float(np.median(theirs)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, help="a project this script made before")
    parser.add_argument("--loopml", help="the loopml command (default: beside this Python)")
    parser.add_argument("--repeat", type=int, default=3, help="global runs (median shown)")
    parser.add_argument("--requests", type=int, default=300, help="local requests timed")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    loopml = find_loopml(args.loopml)
    try:
        root = args.project or make_project(loopml)
        figures = {"global": global_case(root, args.repeat)}
        figures["local"] = local_case(root, loopml, args.requests)
    except Exception as exc:
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    g, loc = figures["global"], figures["local"]
    print(f"\nglobal: {g['rows']:,} rows x {g['columns']} columns, {g['trees']} trees")
    print(f"  loopml explain stage   {g['loopml_stage_s']:7.2f} s  (goal < {GLOBAL_GOAL_S:g} s)")
    print(f"  loopml explainer alone {g['loopml_explainer_s']:7.2f} s")
    print(f"  shap TreeExplainer     {g['shap_s']:7.2f} s  (+ preprocessing: ", end="")
    print(f"{g['shap_with_preprocessing_s']:.2f} s)")
    print(f"  ratio shap / loopml explainer: {g['shap_s'] / g['loopml_explainer_s']:.1f}x")
    print(f"  max |loopml - shap| in log-odds: {g['max_abs_difference_log_odds']:.2e}")
    print(f"  top columns: {', '.join(g['top_columns'])}")
    print(f"local: one row, {loc['requests']} sequential requests")
    print(
        f"  POST /explain p50 {loc['explain_p50_ms']:.2f} ms, p99 {loc['explain_p99_ms']:.2f} ms"
        f"  (goal p50 < {LOCAL_GOAL_MS:g} ms); POST /predict p50 {loc['predict_p50_ms']:.2f} ms"
    )
    print(
        f"  in process: loopml {loc['in_process_loopml_p50_ms']:.3f} ms, shap "
        f"{loc['in_process_shap_p50_ms']:.3f} ms (ratio "
        f"{loc['in_process_shap_p50_ms'] / loc['in_process_loopml_p50_ms']:.1f}x)"
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    met = g["loopml_stage_s"] < GLOBAL_GOAL_S and loc["explain_p50_ms"] < LOCAL_GOAL_MS
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
