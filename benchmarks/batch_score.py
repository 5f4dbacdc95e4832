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
   - start-up: `loopml score` of a one-row file (interpreter, imports, store, model load,
     sha256 check, compile: the part of the command that does not grow with the rows);
4. prints per measurement the best and the median wall seconds and rows/s, the ratios to
   the bare model (best over best, and the median of the per-round ratios: the machine's
   load moves every figure of a round together), the median CPU seconds (user + system,
   all threads: less sensitive to other work on the machine than wall time), the peak RSS
   of the command (GNU time's maximum RSS) and the load average.

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
figures = []
for predict in (
    lambda: estimator.predict_proba(X),
    lambda: estimator.booster_.predict(X, num_threads=cores),
):
    started, cpu = time.perf_counter(), time.process_time()
    predict()
    figures += [time.perf_counter() - started, time.process_time() - cpu]
print(*figures, estimator.booster_.num_trees())
"""

_IN_PROCESS = r"""
import sys, time
import loopml
project = loopml.Project(sys.argv[1])
project.load_model("latest")  # imports and the first load, not counted
figures = []
for log in (False, True):
    started, cpu = time.perf_counter(), time.process_time()
    project.score("latest", sys.argv[2], sys.argv[3], log=log)
    figures += [time.perf_counter() - started, time.process_time() - cpu]
print(*figures)
"""

_LABELS = {
    "bare": "bare model on NumPy",
    "in_process": "Project.score, no log",
    "in_process_log": "Project.score, log",
    "command": "loopml score --no-log",
    "command_log": "loopml score (log)",
    "start_up": "loopml score, 1 row",
}


def _timed(command: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in KiB, stdout) of a child under GNU time."""
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])
    times = re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr)
    return wall, sum(float(t) for t in times), peak, proc.stdout


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


Figures = dict[str, tuple[float, float]]  # measurement -> (wall seconds, CPU seconds)


def _round(loopml: list[str], project: Path, big: Path, one: Path) -> tuple[Figures, dict]:
    """One round: every measurement once, in fresh processes."""
    spec, out = str(project / "loopml.yaml"), str(project / "scored.parquet")
    _, _, _, text = _timed([sys.executable, "-c", _BARE, spec, str(big)], project)
    *numbers, trees = text.split()[-5:]
    proba, booster = tuple(map(float, numbers[:2])), tuple(map(float, numbers[2:]))
    figures = {"bare": min(proba, booster)}
    info: dict = {"trees": int(trees), "bare": {"predict_proba": proba, "booster": booster}}
    _, _, _, text = _timed([sys.executable, "-c", _IN_PROCESS, spec, str(big), out], project)
    numbers = [float(x) for x in text.split()[-4:]]
    figures["in_process"], figures["in_process_log"] = (
        (numbers[0], numbers[1]),
        (numbers[2], numbers[3]),
    )
    command = [*loopml, "score", "latest", str(big), out, "--json"]
    for name, extra in (("command", ["--no-log"]), ("command_log", [])):
        wall, cpu, peak, text = _timed([*command, *extra], project)
        figures[name] = (wall, cpu)
        info[f"{name}_peak_mib"] = peak / 1024
        info["summary"] = json.loads(text)
    wall, cpu, _, _ = _timed([*loopml, "score", "latest", str(one), out, "--no-log"], project)
    figures["start_up"] = (wall, cpu)
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
    demo = pd.read_csv(Path(__file__).resolve().parent.parent / "src/loopml/demo/flights.csv")
    big = DATA / f"batch_{args.rows}.parquet"
    if not big.exists():
        reps = -(-args.rows // len(demo))
        pd.concat([demo] * reps, ignore_index=True).head(args.rows).to_parquet(big, index=False)
    one = DATA / "batch_1.parquet"
    demo.head(1).to_parquet(one, index=False)
    rounds: list[Figures] = []
    info: dict = {}
    loads = [os.getloadavg()[0]]
    for i in range(args.repeat):
        figures, info = _round(loopml, project, big, one)
        rounds.append(figures)
        loads.append(os.getloadavg()[0])
        shown = "  ".join(f"{k} {wall:.2f} s" for k, (wall, _) in figures.items())
        print(f"round {i + 1}: {shown}", flush=True)
    summary = info["summary"]
    rows = summary["rows"]
    print(
        f"\nproject {project}; {info['trees']} trees; rows {rows:,} "
        f"(scored {summary['scored']:,}, rejected {summary['rejected']:,}); "
        f"{os.cpu_count()} cores; 1-min load {min(loads):.1f}-{max(loads):.1f}"
    )
    print(
        f"{'':24s} {'best s':>7s} {'median s':>9s} {'rows/s (best)':>14s} {'ratio best':>11s}"
        f" {'ratio median':>13s} {'CPU s':>7s}"
    )
    bare = [r["bare"][0] for r in rounds]
    for key, label in _LABELS.items():
        walls = [r[key][0] for r in rounds]
        ratios = [r[key][0] / r["bare"][0] for r in rounds]
        cpu = statistics.median(r[key][1] for r in rounds)
        speed = "" if key == "start_up" else f"{rows / min(walls):,.0f}"
        print(
            f"{label:24s} {min(walls):7.2f} {statistics.median(walls):9.2f} {speed:>14s}"
            f" {min(walls) / min(bare):10.2f}x {statistics.median(ratios):12.2f}x {cpu:7.2f}"
        )
    print(
        f"peak RSS of the command: {info['command_peak_mib']:,.0f} MiB (--no-log), "
        f"{info['command_log_peak_mib']:,.0f} MiB (log)"
    )
    print("goal: loopml score within 2x of the bare model")


if __name__ == "__main__":
    main()
