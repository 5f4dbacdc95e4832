"""The data of a retrain: new rows by the spec's policy and the fresh holdout cut from them.

    rows = collect_rows(spec, root, store, champion, policy, holdout=0.3, min_rows=100, ...)
    version, split = record_rows(store, spec, rows)     # a dataset version and its split

Policies (`retrain.data`): `window` — the prediction log's rows of a recent window that
feedback labelled, inputs mapped back to their columns and the label to the target;
`source` — a new file or SQL query; `all` — the project's data source read again. Every
policy's rows are cast to the types of the champion's training data; with `combine` the
champion's training rows are added. The holdout is drawn from the new rows only — the
newest by the spec's time column, else a seeded stratified (classification) or random
sample — and is the split's test part, so neither model trains on it. A file or the data
source read again may hold rows the champion trained on: those (as many times as its
training data holds them) are not new, train the challenger and never enter the holdout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loopml.data.splits import SplitInfo, assign_parts, record_split, resolve_strategy
from loopml.data.versions import (
    DatasetVersion,
    dataset_path,
    get_version,
    require_column,
    version_table,
)
from loopml.errors import DataError
from loopml.spec import DataSource, ProjectSpec, RetrainData
from loopml.store import Store

DEFAULT_WINDOW = "30d"
_TRAIN, _TEST = 0, 2


@dataclass
class RetrainRows:
    """The rows a retrain uses, which of them are held out, and where they came from."""

    table: pa.Table  # the champion's columns: old rows first, then the new rows
    parts: np.ndarray  # per row: 0 training, 2 holdout
    policy: str  # window | source | all
    source: dict[str, Any]  # lineage of the new rows
    parent: str | None  # the champion's dataset version when its rows are included
    holdout: str  # how the holdout was drawn
    counts: dict[str, int] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (without the rows) for the decision record and --json."""
        return {
            "policy": self.policy,
            "source": self.source,
            "parent": self.parent,
            "holdout": self.holdout,
            "rows": self.counts,
        }


def collect_rows(
    spec: ProjectSpec,
    root: Path,
    store: Store,
    champion: dict[str, Any],
    policy: RetrainData,
    *,
    holdout: float,
    min_rows: int,
    log_folder: Path,
    feedback_folder: Path,
    now: datetime,
) -> RetrainRows:
    """The new rows of `policy`, aligned with `champion`'s training columns, holdout drawn."""
    run = store.meta.run(champion["run_id"])
    trained_for = run["spec"]["target"]
    if trained_for != spec.target:
        raise DataError(
            f"version {champion['version']} predicts `{trained_for}` but loopml.yaml's target is "
            f"`{spec.target}`; retrain a model of the same target"
        )
    signature = champion["signature"]["columns"]
    features = [c["name"] for c in signature]
    roles = {c["name"]: c["role"] for c in signature}
    trained_on = get_version(store, champion["dataset_version"])
    schema = pq.read_schema(dataset_path(store, trained_on))
    extra = _split_column(spec, features, schema.names, champion["version"])
    columns = [*features, spec.target, *([extra] if extra else [])]
    types = {name: schema.field(name).type for name in columns}

    kind = policy.policy
    if kind == "window":
        new, source = _window_rows(spec, policy, columns, types, log_folder, feedback_folder, now)
    else:
        spec_source = policy.source() if kind == "source" else spec.data
        origin = "retrain.data" if kind == "source" else "data"
        new, source = _source_rows(spec_source, root, columns, types, origin)
    counts = {"new": new.num_rows}
    labelled = pc.is_valid(new.column(spec.target))
    counts["unlabelled"] = new.num_rows - int(pc.sum(labelled).as_py() or 0)
    new = new.filter(labelled)
    if new.num_rows == 0:
        raise DataError(f"{source['description']} holds no row with a value of `{spec.target}`")

    trained = None
    if policy.combine or kind != "window":
        trained = pq.read_table(dataset_path(store, trained_on), columns=columns)
    table, eligible = _arrange(policy, new, trained, counts)
    parent = trained_on.version if policy.combine or kind == "all" else None
    if spec.cleaning.drop_duplicate_rows:
        keep = ~table.to_pandas().duplicated(keep="first").to_numpy()
        counts["duplicates"] = int((~keep & eligible).sum())
        table, eligible = table.filter(pa.array(keep)), eligible[keep]
    counts["fresh"] = int(eligible.sum())
    if counts["fresh"] < min_rows:
        raise DataError(_too_few(source["description"], counts, min_rows, champion["version"]))
    parts, drawn = _holdout(spec, table, eligible, holdout)
    counts["holdout"] = int((parts == _TEST).sum())
    counts["train"] = int((parts == _TRAIN).sum())
    if counts["holdout"] == 0 or counts["train"] < 2:
        raise DataError(
            f"a holdout of {holdout:g} of {counts['fresh']:,} new rows leaves "
            f"{counts['holdout']:,} to compare on and {counts['train']:,} to train on; "
            "change `retrain.holdout` or add data"
        )
    return RetrainRows(table, parts, kind, source, parent, drawn, counts, features, roles)


def record_rows(store: Store, spec: ProjectSpec, rows: RetrainRows) -> tuple[Any, SplitInfo]:
    """Store the rows as a dataset version and the holdout as its split's test part."""
    operations = [{"op": "retrain_rows", "policy": rows.policy, **rows.counts}]
    version: DatasetVersion = version_table(
        rows.table,
        store,
        kind="retrain",
        parent=rows.parent,
        source=rows.source,
        operations=operations,
    )
    params = {"holdout": rows.holdout, "policy": rows.policy, "fresh_rows": rows.counts["fresh"]}
    split = record_split(
        store,
        version,
        rows.parts.astype(np.int8),
        strategy="retrain",
        params=params,
        seed=spec.seed,
    )
    return version, split


def _arrange(
    policy: RetrainData, new: pa.Table, trained: pa.Table | None, counts: dict[str, int]
) -> tuple[pa.Table, np.ndarray]:
    """Rows that only train (the champion's with `combine`, re-read ones it trained on) first,
    then the new rows, with a mask of the rows that may be held out."""
    earlier = []
    if policy.policy != "window":  # a table read again may hold rows the champion trained on
        seen = _seen(new, trained)
        counts["seen"] = int(seen.sum())
        if not policy.combine:  # with `combine` they are among the champion's rows below
            earlier.append(new.filter(pa.array(seen)))
        new = new.filter(pa.array(~seen))
    if policy.combine:
        earlier.insert(0, trained)
        counts["old"] = trained.num_rows
    table = pa.concat_tables([*earlier, new])
    before = table.num_rows - new.num_rows
    return table, np.r_[np.zeros(before, dtype=bool), np.ones(new.num_rows, dtype=bool)]


def _too_few(where: str, counts: dict[str, int], min_rows: int, number: int) -> str:
    others = [
        f"{counts[key]:,} {text}"
        for key, text in (
            ("seen", f"are in version {number}'s training data"),
            ("duplicates", "repeat earlier rows, dropped by `cleaning.drop_duplicate_rows`"),
        )
        if counts.get(key)
    ]
    more = f" ({'; '.join(others)})" if others else ""
    return (
        f"{where} gives {counts['fresh']:,} new row(s) to retrain on{more}, fewer than "
        f"`retrain.min_rows` ({min_rows:,}); wait for more data or lower it"
    )


def _split_column(
    spec: ProjectSpec, features: list[str], names: list[str], number: int
) -> str | None:
    """The time or group column the spec's split strategy needs beside the features."""
    strategy = resolve_strategy(spec)
    column = {"group": spec.split.group_column, "time": spec.split.time_column}.get(strategy)
    if column is None or column in features or column == spec.target:
        return None
    if column not in names:
        raise DataError(
            f"`split.{strategy}_column` names `{column}`, which version {number}'s training "
            "data does not hold; set it to a column of that data"
        )
    return column


def _window_rows(
    spec: ProjectSpec,
    policy: RetrainData,
    columns: list[str],
    types: dict[str, pa.DataType],
    log_folder: Path,
    feedback_folder: Path,
    now: datetime,
) -> tuple[pa.Table, dict[str, Any]]:
    from loopml.monitor.check import parse_since
    from loopml.monitor.feedback import read_feedback
    from loopml.monitor.log import INPUT_PREFIX, read_log

    window = policy.window or DEFAULT_WINDOW
    start = parse_since(window, now)
    where = f"the prediction log since {start:%Y-%m-%d %H:%M} UTC (`retrain.data.window: {window}`)"
    logged = read_log(log_folder, since=start, until=now)
    if logged.num_rows == 0:
        raise DataError(f"{where} holds no predictions; serve or score some, or widen the window")
    keys = ["request_id", "record", "time", "model_version"]
    inputs = [c for c in columns if INPUT_PREFIX + c in logged.column_names]
    frame = logged.select(keys + [INPUT_PREFIX + c for c in inputs]).to_pandas()
    # A request scored by a shadow model too is logged twice: one row per prediction id.
    frame = frame.sort_values(["time", "request_id", "record"], kind="stable")
    frame = frame.drop_duplicates(["request_id", "record"], keep="first")
    labels = read_feedback(feedback_folder)[["request_id", "record", "label"]]
    joined = frame.merge(labels, on=["request_id", "record"], how="inner", sort=False)
    if joined.empty:
        raise DataError(
            f"none of the {len(frame):,} predictions in {where} has a label yet; send ground "
            "truth with `loopml feedback FILE` (request_id, label) first"
        )
    arrays = {}
    for name in columns:
        if name == spec.target:
            values = joined["label"]
        elif name in inputs:
            values = joined[INPUT_PREFIX + name]
        elif name == spec.split.time_column:  # not a model input: when it was predicted
            values = joined["time"]
        else:
            raise DataError(
                f"{where} holds no `{name}` column (the model's inputs are logged, and it is "
                "not one); retrain from a file that has it (`loopml retrain --data FILE`)"
            )
        arrays[name] = _cast(pa.array(values, from_pandas=True), types[name], name, where)
    source = {
        "kind": "prediction_log",
        "description": where,
        "since": start.isoformat(),
        "until": now.isoformat(),
        "logged": len(frame),
        "labelled": len(joined),
        "model_versions": sorted(int(v) for v in joined["model_version"].unique()),
    }
    return pa.table(arrays), source


def _source_rows(
    spec: DataSource,
    root: Path,
    columns: list[str],
    types: dict[str, pa.DataType],
    origin: str,
) -> tuple[pa.Table, dict[str, Any]]:
    from loopml.data.sources import open_source, read_table

    source = open_source(spec, root, origin=origin)
    table = read_table(source)
    where = source.description
    for name in columns:
        require_column(name, table.column_names, where)
    arrays = {name: _cast(table.column(name), types[name], name, where) for name in columns}
    return pa.table(arrays), source.lineage()


def _cast(values: Any, kind: pa.DataType, name: str, where: str) -> pa.Array:
    """`values` as the type the champion's training data gave column `name`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_large_string(values.type):  # pandas' string dtype
        values = values.cast(pa.string())
    if values.type == kind:
        return values
    try:
        if pa.types.is_boolean(kind) and pa.types.is_string(values.type):
            lowered = pc.utf8_lower(values)
            truth = pc.is_in(lowered, pa.array(["true", "1", "yes"]))
            known = pc.is_in(lowered, pa.array(["true", "1", "yes", "false", "0", "no"]))
            if not pc.all(pc.or_kleene(known, pc.is_null(values))).as_py():
                raise pa.ArrowInvalid("not a boolean")
            return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), truth)
        if pa.types.is_string(kind) and pa.types.is_timestamp(values.type):
            return pc.strftime(values, format="%Y-%m-%dT%H:%M:%S")
        temporal = pa.types.is_timestamp(kind) or pa.types.is_date(kind)
        if temporal and pa.types.is_string(values.type):  # the log writes dates as text
            from loopml.data.schema import parse_dates

            parsed = parse_dates(values)
            if parsed.null_count > values.null_count:
                raise pa.ArrowInvalid("not a date")
            values = parsed
        return values.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        example = _example(values, kind)
        raise DataError(
            f"column `{name}` of {where} holds {example}, which is not a {kind} value like the "
            "champion's training data; fix those values"
        ) from None


def _example(values: pa.Array, kind: pa.DataType) -> str:
    for value in values.drop_null().to_pylist():
        try:
            pa.array([value]).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return repr(value)
    return "values"


def _seen(new: pa.Table, old: pa.Table) -> np.ndarray:
    """Rows of `new` that `old` holds (as many times as it holds them): not new after all."""
    hashes_new = pd.util.hash_pandas_object(new.to_pandas(), index=False).to_numpy()
    hashes_old = pd.util.hash_pandas_object(old.to_pandas(), index=False)
    occurrence = pd.Series(hashes_new).groupby(hashes_new).cumcount().to_numpy()
    held = pd.Series(hashes_new).map(hashes_old.value_counts()).fillna(0).to_numpy()
    return occurrence < held


def _holdout(
    spec: ProjectSpec, table: pa.Table, eligible: np.ndarray, share: float
) -> tuple[np.ndarray, str]:
    """Part codes (holdout among the eligible rows only) and how the holdout was drawn."""
    split = spec.split.model_copy(update={"test_size": share, "valid_size": 0.0})
    cut = spec.model_copy(update={"split": split})
    rows = np.flatnonzero(eligible)
    codes = assign_parts(table.take(pa.array(rows)), cut)
    parts = np.full(table.num_rows, _TRAIN, dtype=np.int8)
    parts[rows[codes == _TEST]] = _TEST
    strategy = resolve_strategy(spec)
    drawn = {
        "time": f"the newest {share:.0%} of the new rows by `{spec.split.time_column}`",
        "group": f"whole groups of `{spec.split.group_column}`, {share:.0%} of the new rows "
        f"(seed {spec.seed})",
        "stratified": f"a stratified {share:.0%} sample of the new rows (seed {spec.seed})",
        "random": f"a random {share:.0%} sample of the new rows (seed {spec.seed})",
    }[strategy]
    return parts, drawn
