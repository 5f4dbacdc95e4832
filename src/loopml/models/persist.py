"""Safe model files (design invariant 5): skops bytes, loaded only through an allow-list.

    data = dump_model(model)                          # skops bytes; the store keeps their sha256
    model = load_model(data, sha256=digest)           # checksum, then types, then skops

Nothing is unpickled. `load_model` first checks that the bytes are the ones the store
recorded (their sha256), then asks skops which types the file holds that skops does not trust
by default, and refuses the file unless each of them is in `TRUSTED_TYPES` (the types loopml
itself writes) or in `trusted` (the classes of a user's custom model families, named in their
spec). Only then does skops build the objects, and it builds only those types.

skops (0.15 and 0.16, the versions this list was checked with) trusts by default the
builtin scalars and containers, numpy arrays, dtypes' scalar types and ufuncs, scipy ufuncs,
every public scikit-learn estimator and a few scikit-learn internals (losses, links, the
histogram binner). `TRUSTED_TYPES` lists, by full
name, everything else that a fitted `TrainedModel` of a built-in family holds: it is checked
by `tests/models/test_persist.py`, which saves every family for every task and asserts that
skops reports nothing outside it (and nothing in it that no model writes). skops 0.13 and
older do not trust HistGradientBoosting's internals, hence `skops>=0.15` in pyproject.toml.

`dump_model` writes canonical bytes, so the same model gets the same sha256 (invariant 1).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterable
from typing import Any

from loopml.errors import StoreError

# Full type names, never prefixes. Classes are rebuilt by skops with `cls.__new__` and their
# saved attributes (or the class's own `__setstate__`); functions and types are looked up by
# name and never called while loading. Each entry says where loopml writes it and why it is safe.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        # --- loopml's own classes and functions (plain attributes; no code runs on load) ---
        "loopml.models.trained.TrainedModel",
        "loopml.models.trained.Calibration",
        "loopml.models.pipeline.NativePipeline",  # a sklearn Pipeline subclass, no attributes added
        "loopml.features.datetimes.DatetimeFeatures",
        # A ColumnTransformer column selector holding column names, a count and a flag.
        "loopml.features.categorical.CardinalitySelector",
        # Functions referenced by FunctionTransformer(func=) and OneHotEncoder's
        # feature_name_combiner: they only convert or name columns.
        "loopml.features.categorical.onehot_name",
        "loopml.features.frames.as_categories",
        "loopml.features.frames.as_numbers",
        # --- standard library and numpy ---
        # LightGBM's evals_result_ / best_score_ (and, as a type, a defaultdict's factory).
        "collections.OrderedDict",
        # HistGradientBoosting's internal preprocessor holds partial(check_array, ...). skops
        # rebuilds a plain `partial` (never a subclass) and audits its function and arguments
        # as nodes of their own, so trusting `partial` makes no untrusted callable loadable.
        "functools.partial",
        # SimpleImputer's _fit_dtype: skops rebuilds a dtype from an empty .npy array read
        # with allow_pickle=False.
        "numpy.dtype",
        # --- scikit-learn internals ---
        # TargetEncoder's cv (scikit-learn >= 1.9): three numbers.
        "sklearn.model_selection._split.KFold",
        # The function inside HistGradientBoosting's partial (see functools.partial).
        "sklearn.utils.validation.check_array",
        # skops 0.16 stopped trusting the fitted tree structures by default: their node
        # arrays are indexed without bounds checks, so a *crafted* file can crash the process
        # at predict time (a read out of bounds, not code execution). Here the bytes must
        # match the sha256 the store recorded when loopml wrote them, so they are not
        # crafted: they are exactly the trees loopml fitted.
        "sklearn.tree._tree.Tree",  # decision tree, random forest, extra trees
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # kNN on dense data with at most 15 columns: scikit-learn's "auto" algorithm builds a
        # KD-tree (node arrays, same argument as the trees above) with the distance metric of
        # the family's `p` (1: Manhattan, 2: Euclidean; a DistanceMetric holds only numbers).
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        # --- boosters (the optional ones only matter when installed) ---
        # The scikit-learn wrappers hold parameters and the booster; the Booster's
        # __setstate__ hands the saved model text / bytes to the library's own model
        # parser (LightGBM's LoadModelFromString, XGBoost's UnserializeFromBuffer,
        # CatBoost's binary model loader): no Python object is rebuilt from them.
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "catboost.core.CatBoostClassifier",
        "catboost.core.CatBoostRegressor",
    }
)

# Modules whose callables run code, touch the system or unpickle: a spec's `trusted` names
# can never unlock them (a custom model family's estimator class never lives there).
_NEVER_TRUSTED_MODULES: frozenset[str] = frozenset(
    {
        "builtins",
        "code",
        "codeop",
        "ctypes",
        "dill",
        "importlib",
        "io",
        "joblib",
        "marshal",
        "nt",
        "operator",
        "os",
        "pickle",
        "posix",
        "pty",
        "runpy",
        "shutil",
        "socket",
        "subprocess",
        "sys",
        "types",
    }
)
_SHOWN = 5  # offending types named in an error, at most
_SCHEMA = "schema.json"  # skops' description of the objects; arrays and bytes are files beside it
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def dump_model(model: Any) -> bytes:
    """`model` as skops bytes (store them under their sha256; load them with `load_model`).

    The bytes are canonical (invariant 1: the same model gives the same address): skops
    names its objects and array files by `id()` (or a random uuid) and stamps the zip entries
    with the time, so the ids are renumbered in schema order, the files renamed to match and
    the entries written uncompressed (no zlib version in the bytes) with a fixed date.
    """
    import skops.io

    try:
        raw = skops.io.dumps(model)
    except Exception as err:  # skops' UnsupportedTypeException and the like
        raise StoreError(
            f"the model cannot be saved as a safe skops file ({err}); a custom model family "
            "must be built from scikit-learn compatible parts that skops can save"
        ) from err
    return _canonical(raw)


def load_model(
    data: bytes,
    *,
    sha256: str,
    trusted: Iterable[str] = (),
    name: str = "the model file",
) -> Any:
    """The model saved in `data`, once its checksum and every type it holds are trusted.

    `sha256` is the hex digest the store recorded for the file; `trusted` are extra full type
    names (the estimator classes of a user's custom families, as declared in the spec);
    `name` says which file this is in error messages. Raises StoreError, with one sentence,
    when the bytes do not match the checksum, are not a skops file, or hold a type that is
    neither in `TRUSTED_TYPES` nor in `trusted`.
    """
    import skops.io

    if hashlib.sha256(data).hexdigest() != str(sha256).strip().lower():
        raise StoreError(
            f"{name} does not match the store's checksum: it was changed or truncated "
            "after loopml saved it; retrain the model or restore the file"
        )
    extra = _check_extra(trusted)
    allowed = TRUSTED_TYPES | extra
    try:
        found = skops.io.get_untrusted_types(data=data)
    except Exception as err:
        raise _unreadable(name) from err
    refused = sorted(set(found) - allowed)
    if refused:
        shown = ", ".join(f"`{type_name}`" for type_name in refused[:_SHOWN])
        more = f" and {len(refused) - _SHOWN} more" if len(refused) > _SHOWN else ""
        raise StoreError(
            f"{name} holds type(s) {shown}{more} that loopml did not write, and loopml loads "
            "only the types it writes; if they are the classes of a custom model family, "
            "declare them in the spec, otherwise retrain the model"
        )
    try:
        return skops.io.loads(data, trusted=sorted(allowed))
    except ImportError as err:
        package = (getattr(err, "name", None) or "").split(".")[0]
        needs = f"the Python package `{package}`" if package else "a Python package"
        raise StoreError(
            f"{name} holds a model that needs {needs}, which is not installed here; "
            "install it and load the model again"
        ) from err
    except Exception as err:
        raise _unreadable(name) from err


def _canonical(raw: bytes) -> bytes:
    """skops bytes with ids, file names and zip dates that depend only on the model."""
    with zipfile.ZipFile(io.BytesIO(raw)) as source:
        schema = json.loads(source.read(_SCHEMA))
        members = {name: source.read(name) for name in source.namelist() if name != _SCHEMA}
    ids: dict[int, int] = {}
    files: dict[str, str] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if "__loader__" in node:  # a node's state (a dict's items are in its "content")
                saved_id = node.get("__id__")
                if isinstance(saved_id, int) and not isinstance(saved_id, bool):
                    node["__id__"] = ids.setdefault(saved_id, len(ids) + 1)  # 0 is not memoised
                file = node.get("file")
                if isinstance(file, str):
                    files.setdefault(file, f"{len(files) + 1}{os.path.splitext(file)[1]}")
                    node["file"] = files[file]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    if set(files) != set(members):  # a layout this code does not know: keep skops' own bytes
        return raw
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        entries = [(_SCHEMA, json.dumps(schema, separators=(",", ":")).encode())]
        entries += [(new, members[old]) for old, new in files.items()]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.create_system = 3  # "Unix" on every platform
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    return out.getvalue()


def _check_extra(trusted: Iterable[str]) -> frozenset[str]:
    if isinstance(trusted, str):
        trusted = [trusted]
    names = frozenset(str(type_name).strip() for type_name in trusted)
    for type_name in sorted(names):
        module, _, attribute = type_name.rpartition(".")
        if not module or not attribute or "*" in type_name:
            raise StoreError(
                f"trusted type `{type_name}` is not a full type name; "
                "name the class with its module, like `mypackage.models.MyClassifier`"
            )
        if module.split(".")[0] in _NEVER_TRUSTED_MODULES:
            raise StoreError(
                f"trusted type `{type_name}` can run code or reach the system, and loopml never "
                "loads it from a model file; remove it from the spec"
            )
    return names


def _unreadable(name: str) -> StoreError:
    return StoreError(
        f"{name} is not a model file loopml can read (it is damaged or not a skops file); "
        "retrain the model or restore the file"
    )
