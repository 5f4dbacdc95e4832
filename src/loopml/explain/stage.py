"""The `explain` stage: a model version's explanation, global (many rows) or local (some rows).

    explain_model(store, spec, "production", data=frame)        # GlobalExplanation
    explain_model(store, spec, "production", records=[{...}])   # LocalExplanations
    explain_model(store, spec, "production")                    # the one made at training

Rows are checked like everywhere else: records like `POST /predict` checks them (one error
per bad field), a table against the model's input signature (failing rows are left out and
counted, with the first reasons). Linear and sampled members compare each row with
background rows: a seeded sample of the run's training rows, read from the store.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError, NotFoundError, UsageError
from loopml.explain.summary import (
    MAX_ROWS,
    SAMPLED_MIN_ROWS,
    SAMPLED_ROWS,
    GlobalExplanation,
    LocalExplanations,
    global_explanation,
    local_explanations,
)
from loopml.progress import Progress
from loopml.spec import ProjectSpec
from loopml.store import Store

BACKGROUND_ROWS = 100  # training rows linear and sampled members are compared with
MAX_RECORDS = 100  # rows a local explanation takes at once (the server's /explain too)
SHOWN_ERRORS = 3  # bad fields named in an error message
TRAINING_SECONDS = 1.0  # time the explanation made at training may take, at most
TRAINING_ROWS = 2_000  # test rows it explains at most
SECONDS = 60.0  # time a global explanation takes at most unless told (deep forests are slow)


def explain_model(
    store: Store,
    spec: ProjectSpec,
    ref: str,
    *,
    data: pd.DataFrame | str | Path | None = None,
    records: list[Any] | dict[str, Any] | str | None = None,
    top: int = 10,
    max_rows: int | None = None,
    time_budget: float | None = None,
    progress: Progress | None = None,
) -> GlobalExplanation | LocalExplanations:
    """Explain model `ref`: `records` locally (records, one, or their JSON text), `data`
    globally (a DataFrame or a CSV, Parquet or JSON Lines file), or neither: the global
    explanation recorded when the model was trained.

    `time_budget`: the seconds `data` may take at most (fewer rows, a seeded sample, when
    all would take longer); by default SECONDS, or none when `max_rows` is given.

    `max_rows`: the rows `data` may give at most (a seeded sample beyond); by default
    MAX_ROWS, or SAMPLED_ROWS shared among the members explained by sampling (model-agnostic,
    10,000 model evaluations a row each).
    Columns of the training data the model does not read (the target, excluded sensitive
    columns, dropped ones) may come with `records` and are ignored, as with `data`."""
    from loopml.runs.scoring import read_input, resolve_model

    if data is not None and records is not None:
        raise UsageError("explain either a table (global) or records (local), not both")
    if top < 1:
        raise UsageError(f"--top must be at least 1, got {top}")
    if max_rows is not None and (data is None or max_rows < 1):
        raise UsageError(
            "--max-rows limits the rows of a global explanation: give it with --data, at least 1"
        )
    if time_budget is not None and (data is None or not time_budget > 0):
        raise UsageError(
            "--time-budget limits the seconds of a global explanation: give it with --data, "
            "more than 0"
        )
    if records is not None:
        records = parse_records(records)
    if isinstance(data, str | Path):
        if not Path(data).is_file():
            raise DataError(f"the file {data} to explain does not exist; check the path")
        data = read_input(Path(data))
    if data is None and records is None:
        return _recorded(store, spec, str(ref))
    from loopml.explain.contributions import Explainer
    from loopml.models.compiled import compile_model

    model, signature, number = resolve_model(store, spec.name, str(ref), spec)
    model = compile_model(model)
    run = _run_of(store, spec, str(ref), number)
    explainer = Explainer(model, background_rows(store, run, model), seed=spec.seed)
    if records is not None:
        unread = _unread_columns(store, run, model)
        records = [{k: v for k, v in r.items() if k not in unread} for r in records]
        return explain_records(explainer, signature, records, top=top, model_version=number)
    checked = signature.check(data)
    notes = []
    if checked.n_rejected:
        reasons = checked.reasons[~checked.valid]
        first = "; ".join(f"row {i}: {why}" for i, why in list(reasons.items())[:SHOWN_ERRORS])
        if checked.n_rejected == len(data):
            raise DataError(f"no row fits the model's input signature ({first})")
        notes.append(
            f"{checked.n_rejected:,} row(s) fail the model's input signature and are left out "
            f"({first})"
        )
        data = data[checked.valid]
    limit, budget = _row_budget(explainer, max_rows)
    seconds, time_words = _time_budget(time_budget, max_rows)
    result = global_explanation(
        explainer,
        data,
        max_rows=limit,
        seconds=seconds,
        seed=spec.seed,
        budget=budget,
        time_budget=time_words,
        progress=progress,
    )
    result.notes = notes + result.notes
    result.model_version = number
    _with_permutation(result, run)
    return result


def _row_budget(explainer: Any, max_rows: int | None) -> tuple[int, str]:
    """The rows a global explanation may explain, and that budget in words (for its note)."""
    if max_rows is not None:
        return max_rows, "--max-rows"
    sampled = explainer.sampled
    if not sampled:
        return MAX_ROWS, f"the row budget of {MAX_ROWS:,}; --max-rows changes it"
    rows = max(SAMPLED_MIN_ROWS, SAMPLED_ROWS // len(sampled))
    return rows, (
        f"the row budget of the model-agnostic (sampled) explainer, {rows} rows for "
        f"{', '.join(sampled)}; --max-rows changes it"
    )


def _time_budget(time_budget: float | None, max_rows: int | None) -> tuple[float | None, str]:
    """The seconds a global explanation may take (none when only --max-rows is given), and
    that budget in words (for its note)."""
    if time_budget is None and max_rows is not None:
        return None, ""
    seconds = SECONDS if time_budget is None else time_budget
    return seconds, f"the time budget of {seconds:g} s; --time-budget changes it"


def _with_permutation(result: GlobalExplanation, run: dict[str, Any]) -> None:
    """Add the permutation importance measured at training, or the note saying why not."""
    evaluation = run.get("test_metrics") or {}
    result.permutation = evaluation.get("importance")
    if result.permutation is None and evaluation.get("importance_note"):
        result.notes = [*(result.notes or []), f"at training, {evaluation['importance_note']}"]


def _unread_columns(store: Store, run: dict[str, Any], model: Any) -> set[str]:
    """Columns of the run's data (any version of its lineage) that the model does not read."""
    from loopml.data.versions import get_version, lineage

    chain = lineage(store, get_version(store, run["dataset_version"]))
    return {name for version in chain for name in version.column_names} - set(model.columns)


def explain_records(
    explainer: Any,
    signature: Any,
    records: list[Any],
    *,
    top: int = 10,
    model_version: int | None = None,
    unknown: str = "allow",
    extra: str = "reject",
) -> LocalExplanations:
    """Local explanations of JSON-like records, checked like `POST /predict` checks them."""
    from loopml.serve.records import read_records

    if not isinstance(records, list) or not records:
        raise DataError("give at least one record to explain, as a JSON object")
    if len(records) > MAX_RECORDS:
        raise DataError(
            f"{len(records):,} records is more than the {MAX_RECORDS} explained at once"
        )
    columns, errors = read_records(records, signature, unknown=unknown, extra=extra)
    if errors:
        shown = "; ".join(
            f"record {e['row']}"
            + (f", field `{e['field']}`" if e["field"] else "")
            + f": {e['problem']}"
            for e in errors[:SHOWN_ERRORS]
        )
        more = f" and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
        raise DataError(f"{len(errors)} field(s) do not fit the model's input ({shown}{more})")
    return explain_columns(explainer, columns, top=top, model_version=model_version)


def explain_columns(
    explainer: Any, columns: Any, *, top: int = 10, model_version: int | None = None
) -> LocalExplanations:
    """Local explanations of checked input rows (Columns): a multiclass model's row explains
    the probability of its most likely class."""
    contributions = explainer.explain(columns)
    predicted = None
    if explainer.model.task == "multiclass":
        predicted = contributions.output.argmax(axis=1)
    rows = local_explanations(contributions, columns, top=top, predicted=predicted)
    return LocalExplanations(rows, contributions.space, contributions.methods, model_version)


def parse_records(row: Any) -> list[Any]:
    """Records to explain from a record, a list of them, or their JSON text."""
    if isinstance(row, str):
        import orjson

        try:
            row = orjson.loads(row)
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"the row is not valid JSON ({exc.args[0]}); give an object such as "
                '\'{"age": 41, "city": "Oslo"}\''
            ) from None
    records = row if isinstance(row, list) else [row]
    if not records or not all(isinstance(r, dict) for r in records):
        raise DataError(
            "the row must be a JSON object of input columns (or a list of them), such as "
            '\'{"age": 41, "city": "Oslo"}\''
        )
    return records


def background_rows(store: Store, run: dict[str, Any], model: Any) -> pd.DataFrame | None:
    """A seeded sample of the run's training rows (input columns), when the model needs one."""
    from loopml.explain.contributions import Explainer

    if not Explainer.needs_background(model):
        return None
    from loopml.data.splits import load_split, open_split

    frame = open_split(store, load_split(store, run["split_id"])).train_valid()
    return sample_rows(frame[model.columns], BACKGROUND_ROWS, int(run.get("seed") or 0))


def sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most `n` rows of `frame`, a seeded sample in their original order."""
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    rows = np.sort(np.random.default_rng(seed).choice(len(frame), n, replace=False))
    return frame.iloc[rows].reset_index(drop=True)


def explain_at_training(
    model: Any, train: pd.DataFrame, test: pd.DataFrame, *, seed: int, deadline: float
) -> GlobalExplanation | None:
    """The global explanation on the test rows for the training report and the store: at most
    TRAINING_ROWS rows and TRAINING_SECONDS (less when the time budget is nearly spent)."""
    from loopml.explain.contributions import Explainer
    from loopml.models.compiled import compile_model

    seconds = min(TRAINING_SECONDS, deadline - time.perf_counter())
    if seconds <= 0 or len(test) == 0:
        return None
    background = None
    if Explainer.needs_background(model):
        background = sample_rows(train[model.columns], BACKGROUND_ROWS, seed)
    explainer = Explainer(compile_model(model), background, seed=seed)
    return global_explanation(
        explainer,
        test[model.columns],
        max_rows=TRAINING_ROWS,
        seconds=seconds,
        seed=seed,
        budget=f"at most {TRAINING_ROWS:,} at training",
        time_budget="the time training keeps for it; `loopml explain MODEL --data FILE` "
        "explains more",
    )


def _run_of(store: Store, spec: ProjectSpec, ref: str, number: int | None) -> dict[str, Any]:
    from loopml.registry.versions import resolve
    from loopml.runs.scoring import model_run

    if number is None:
        return model_run(store, ref)
    return store.meta.run(resolve(store, spec.name, str(number))["run_id"])


def _recorded(store: Store, spec: ProjectSpec, ref: str) -> GlobalExplanation:
    from loopml.registry.versions import resolve
    from loopml.runs.scoring import model_run

    try:
        version = resolve(store, spec.name, ref)
    except NotFoundError:
        run, number = model_run(store, ref), None
    else:
        run, number = store.meta.run(version["run_id"]), int(version["version"])
    stored = (run.get("test_metrics") or {}).get("explanation")
    if not stored:
        raise UsageError(
            "this model has no explanation recorded at training; give rows to explain: "
            "`--data FILE` (global) or `--row JSON` (local)"
        )
    result = GlobalExplanation.from_dict(stored)
    result.model_version = number
    _with_permutation(result, run)
    return result
