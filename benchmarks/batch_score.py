"""Batch scoring speed and memory: `loopml score` on a large table vs the bare model.

Issue 4 asks: batch `score` on 1M rows at rows/s within 2x of calling the bare model on a
NumPy array, in constant memory, for a 200-tree LightGBM model. This script:

1. makes the benchmark model unless `--project` names a trained project: by default the
   200-tree LightGBM model of `serve_http.py` (`make_project`: the demo with one custom
   family `lgbm200`, native categorical codes, `num_iterations: 200`, trained with
   `--jobs 1`); with `--trees 0` the demo's default LightGBM model instead
   (`loopml train --families lightgbm --max-trials 1`, early-stopped, ~60 trees);
2. writes the demo's feature rows repeated to `--rows` rows as Parquet
   (`benchmarks/_data/`, git-ignored);
3. measures, `--repeat` rounds, each round in fresh child processes in this order:
   - bare: the model's LightGBM estimator on the already-preprocessed NumPy array of the
     same rows (no I/O, no checks, no preprocessing), on every core: the faster of
     `predict_proba` (the estimator's `n_jobs` set to the cores) and its Booster's
     `predict(num_threads=cores)`;
   - in process: `Project.score` in a process that has already imported loopml and loaded
     the model once, without and then with the prediction log (read, signature check,
     preprocessing, predict, write; the model's reload, sha256 check and compile are
     inside, as in every call);
   - the whole command: `loopml score latest big.parquet out.parquet --no-log`, then with
     the log (the default), with interpreter start-up, imports and model load;
4. prints per measurement the best and the median seconds and rows/s, the ratios to the
   bare model (best over best, and the median of the per-round ratios: the machine's load
   moves every figure of a round together), the peak RSS of the command (GNU time's
   maximum RSS) and the load average.

Usage: python benchmarks/batch_score.py [--rows 1000000] [--repeat 3] [--trees 200|0]
       [--project DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import find_loopml

DATA = Path(__file__).resolve().parent / "_data"

_BARE = r"""
import os, sys, time
import numpy as np, pandas as pd
import loopml
project = loopml.Project(sys.argv[1])
model = project.load_model("latest")
frame = pd.read_parquet(sys.argv[2])
member = model.members[0]
X = np.asarray(member.steps[0][1].transform(frame[model.columns]))
del frame
estimator = member.steps[-1][1]
cores = os.cpu_count()
estimator.set_params(n_jobs=cores)
started = time.perf_counter()
estimator.predict_proba(X)
proba = time.perf_counter() - started
started = time.perf_counter()
estimator.booster_.predict(X, num_threads=cores)
booster = time.perf_counter() - started
print(proba, booster, estimator.booster_.num_trees())
"""

_IN_PROCESS = r"""
import sys, time
import loopml
project = loopml.Project(sys.argv[1])
project.load_model("latest")  # imports and the first load, not counted
times = []
for log in (False, True):
    started = time.perf_counter()
    project.score("latest", sys.argv[2], sys.argv[3], log=log)
    times.append(time.perf_counter() - started)
print(*times)
"""

_LABELS = {
    "bare": "bare model on NumPy",
    "in_process": "Project.score, no log",
    "in_process_log": "Project.score, log",
    "command": "loopml score --no-log",
    "command_log": "loopml score (log)",
}


def _timed(command: list[str], cwd: Path) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in KiB, stdout) of a child under GNU time."""
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])
    return wall, peak, proc.stdout


def _make_project(loopml: list[str], trees: int) -> Path:
    if trees:
        from serve_http import TREES, make_project

        if trees != TREES:
            sys.exit(f"--trees takes {TREES} (serve_http.py's model) or 0 (the demo default)")
        return make_project(loopml, 60.0, 1)
    project = Path(tempfile.mkdtemp(prefix="loopml-batch-"))
    subprocess.run([*loopml, "init", "--demo"], cwd=project, check=True, capture_output=True)
    subprocess.run(
        [*loopml, "train", "--families", "lightgbm", "--max-trials", "1", "--json"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return project


def _round(loopml: list[str], project: Path, big: Path) -> tuple[dict[str, float], dict]:
    """One round: every measurement once, in fresh processes."""
    spec, out = str(project / "loopml.yaml"), str(project / "scored.parquet")
    _, _, text = _timed([sys.executable, "-c", _BARE, spec, str(big)], project)
    proba, booster, trees = text.split()[-3:]
    figures = {"bare": min(float(proba), float(booster))}
    info = {"trees": int(trees), "bare_predict_proba": float(proba), "bare_booster": float(booster)}
    _, _, text = _timed([sys.executable, "-c", _IN_PROCESS, spec, str(big), out], project)
    figures["in_process"], figures["in_process_log"] = map(float, text.split()[-2:])
    command = [*loopml, "score", "latest", str(big), out, "--json"]
    for name, extra in (("command", ["--no-log"]), ("command_log", [])):
        wall, peak, text = _timed([*command, *extra], project)
        figures[name] = wall
        info[f"{name}_peak_mib"] = peak / 1024
        info["summary"] = json.loads(text)
    return figures, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trees", type=int, default=200, help="200 (the default) or 0")
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--loopml", default=None)
    args = parser.parse_args()
    loopml = find_loopml(args.loopml)
    project = args.project or _make_project(loopml, args.trees)
    import pandas as pd

    DATA.mkdir(exist_ok=True)
    big = DATA / f"batch_{args.rows}.parquet"
    if not big.exists():
        demo = pd.read_csv(Path(__file__).resolve().parent.parent / "src/loopml/demo/flights.csv")
        reps = -(-args.rows // len(demo))
        pd.concat([demo] * reps, ignore_index=True).head(args.rows).to_parquet(big, index=False)
    rounds: list[dict[str, float]] = []
    info: dict = {}
    loads = [os.getloadavg()[0]]
    for i in range(args.repeat):
        figures, info = _round(loopml, project, big)
        rounds.append(figures)
        loads.append(os.getloadavg()[0])
        print(f"round {i + 1}: " + "  ".join(f"{k} {v:.2f} s" for k, v in figures.items()))
    summary = info["summary"]
    rows = summary["rows"]
    print(
        f"\nproject {project}; {info['trees']} trees; rows {rows:,} "
        f"(scored {summary['scored']:,}, rejected {summary['rejected']:,}); "
        f"{os.cpu_count()} cores; 1-min load {min(loads):.1f}-{max(loads):.1f}"
    )
    print(
        f"{'':26s} {'best s':>7s} {'median s':>9s} {'rows/s (best)':>14s} {'ratio best':>11s} "
        f"{'ratio median':>13s}"
    )
    bare = [r["bare"] for r in rounds]
    for key, label in _LABELS.items():
        values = [r[key] for r in rounds]
        ratios = [r[key] / r["bare"] for r in rounds]
        print(
            f"{label:26s} {min(values):7.2f} {statistics.median(values):9.2f} "
            f"{rows / min(values):14,.0f} {min(values) / min(bare):10.2f}x "
            f"{statistics.median(ratios):12.2f}x"
        )
    print(
        f"peak RSS of the command: {info['command_peak_mib']:,.0f} MiB (--no-log), "
        f"{info['command_log_peak_mib']:,.0f} MiB (log)"
    )
    print("goal: loopml score within 2x of the bare model")


if __name__ == "__main__":
    main()
