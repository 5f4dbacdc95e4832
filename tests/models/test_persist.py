"""Model files: every family round-trips bit for bit; nothing untrusted or unchecked is loaded."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from loopml.errors import StoreError
from loopml.features import build_preprocessor
from loopml.features.categorical import target_encoder
from loopml.features.preprocess import ENCODINGS
from loopml.models import FAMILIES, make_pipeline
from loopml.models.persist import (
    _NEVER_TRUSTED_MODULES,
    TRUSTED_TYPES,
    _canonical,
    dump_model,
    load_model,
)
from loopml.models.trained import Calibration, TrainedModel
from tests.models.conftest import DEMO_CATEGORICAL, DEMO_CSV, DEMO_NUMERIC, SEED

TASKS = {"binary": "late", "multiclass": "origin", "regression": "temp"}
# Few rounds / trees: the types saved do not depend on the number of rounds.
SMALL = {"n_estimators": 5, "max_iter": 5, "iterations": 5}
CASES = [(task, name) for task in TASKS for name, f in FAMILIES.items() if f.supports(task)]
NATIVE = [(task, name) for task, name in CASES if FAMILIES[name].encoding == "native"]
# Written only with some installed versions: in TRUSTED_TYPES, but maybe not seen here.
OPTIONAL_TYPES = {
    name
    for name in TRUSTED_TYPES
    if name.split(".")[0] in ("xgboost", "catboost")
    and importlib.util.find_spec(name.split(".")[0]) is None
}
if not hasattr(target_encoder(SEED).cv, "split"):  # scikit-learn < 1.9: cv is a number
    OPTIONAL_TYPES.add("sklearn.model_selection._split.KFold")


@dataclass
class Task:
    task: str
    roles: dict[str, str]
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    classes: list[Any] | None


def _frame() -> pd.DataFrame:
    """500 demo rows with missing numbers, categories and dates, and a boolean column."""
    frame = pd.read_csv(DEMO_CSV).dropna(subset=["late", "temp"])
    frame = frame.sample(500, random_state=SEED).reset_index(drop=True)
    frame.loc[::17, "carrier"] = np.nan
    frame.loc[::23, "flight_date"] = np.nan
    frame.loc[::19, "distance"] = np.nan
    return frame


@pytest.fixture(scope="module")
def tasks() -> dict[str, Task]:
    """A binary (`late`), multiclass (`origin`) and regression (`temp`) task on the demo table."""
    return build_tasks()


def build_tasks() -> dict[str, Task]:
    """The tasks of the `tasks` fixture (also run in a fresh interpreter below)."""
    frame = _frame()
    out = {}
    for task, target in TASKS.items():
        roles = {
            "flight_date": "datetime",
            **dict.fromkeys(DEMO_NUMERIC, "numeric"),
            **dict.fromkeys(DEMO_CATEGORICAL, "categorical"),
            "late": "boolean",
        }
        roles[target] = "target"
        X = frame[[name for name, role in roles.items() if role != "target"]]
        y = frame[target]
        classes = None if task == "regression" else sorted(y.unique().tolist())
        out[task] = Task(task, roles, X[:400], y[:400], X[400:], y[400:], classes)
    return out


def _fit(data: Task, family: str, *, early_stopping: bool = False) -> TrainedModel:
    defaults = FAMILIES[family].default_params(data.task)
    params = {key: value for key, value in SMALL.items() if key in defaults}
    y_train, y_test, classes = data.y_train, data.y_test, data.classes
    if family == "xgboost" and classes is not None:  # XGBoost learns only codes 0..k-1
        codes = {value: code for code, value in enumerate(classes)}
        y_train, y_test, classes = y_train.map(codes), y_test.map(codes), list(range(len(codes)))
    pipeline = make_pipeline(family, data.task, data.roles, params, seed=SEED, n_jobs=1)
    # One OpenMP thread: HistGradientBoosting's spin-waiting threads crawl on a busy machine.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # five rounds do not converge
        if early_stopping:
            pipeline.fit(
                data.X_train, y_train, X_val=data.X_test, y_val=y_test, early_stopping_rounds=2
            )
        else:
            pipeline.fit(data.X_train, y_train)
    columns = list(data.X_train.columns)
    return TrainedModel([pipeline], [1.0], task=data.task, columns=columns, classes=classes)


CALIBRATIONS = {
    "sigmoid": ("binary", Calibration("sigmoid", {"a": 1.3, "b": -0.2})),
    "isotonic": ("binary", Calibration("isotonic", {"x": [0.0, 0.3, 1.0], "y": [0.05, 0.4, 0.9]})),
    "temperature": ("multiclass", Calibration("temperature", {"t": 1.7})),
    "none": ("regression", None),
}
ENSEMBLE = ["lightgbm", "random_forest", "knn"]
KNN_DISTANCES = [1, 2]  # Manhattan, Euclidean
PREPROCESSING = [
    (encoding, scale, impute)
    for encoding in ENCODINGS
    for scale in (False, True)
    for impute in (False, True)
]


@dataclass
class Saved:
    model: Any
    blob: bytes
    digest: str
    X_test: pd.DataFrame


class Models:
    """Every kind of model file this module checks, each fitted and saved once when first asked."""

    def __init__(self, tasks: dict[str, Task]) -> None:
        self.tasks = tasks
        self._saved: dict[tuple[Any, ...], Saved] = {}

    def all_keys(self) -> list[tuple[Any, ...]]:
        return [
            *(("family", task, family) for task, family in CASES),
            *(("early", task, family) for task, family in NATIVE),
            *(("ensemble", kind) for kind in CALIBRATIONS),
            *(("preprocess", *options) for options in PREPROCESSING),
            *(("few_columns_knn", p) for p in KNN_DISTANCES),
        ]

    def __call__(self, *key: Any) -> Saved:
        if key not in self._saved:
            model, X_test = self._build(*key)
            blob = dump_model(model)
            self._saved[key] = Saved(model, blob, hashlib.sha256(blob).hexdigest(), X_test)
        return self._saved[key]

    def _build(self, kind: str, *args: Any) -> tuple[Any, pd.DataFrame]:
        if kind in ("family", "early"):
            task, family = args
            return _fit(self.tasks[task], family, early_stopping=kind == "early"), self.tasks[
                task
            ].X_test
        if kind == "ensemble":
            task, calibration = CALIBRATIONS[args[0]]
            data = self.tasks[task]
            members = [self("family", task, name).model.members[0] for name in ENSEMBLE]
            model = TrainedModel(
                members,
                [0.5, 0.3, 0.2],
                task=task,
                columns=list(data.X_train.columns),
                classes=data.classes,
                calibration=calibration,
                threshold=0.37,
                names=ENSEMBLE,
            )
            return model, data.X_test
        if kind == "few_columns_knn":  # few dense columns: kNN builds a KD-tree
            data = self.tasks["regression"]
            numeric = [name for name in DEMO_NUMERIC if data.roles[name] == "numeric"]
            roles = {**dict.fromkeys(numeric, "numeric"), "temp": "target"}
            pipeline = make_pipeline("knn", "regression", roles, {"p": args[0]}, seed=SEED)
            pipeline.fit(data.X_train[numeric], data.y_train)
            model = TrainedModel([pipeline], [1.0], task="regression", columns=numeric)
            return model, data.X_test[numeric]
        encoding, scale, impute = args
        data = self.tasks["multiclass"]  # multiclass target encoding writes the most
        preprocessor = build_preprocessor(
            data.roles, encoding=encoding, scale=scale, impute=impute, max_onehot=5, seed=SEED
        )
        pipeline = Pipeline([("preprocess", preprocessor), ("model", DummyClassifier())])
        return pipeline.fit(data.X_train, data.y_train), data.X_test


@pytest.fixture(scope="module")
def models(tasks: dict[str, Task]) -> Models:
    """Fitted, saved models by key (see `Models.all_keys`), shared by the tests of this module."""
    return Models(tasks)


def _untrusted(blob: bytes) -> set[str]:
    return set(skops.io.get_untrusted_types(data=blob))


def _assert_same_predictions(saved: TrainedModel, loaded: Any, X: pd.DataFrame) -> None:
    assert type(loaded) is TrainedModel
    if saved.classes is not None:
        np.testing.assert_array_equal(loaded.predict_proba(X), saved.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), saved.predict(X))


@pytest.mark.parametrize(("task", "family"), CASES)
def test_every_family_round_trips_bit_for_bit(task: str, family: str, models: Models) -> None:
    saved = models("family", task, family)
    loaded = load_model(saved.blob, sha256=saved.digest)
    _assert_same_predictions(saved.model, loaded, saved.X_test)
    assert loaded.columns == saved.model.columns
    assert loaded.classes == saved.model.classes


@pytest.mark.parametrize(("task", "family"), NATIVE)
def test_early_stopped_boosters_round_trip(task: str, family: str, models: Models) -> None:
    saved = models("early", task, family)
    _assert_same_predictions(saved.model, load_model(saved.blob, sha256=saved.digest), saved.X_test)


@pytest.mark.parametrize("calibration", CALIBRATIONS)
def test_an_ensemble_with_a_calibration_round_trips(calibration: str, models: Models) -> None:
    saved = models("ensemble", calibration)
    loaded = load_model(saved.blob, sha256=saved.digest)
    _assert_same_predictions(saved.model, loaded, saved.X_test)
    assert (loaded.names, loaded.weights, loaded.threshold) == (
        ENSEMBLE,
        saved.model.weights,
        0.37,
    )
    expected = CALIBRATIONS[calibration][1]
    if expected is None:
        assert loaded.calibration is None
    else:
        assert type(loaded.calibration) is Calibration
        assert (loaded.calibration.kind, loaded.calibration.params) == (
            expected.kind,
            expected.params,
        )


@pytest.mark.parametrize(("encoding", "scale", "impute"), PREPROCESSING)
def test_every_preprocessing_option_round_trips(
    encoding: str, scale: bool, impute: bool, models: Models
) -> None:
    saved = models("preprocess", encoding, scale, impute)
    loaded = load_model(saved.blob, sha256=saved.digest)
    np.testing.assert_array_equal(
        loaded[0].transform(saved.X_test), saved.model[0].transform(saved.X_test)
    )


@pytest.mark.parametrize("p", KNN_DISTANCES)
def test_a_knn_model_on_few_columns_round_trips(p: int, models: Models) -> None:
    saved = models("few_columns_knn", p)
    assert "sklearn.neighbors._kd_tree.KDTree" in _untrusted(saved.blob)
    _assert_same_predictions(saved.model, load_model(saved.blob, sha256=saved.digest), saved.X_test)


def test_trusted_types_are_exactly_the_types_loopml_writes(models: Models) -> None:
    seen: set[str] = set()
    for key in models.all_keys():
        found = _untrusted(models(*key).blob)
        assert found <= TRUSTED_TYPES, f"{key} holds untrusted {sorted(found - TRUSTED_TYPES)}"
        seen |= found
    assert TRUSTED_TYPES - seen - OPTIONAL_TYPES == set(), "no model writes these entries"


DETERMINISM = [
    ("family", "binary", "logistic"),
    ("family", "multiclass", "random_forest"),
    ("family", "regression", "lightgbm"),
    ("early", "binary", "hist_gradient_boosting"),
    ("ensemble", "sigmoid"),
]
_DIGESTS = """
import json, sys, warnings
warnings.simplefilter("ignore")
from tests.models.test_persist import Models, build_tasks
models = Models(build_tasks())
print(json.dumps([models(*key).digest for key in json.loads(sys.argv[1])]))
"""


def test_the_same_model_gives_the_same_bytes_in_another_interpreter(models: Models) -> None:
    # Invariant 1: the same data, spec and seed give the same model file, hence one address
    # (skops alone names objects and array files by id() and dates the zip entries).
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", _DIGESTS, json.dumps(DETERMINISM)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [models(*key).digest for key in DETERMINISM]


def test_model_files_name_their_parts_by_position(models: Models) -> None:
    blob = models("family", "binary", "random_forest").blob
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == ["schema.json", *(f"{i}.npy" for i in range(1, len(names)))]
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_an_unknown_skops_layout_is_kept_as_skops_wrote_it() -> None:
    raw = skops.io.dumps({"rows": np.arange(3)})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as changed, zipfile.ZipFile(io.BytesIO(raw)) as source:
        for item in source.namelist():
            changed.writestr(item, source.read(item))
        changed.writestr("extra.bin", b"unreferenced")
    assert _canonical(out.getvalue()) == out.getvalue()


def test_dangerous_names_are_not_trusted() -> None:
    for name in ("builtins.eval", "builtins.exec", "posix.system", "os.system", "io.open"):
        assert name not in TRUSTED_TYPES
    assert all("*" not in name and name.count(".") >= 1 for name in TRUSTED_TYPES)
    assert not {name.split(".")[0] for name in TRUSTED_TYPES} & _NEVER_TRUSTED_MODULES


def test_a_model_skops_cannot_save_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot be saved as a safe skops file"):
        dump_model({"rows": (row for row in range(3))})


# --- refusals ----------------------------------------------------------------------------


class Foreign:
    """A class loopml never writes."""

    def __init__(self, value: int) -> None:
        self.value = value


FOREIGN = f"{__name__}.Foreign"


class Touch:
    """Unpickling this creates `path`: proof that a payload was (or was not) unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _small_model(tasks: dict[str, Task]) -> bytes:
    return dump_model(_fit(tasks["binary"], "decision_tree"))


def _assert_one_sentence(message: str) -> None:
    assert "Traceback" not in message
    assert "\n" not in message
    assert "Error" not in message


def test_a_changed_byte_fails_the_checksum(tasks: dict[str, Task]) -> None:
    blob = _small_model(tasks)
    digest = _digest(blob)
    changed = bytearray(blob)
    changed[len(changed) // 2] ^= 0x01
    with pytest.raises(StoreError, match="checksum") as caught:
        load_model(bytes(changed), sha256=digest, name="model file `m1`")
    assert caught.value.message.startswith("model file `m1` does not match the store's checksum")
    _assert_one_sentence(caught.value.message)


def test_truncated_bytes_with_their_own_checksum_are_unreadable(tasks: dict[str, Task]) -> None:
    blob = _small_model(tasks)
    for cut in (blob[: len(blob) // 2], blob[:10], b""):
        with pytest.raises(StoreError, match="not a model file loopml can read") as caught:
            load_model(cut, sha256=_digest(cut))
        _assert_one_sentence(caught.value.message)


def test_a_foreign_type_is_refused_and_named() -> None:
    blob = dump_model({"model": Foreign(3), "rows": np.arange(3)})
    with pytest.raises(StoreError, match="loads only the types it writes") as caught:
        load_model(blob, sha256=_digest(blob))
    assert f"`{FOREIGN}`" in caught.value.message
    _assert_one_sentence(caught.value.message)


def test_a_foreign_type_loads_when_the_spec_trusts_it() -> None:
    blob = dump_model({"model": Foreign(3), "rows": np.arange(3)})
    loaded = load_model(blob, sha256=_digest(blob), trusted=[FOREIGN])
    assert isinstance(loaded["model"], Foreign)
    assert loaded["model"].value == 3
    np.testing.assert_array_equal(loaded["rows"], np.arange(3))


def test_at_most_five_refused_types_are_named() -> None:
    blob = dump_model([eval, exec, os.system, open, print, getattr, Foreign(1)])
    with pytest.raises(StoreError) as caught:
        load_model(blob, sha256=_digest(blob))
    message = caught.value.message
    assert "`builtins.eval`" in message
    assert "and 2 more" in message
    assert message.count("`") == 10


def test_functions_that_run_code_are_refused_even_inside_a_trusted_partial(
    tmp_path: Path,
) -> None:
    target = tmp_path / "pwned"
    blob = dump_model({"f": functools.partial(os.system, f"touch {target}")})
    with pytest.raises(StoreError, match=r"system`"):
        load_model(blob, sha256=_digest(blob))
    assert not target.exists()


@pytest.mark.parametrize("name", ["builtins.eval", "os.system", "posix.system", "subprocess.run"])
def test_the_spec_cannot_trust_code_runners(name: str) -> None:
    blob = dump_model({"f": eval})
    with pytest.raises(StoreError, match="never loads it"):
        load_model(blob, sha256=_digest(blob), trusted=[name])


@pytest.mark.parametrize("name", ["sklearn.*", "Foreign", ""])
def test_the_spec_trusts_only_full_type_names(name: str) -> None:
    blob = dump_model({"model": Foreign(3)})
    with pytest.raises(StoreError, match="not a full type name"):
        load_model(blob, sha256=_digest(blob), trusted=[name])


def test_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    target = tmp_path / "unpickled"
    payload = pickle.dumps(Touch(target))
    with pytest.raises(StoreError, match="not a model file loopml can read") as caught:
        load_model(payload, sha256=_digest(payload), trusted=[f"{__name__}.Touch"])
    _assert_one_sentence(caught.value.message)
    assert not target.exists()


def test_a_pickled_array_inside_a_skops_file_is_never_unpickled(tmp_path: Path) -> None:
    target = tmp_path / "unpickled"
    blob = dump_model({"rows": np.arange(3.0)})
    evil = io.BytesIO()
    np.save(evil, np.array([Touch(target)], dtype=object), allow_pickle=True)
    source = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as crafted:
        for item in source.namelist():
            data = source.read(item)
            crafted.writestr(item, data if item == "schema.json" else evil.getvalue())
    payload = out.getvalue()
    with pytest.raises(StoreError, match="not a model file loopml can read"):
        load_model(payload, sha256=_digest(payload))
    assert not target.exists()


def test_a_model_needing_a_missing_package_says_which() -> None:
    blob = dump_model({"model": Foreign(3)})
    source = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as changed:
        for item in source.namelist():
            data = source.read(item)
            if item == "schema.json":
                data = data.replace(__name__.encode(), b"not_installed_pkg.models")
            changed.writestr(item, data)
    payload = out.getvalue()
    with pytest.raises(StoreError, match="`not_installed_pkg`, which is not installed"):
        load_model(payload, sha256=_digest(payload), trusted=["not_installed_pkg.models.Foreign"])
