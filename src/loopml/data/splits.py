"""The split stage: train / validation / test assignments, stored once, test part sealed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.data.schema import parse_dates
from loopml.data.versions import DatasetVersion, dataset_path, get_version
from loopml.errors import DataError, SealedError, StoreError, UsageError
from loopml.spec import ProjectSpec
from loopml.store import ArtifactRef, Store

PARTS = ("train", "valid", "test")
FINAL_EVALUATION = "final evaluation of run"  # `train`'s test access: this, then the run id
_TRAIN, _VALID, _TEST = 0, 1, 2


@dataclass(frozen=True)
class SplitInfo:
    """A recorded split (plain data, as stored)."""

    id: str
    dataset_version: str
    strategy: str
    params: dict[str, Any]
    seed: int
    counts: dict[str, int]
    artifact: ArtifactRef
    created_at: str

    @property
    def short(self) -> str:
        """The first 12 characters of the split id."""
        return self.id[:12]

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SplitInfo:
        """Build from a `splits` table row."""
        return cls(
            id=row["id"],
            dataset_version=row["dataset_version"],
            strategy=row["strategy"],
            params=row["params"],
            seed=row["seed"],
            counts=row["counts"],
            artifact=ArtifactRef.from_row(row),
            created_at=row["created_at"],
        )


def resolve_strategy(spec: ProjectSpec) -> str:
    """The strategy to use: `auto` is stratified for classification, random for regression."""
    if spec.split.strategy != "auto":
        return spec.split.strategy
    return "random" if spec.task == "regression" else "stratified"


def split_dataset(store: Store, version: DatasetVersion, spec: ProjectSpec) -> SplitInfo:
    """Assign every row of `version` to train / valid / test and record the split."""
    cfg, target, strategy = spec.split, spec.target, resolve_strategy(spec)
    column = {"group": cfg.group_column, "time": cfg.time_column}.get(strategy)
    params: dict[str, Any] = {"test_size": cfg.test_size, "valid_size": cfg.valid_size}
    if strategy == "stratified":
        if spec.task == "regression":
            raise DataError(
                f"target `{target}` is a regression target and cannot be stratified; "
                "set `split.strategy: random`"
            )
        params["target"] = target
    if column is not None:
        params[f"{strategy}_column"] = column
    for name, key in ((target, "target"), (column, f"split.{strategy}_column")):
        if name is not None and name not in version.column_names:
            raise DataError(
                f"`{key}` names column `{name}`, which dataset {version.short} does not have "
                f"(columns: {_brief(version.column_names)}); fix `{key}` in loopml.yaml"
            )
    needed = list(dict.fromkeys(c for c in (target, column) if c is not None))
    table = pq.read_table(dataset_path(store, version), columns=needed)
    if missing := table.column(target).null_count:
        raise DataError(
            f"target `{target}` is missing in {missing:,} of {table.num_rows:,} rows; set "
            "`cleaning.drop_missing_target: true` (or fill them) and clean the data before splitting"
        )
    parts, units = _assign(table, spec, strategy, column)
    counts = {name: int(np.count_nonzero(parts == i)) for i, name in enumerate(PARTS)}
    for name in ("test", "valid", "train"):
        if counts[name] == 0 and (name != "valid" or cfg.valid_size > 0):
            raise DataError(
                f"the {strategy} split of dataset {version.short} leaves the {name} part empty: "
                f"{units} are too few for test_size {cfg.test_size:g} and valid_size "
                f"{cfg.valid_size:g}; add data or change `split.test_size` / `split.valid_size`"
            )
    # A time split does not depend on the seed; record it as 0 so equal splits share an id.
    seed = 0 if strategy == "time" else spec.seed
    return record_split(store, version, parts, strategy=strategy, params=params, seed=seed)


def record_split(
    store: Store,
    version: DatasetVersion,
    parts: np.ndarray,
    *,
    strategy: str,
    params: dict[str, Any],
    seed: int,
) -> SplitInfo:
    """Record part codes (0 train, 1 valid, 2 test per row of `version`) as a split."""
    counts = {name: int(np.count_nonzero(parts == i)) for i, name in enumerate(PARTS)}
    ref = _store_parts(store, parts)
    base = dict(dataset_version=version.version, strategy=strategy, params=params, seed=seed)
    # The id hashes the assignments themselves, not the Parquet bytes (writer-version free).
    assignments = hashlib.sha256(parts.astype(np.int8).tobytes()).hexdigest()
    canonical = json.dumps(
        {**base, "assignments": assignments}, sort_keys=True, separators=(",", ":")
    )
    split_id = hashlib.sha256(canonical.encode()).hexdigest()
    artifact = ref.as_row()
    store.meta.add_split({"id": split_id, **base, "counts": counts, **artifact})
    return SplitInfo.from_row(store.meta.split(split_id))


def load_split(store: Store, ref: str) -> SplitInfo:
    """A recorded split by id, unique prefix, or `latest`."""
    return SplitInfo.from_row(store.meta.split(ref))


def open_split(store: Store, split: SplitInfo) -> SplitView:
    """A view of a split's rows with the test part sealed."""
    return SplitView(store, split)


class SplitView:
    """Train and validation rows of a split; test rows only through `unseal_test`."""

    def __init__(self, store: Store, split: SplitInfo) -> None:
        self.store = store
        self.split = split
        self._open: pa.Table | None = None  # train + valid rows only; test rows never cached
        self._open_parts: np.ndarray | None = None

    def __repr__(self) -> str:
        counts = self.split.counts
        return (
            f"SplitView({self.split.short}: train={counts.get('train', 0)}, "
            f"valid={counts.get('valid', 0)}, test=sealed)"
        )

    @property
    def test(self) -> NoReturn:
        """Always refused: the test part is sealed."""
        raise SealedError(
            f"the test part of split {self.split.short} is sealed: model selection and tuning "
            "must not see it; call `unseal_test(purpose)` once, for the final evaluation"
        )

    def train(self) -> pd.DataFrame:
        """The training rows, in dataset order."""
        return self._select("train")

    def valid(self) -> pd.DataFrame | None:
        """The validation rows, or None when the split has no validation part."""
        return self._select("valid") if self.split.counts.get("valid", 0) else None

    def train_valid(self) -> pd.DataFrame:
        """Training and validation rows together (for a final refit), in dataset order."""
        return self._select("train", "valid")

    def unseal_test(self, purpose: str) -> pd.DataFrame:
        """The test rows, for final evaluation; every call is logged with its purpose."""
        if not isinstance(purpose, str) or not purpose.strip():
            raise UsageError("unseal_test needs a purpose, e.g. unseal_test('final evaluation')")
        table, parts = self._read()
        frame = table.filter(pa.array(parts == "test")).to_pandas()
        self.store.meta.add_test_access(self.split.id, purpose.strip())
        return frame

    def _select(self, *names: str) -> pd.DataFrame:
        if self._open is None:
            table, parts = self._read()
            keep = parts != "test"
            self._open, self._open_parts = table.filter(pa.array(keep)), parts[keep]
        return self._open.filter(pa.array(np.isin(self._open_parts, names))).to_pandas()

    def _read(self) -> tuple[pa.Table, np.ndarray]:
        version = get_version(self.store, self.split.dataset_version)
        assignments = pq.read_table(self.store.artifacts.verified_path(self.split.artifact))
        rows = assignments.column("row").to_numpy()
        if len(rows) != version.n_rows or not np.array_equal(rows, np.arange(version.n_rows)):
            raise StoreError(
                f"split {self.split.short} does not cover the {version.n_rows:,} rows of dataset "
                f"{version.short}; make the split again with `loopml split`"
            )
        parts = assignments.column("part").to_numpy(zero_copy_only=False).astype(str)
        return pq.read_table(dataset_path(self.store, version)), parts


def _brief(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, … ({len(names)} in all)"


def _classes(target: pd.Series, name: str) -> np.ndarray:
    counts = target.value_counts()
    if counts.iloc[-1] < 2:
        label = counts.index[-1]
        raise DataError(
            f"class {label!r} of target `{name}` has only {counts.iloc[-1]} row; a stratified "
            "split needs at least 2 rows per class: set `split.strategy: random` or add data"
        )
    return pd.factorize(target, sort=True)[0]


def _times(column: pa.ChunkedArray, name: str) -> Any:
    if column.null_count:
        raise DataError(
            f"time column `{name}` is missing in {column.null_count:,} rows; "
            "fill or drop those rows before a time split"
        )
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = column.combine_chunks()
        parsed = parse_dates(text).to_pandas()
        if bad := int(parsed.isna().sum()):
            example = text.filter(pa.array(parsed.isna().to_numpy()))[0].as_py()
            raise DataError(
                f"time column `{name}` has {bad:,} values that are not dates "
                f"(e.g. {example!r}); fix them or choose another `split.time_column`"
            )
        return parsed
    if pa.types.is_temporal(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column.to_pandas()
    raise DataError(
        f"time column `{name}` has type {kind}, which cannot be read as dates; "
        "choose another `split.time_column`"
    )


def assign_parts(table: pa.Table, spec: ProjectSpec) -> np.ndarray:
    """Part codes (0 train, 1 valid, 2 test) per row of `table` by the spec's `split:`."""
    strategy = resolve_strategy(spec)
    column = {"group": spec.split.group_column, "time": spec.split.time_column}.get(strategy)
    return _assign(table, spec, strategy, column)[0]


def _assign(
    table: pa.Table, spec: ProjectSpec, strategy: str, column: str | None
) -> tuple[np.ndarray, str]:
    """Part codes per row, and what the parts were cut from (for messages)."""
    n, test, valid = table.num_rows, spec.split.test_size, spec.split.valid_size
    rng = np.random.default_rng(spec.seed)
    if strategy in ("random", "stratified"):
        classes = np.zeros(n, dtype=np.int64)
        if strategy == "stratified":
            classes = _classes(table.column(spec.target).to_pandas(), spec.target)
        return _by_rows(classes, test, valid, rng), f"{n:,} rows"
    if strategy == "group":
        values = table.column(column).to_pandas()
        codes, groups = pd.factorize(values, sort=True, use_na_sentinel=False)
        if len(groups) < 2:
            raise DataError(
                f"group column `{column}` has {len(groups)} distinct value; a group split needs "
                "at least 2 groups: choose another `split.group_column` or `split.strategy: random`"
            )
        order = rng.permutation(len(groups))
        parts = _by_units(codes, order, test, valid, contiguous=False)
        return parts, f"{len(groups):,} groups of `{column}`"
    codes, stamps = pd.factorize(_times(table.column(column), column), sort=True)
    order = np.arange(len(stamps))[::-1]  # latest first: test, then valid, then train
    parts = _by_units(codes, order, test, valid, contiguous=True)
    return parts, f"{len(stamps):,} distinct times of `{column}`"


def _every(m: int, fraction: float) -> np.ndarray:
    """An evenly spread mask over `m` positions with round(m * fraction) true."""
    i = np.arange(m)
    return np.floor((i + 1) * fraction + 0.5) > np.floor(i * fraction + 0.5)


def _by_rows(classes: np.ndarray, test: float, valid: float, rng: np.random.Generator) -> Any:
    """Row-level parts: classes kept in proportion (each within one row of its share)."""
    order = np.lexsort((rng.random(len(classes)), classes))  # by class, shuffled within
    parts = np.full(len(classes), _TRAIN, dtype=np.int8)
    is_test = _every(len(order), test)
    parts[order[is_test]] = _TEST
    rest = order[~is_test]
    if valid:
        parts[rest[_every(len(rest), valid / (1 - test))]] = _VALID
    return parts


def _by_units(
    codes: np.ndarray, order: np.ndarray, test: float, valid: float, *, contiguous: bool
) -> Any:
    """Unit-level parts (groups or timestamps) filled in `order` up to each part's row share."""
    sizes = np.bincount(codes, minlength=len(order))
    unit_part = np.full(len(sizes), _TRAIN, dtype=np.int8)
    for part, fraction in ((_TEST, test), (_VALID, valid)):
        if fraction:
            remaining = order[unit_part[order] == _TRAIN]
            unit_part[_fill(sizes, remaining, fraction * len(codes), contiguous)] = part
    return unit_part[codes]


def _fill(sizes: np.ndarray, order: np.ndarray, target: float, contiguous: bool) -> list[int]:
    """Units taken in order while each one's midpoint stays within `target` rows."""
    taken: list[int] = []
    total = 0
    for unit in order:
        if total >= target:
            break
        if total + sizes[unit] / 2 <= target:
            taken.append(int(unit))
            total += int(sizes[unit])
        elif contiguous:
            break
    if not taken and len(order) > 1:  # all too big: take one, leaving the rest for training
        taken = [int(order[0] if contiguous else order[np.argmin(sizes[order])])]
    return taken


def _store_parts(store: Store, parts: np.ndarray) -> ArtifactRef:
    rows = pa.array(np.arange(len(parts), dtype=np.int64))
    names = pa.array(np.asarray(PARTS)[parts], type=pa.string())
    table = pa.table([rows, names], names=["row", "part"])
    with store.artifacts.staging_path(".parquet") as staging:
        pq.write_table(table, staging, compression="zstd")
        return store.artifacts.put_file(staging, suffix=".parquet", move=True)
