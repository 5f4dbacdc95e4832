"""`reproduce`: re-run a recorded run's trials on the same data and seed; report any difference.

A time-budgeted search fits as many trials as the machine allows, so reproducing replays the
run's recorded trials (family, parameters, order) instead of searching again: the same data,
spec and seed must then give the same trial scores, the same chosen model and the same test
metrics. The replay is itself recorded as a new run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from loopml.data.profile import prepare_dataset
from loopml.errors import DataError
from loopml.progress import Progress
from loopml.runs.prepare import TrainInputs
from loopml.runs.records import TrainResult
from loopml.runs.train import TrainOptions, train_model
from loopml.spec import validate_spec
from loopml.store import Store

TOLERANCE = 1e-9  # relative difference of two scores still called equal


def _differs(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is not b
    if isinstance(a, float | int) and isinstance(b, float | int):
        if math.isnan(a) and math.isnan(b):
            return False
        return abs(a - b) > TOLERANCE * max(1.0, abs(a), abs(b))
    return a != b


def reproduce_run(
    root: Path, store: Store, ref: str, *, progress: Progress | None = None
) -> tuple[TrainResult, dict[str, Any]]:
    """Replay run `ref`; returns the new run's result and {same, differences, ...}."""
    original = store.meta.run(ref)
    if original["status"] != "complete":
        raise DataError(
            f"run {original['id'][:12]} is {original['status']}; only complete runs reproduce"
        )
    spec = validate_spec(original["spec"], source=f"run {original['id'][:12]}")
    inputs = _retrain_inputs(store, original)
    current = inputs.version if inputs else prepare_dataset(spec, root, store, progress=progress)
    if current.version != original["dataset_version"]:
        raise DataError(
            f"the data changed since run {original['id'][:12]}: it trained on dataset version "
            f"{original['dataset_version'][:12]}, the data now gives {current.short}; restore "
            "the data file to reproduce it"
        )
    trials = store.meta.trials(original["id"])
    budget = (original["time_budget_s"] or spec.train.time_budget) * 10
    options = TrainOptions(
        time_budget=budget,
        jobs=original["environment"].get("n_jobs"),
        refit_all=(original["chosen"] or {}).get("model_all_rows") is not None,
        replay=trials,
        inputs=inputs,
    )
    result = train_model(spec, root, store, options, progress=progress)
    new_row = store.meta.run(result.run_id)
    return result, compare_runs(original, new_row, trials, store.meta.trials(result.run_id))


def _retrain_inputs(store: Store, run: dict[str, Any]) -> TrainInputs | None:
    """A retrain's run trained on its recorded rows and holdout split, not the spec's data."""
    from loopml.data.splits import load_split
    from loopml.data.versions import get_version

    version = get_version(store, run["dataset_version"])
    if version.kind != "retrain":
        return None
    columns = (run["chosen"] or {}).get("signature", {}).get("columns", [])
    roles = {c["name"]: c["role"] for c in columns}
    return TrainInputs(version, load_split(store, run["split_id"]), roles)


def compare_runs(
    a: dict[str, Any], b: dict[str, Any], trials_a: list[dict], trials_b: list[dict]
) -> dict[str, Any]:
    """Where two runs differ: inputs, chosen model, trial scores and test metrics."""
    differences = []
    for key in ("dataset_version", "split_id", "spec_hash", "seed"):
        if a[key] != b[key]:
            differences.append({"what": key, "a": a[key], "b": b[key]})
    chosen_a, chosen_b = a["chosen"] or {}, b["chosen"] or {}
    for key in ("name", "params", "threshold", "calibration"):
        if _differs(chosen_a.get(key), chosen_b.get(key)):
            differences.append(
                {"what": f"chosen {key}", "a": chosen_a.get(key), "b": chosen_b.get(key)}
            )
    by_number = {t["number"]: t for t in trials_b}
    for trial in trials_a:
        other = by_number.get(trial["number"])
        if other is not None and _differs(trial["score"], other["score"]):
            differences.append(
                {
                    "what": f"trial {trial['number']} ({trial['family']}) score",
                    "a": trial["score"],
                    "b": other["score"],
                }
            )
    metrics_a = ((a["test_metrics"] or {}).get("metrics")) or {}
    metrics_b = ((b["test_metrics"] or {}).get("metrics")) or {}
    for name in sorted(set(metrics_a) | set(metrics_b)):
        va, vb = metrics_a.get(name), metrics_b.get(name)
        if isinstance(va, dict | list) or isinstance(vb, dict | list):
            if va != vb:
                differences.append({"what": f"test {name}", "a": va, "b": vb})
        elif _differs(va, vb):
            differences.append({"what": f"test {name}", "a": va, "b": vb})
    return {"a": a["id"], "b": b["id"], "same": not differences, "differences": differences}
