"""An ONNX graph of a compiled TrainedModel, computed in float64 like loopml itself.

The graph is built from `compile_model`'s members, not from the scikit-learn pipelines
(their FunctionTransformers have no converters):

- numeric columns: the imputer's fills (`IsNaN`, `Where`), missing indicators, the scaler
  (`Sub`, `Div`); date columns (seconds since 1970 in): the date parts, by `Floor`/`Div`;
- categorical and boolean columns: each column's tabulated encoder output (one-hot, ordinal,
  target encoding, native codes) looked up by a `LabelEncoder` from text to row, with an
  unseen row and a missing row (missing text is "");
- LightGBM, HistGradientBoosting, scikit-learn trees and forests: one float64
  `ai.onnx.ml.TreeEnsemble` each (`loopml.serve.onnx_trees`), then the boosters' link;
- logistic and ridge regression: `MatMul`, `Add`, `Sigmoid` / `Softmax`; the baseline's
  constants;
- the ensemble's weights, the calibration (sigmoid, isotonic, temperature), the threshold.

A part with no ONNX form here (kNN, XGBoost, CatBoost, a user's family or step) is
refused with an `ExportError` naming it.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

from loopml.errors import ExportError
from loopml.serve.onnx_inputs import MISSING_TEXT, TEXT_ROLES
from loopml.serve.onnx_trees import (
    hist_gradient_boosting_forest,
    lightgbm_forest,
    sklearn_forest,
)

OPSETS = {"": 21, "ai.onnx.ml": 5}
_EPS = 1e-12  # loopml.models.trained's clipping of probabilities before logs
_MAX_CASED = 8  # boolean texts up to this long get every upper/lower-case spelling as a key
_IDENTITY_OBJECTIVES = ("regression", "regression_l1", "huber", "fair", "quantile", "mape")
_EXP_OBJECTIVES = ("poisson", "gamma", "tweedie")


def build_graph(model: Any, signature: dict[str, Any], *, version: dict[str, Any]) -> Any:
    """The onnx.ModelProto scoring `model` (a compiled TrainedModel) from one input per column."""
    from onnx import TensorProto, helper

    roles = {c["name"]: c["role"] for c in signature["columns"]}
    g = _Graph()
    inputs = []
    for name in model.columns:
        text = roles.get(name) in TEXT_ROLES
        kind = TensorProto.STRING if text else TensorProto.DOUBLE
        inputs.append(helper.make_tensor_value_info(name, kind, [None, 1]))
    members = [
        _member(g, member, name, model)
        for member, name in zip(model.members, model.names, strict=True)
    ]
    weighted = [
        g.op("Mul", [out, g.const(np.array(w))])
        for out, w in zip(members, model.weights, strict=True)
    ]
    total = weighted[0]
    for part in weighted[1:]:
        total = g.op("Add", [total, part])
    outputs = _outputs(g, total, model)
    graph = helper.make_graph(g.nodes, "loopml", inputs, outputs, g.initializers)
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, v) for domain, v in OPSETS.items()],
        producer_name="loopml",
        ir_version=10,
    )
    helper.set_model_props(proto, _metadata(model, roles, version, g.date_formats))
    return proto


def _outputs(g: _Graph, total: str, model: Any) -> list[Any]:
    """`prediction`, and for a classifier `probabilities`: calibrated, then decided."""
    from onnx import TensorProto, helper

    if model.classes is None:
        g.op("Reshape", [total, g.const(np.array([-1], np.int64))], out="prediction")
        return [helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, [None])]
    proba = _calibrate(g, total, model.calibration)
    g.op("Identity", [proba], out="probabilities")
    if model.task == "binary":  # positive when P(classes[1]) >= threshold
        positive = g.op("Slice", [proba, *g.consts([1], [2], [1])])
        chosen = g.op("GreaterOrEqual", [positive, g.const(np.array(model.threshold))])
        chosen = g.op("Cast", [chosen], to=TensorProto.INT64)
        position = g.op("Reshape", [chosen, g.const(np.array([-1], np.int64))])
    else:
        position = g.op("ArgMax", [proba], axis=1, keepdims=0)
    labels, kind = _labels(model.classes)
    g.op("Gather", [g.const(labels), position], out="prediction", axis=0)
    shape = [None, len(model.classes)]
    return [
        helper.make_tensor_value_info("prediction", kind, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, shape),
    ]


def _metadata(
    model: Any, roles: dict[str, str], version: dict[str, Any], formats: dict[str, Any]
) -> dict[str, str]:
    """The graph's metadata_props: the model version, the columns and their types, classes,
    and each date column's text format (its input is seconds since 1970-01-01 UTC)."""
    columns = [
        {"name": n, "type": "string" if roles.get(n) in TEXT_ROLES else "double"}
        for n in model.columns
    ]
    classes = None if model.classes is None else [_plain(c) for c in model.classes]
    return {
        "loopml.project": version["project"],
        "loopml.version": str(version["version"]),
        "loopml.task": model.task,
        "loopml.columns": json.dumps(columns),
        "loopml.classes": json.dumps(classes),
        "loopml.missing_text": MISSING_TEXT,
        "loopml.date_formats": json.dumps(formats),
    }


class _Graph:
    """Nodes and constants under unique names."""

    def __init__(self) -> None:
        self.date_formats: dict[str, str | None] = {}  # per date column, as training read it
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"loopml::{self.count}"

    def const(self, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name()
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def consts(self, *values: list[int]) -> list[str]:
        return [self.const(np.array(v, np.int64)) for v in values]

    def op(
        self,
        kind: str,
        inputs: list[str],
        *,
        out: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> str:
        from onnx import helper

        out = out or self.name()
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, domain=domain, **attrs))
        return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _labels(classes: list[Any]) -> tuple[np.ndarray, int]:
    from onnx import TensorProto

    plain = [_plain(c) for c in classes]
    if all(isinstance(c, int) and not isinstance(c, bool) for c in plain):
        return np.array(plain, np.int64), TensorProto.INT64
    if all(isinstance(c, float) for c in plain):
        return np.array(plain, np.float64), TensorProto.DOUBLE
    return np.array([str(c) for c in plain], dtype=object), TensorProto.STRING


# --- one member: preprocessing, estimator, probabilities in the model's class order ----------


def _member(g: _Graph, member: Any, name: str, model: Any) -> str:
    from loopml.models.compiled import _Lookup, _Numeric

    if getattr(member, "blocks", None) is None:
        raise ExportError.no_onnx_form(f"ensemble member `{name}` (not one of loopml's pipelines)")
    parts = []
    stop = 0
    for where, block in sorted(member.blocks, key=lambda b: b[0].start):
        if where.start != stop:
            raise ExportError.no_onnx_form(f"the preprocessing of member `{name}`")
        stop = where.stop
        if isinstance(block, _Numeric):
            parts.append(_numeric(g, block))
        elif isinstance(block, _Lookup):
            parts.append(_lookup(g, block))
        else:
            raise ExportError.no_onnx_form(
                f"the step for column(s) {', '.join(f'`{c}`' for c in block.columns)}"
            )
    if stop != member.n_features:
        raise ExportError.no_onnx_form(f"the preprocessing of member `{name}`")
    X = parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=1)
    out = _estimator(g, member, X, name)
    if model.classes is None:
        return g.op("Reshape", [out, g.const(np.array([-1, 1], np.int64))])
    return _in_order(g, out, list(member.classes_), list(model.classes))


def _numeric(g: _Graph, block: Any) -> str:
    """Numbers or date parts, then the imputer's fills and indicators and the scaler."""
    from onnx import TensorProto

    from loopml.features.datetimes import DatetimeFeatures
    from loopml.models.compiled import _floats

    if block.source is _floats:
        sources = block.columns
    else:
        dates = getattr(block.source, "__self__", None)  # DatetimeFeatures.transform_columns
        if not isinstance(dates, DatetimeFeatures):
            shown = ", ".join(f"`{c}`" for c in block.columns)
            raise ExportError.no_onnx_form(f"the step for column(s) {shown}")
        sources = []
        for name, parts, fmt in zip(block.columns, dates.parts_, dates.formats_, strict=True):
            if g.date_formats.setdefault(name, fmt) != fmt:
                raise ExportError.no_onnx_form(f"date column `{name}` read in two formats")
            sources.append(_date_parts(g, name, parts))
    X = sources[0] if len(sources) == 1 else g.op("Concat", sources, axis=1)
    if block.fill is not None:
        missing = g.op("IsNaN", [X])
        X = g.op("Where", [missing, g.const(block.fill.reshape(1, -1)), X])
        if block.indicators is not None and len(block.indicators):
            flags = g.op(
                "Gather", [missing, g.const(np.asarray(block.indicators, np.int64))], axis=1
            )
            X = g.op("Concat", [X, g.op("Cast", [flags], to=TensorProto.DOUBLE)], axis=1)
    if block.mean is not None:
        X = g.op("Sub", [X, g.const(block.mean.reshape(1, -1))])
    if block.scale is not None:
        X = g.op("Div", [X, g.const(block.scale.reshape(1, -1))])
    return X


def _date_parts(g: _Graph, name: str, parts: list[str]) -> str:
    """DatetimeFeatures' parts of a date given as seconds since 1970-01-01 (NaN: missing),
    in exact whole-number arithmetic: the civil date by H. Hinnant's `civil_from_days`."""
    from onnx import TensorProto

    def num(value: float) -> str:
        return g.const(np.array(float(value)))

    def floor_div(a: str, b: float) -> str:
        return g.op("Floor", [g.op("Div", [a, num(b)])])

    def minus(a: str, b: str) -> str:
        return g.op("Sub", [a, b])

    def times(a: str, b: float) -> str:
        return g.op("Mul", [a, num(b)])

    seconds = name
    days = floor_div(seconds, 86400)
    z = g.op("Add", [days, num(719468)])
    era = floor_div(z, 146097)
    doe = minus(z, times(era, 146097))
    yoe = floor_div(
        g.op(
            "Sub",
            [
                g.op("Add", [minus(doe, floor_div(doe, 1460)), floor_div(doe, 36524)]),
                floor_div(doe, 146096),
            ],
        ),
        365,
    )
    doy = minus(doe, g.op("Add", [times(yoe, 365), minus(floor_div(yoe, 4), floor_div(yoe, 100))]))
    mp = floor_div(g.op("Add", [times(doy, 5), num(2)]), 153)
    day = g.op("Add", [minus(doy, floor_div(g.op("Add", [times(mp, 153), num(2)]), 5)), num(1)])
    march_on = g.op("Cast", [g.op("GreaterOrEqual", [mp, num(10)])], to=TensorProto.DOUBLE)
    month = minus(g.op("Add", [mp, num(3)]), times(march_on, 12))
    year = g.op("Add", [g.op("Add", [yoe, times(era, 400)]), march_on])
    # 1 January of `year`: days_from_civil(year, 1, 1)
    before = g.op("Sub", [year, num(1)])
    era1 = floor_div(before, 400)
    yoe1 = minus(before, times(era1, 400))
    doe1 = g.op(
        "Add",
        [
            g.op("Add", [times(yoe1, 365), minus(floor_div(yoe1, 4), floor_div(yoe1, 100))]),
            num(306),
        ],
    )
    january = minus(g.op("Add", [times(era1, 146097), doe1]), num(719468))
    shifted = g.op("Add", [days, num(3)])  # 1970-01-01 was a Thursday; Monday = 0
    values = {
        "year": year,
        "month": month,
        "day": day,
        "weekday": minus(shifted, times(floor_div(shifted, 7), 7)),
        "day_of_year": g.op("Add", [minus(days, january), num(1)]),
        "hour": floor_div(minus(seconds, times(days, 86400)), 3600),
        "days_since_epoch": g.op("Div", [seconds, num(86400)]),
    }
    columns = [values[part] for part in parts]
    return columns[0] if len(columns) == 1 else g.op("Concat", columns, axis=1)


def _lookup(g: _Graph, block: Any) -> str:
    parts, order = [], []
    for name, where, table, (index, _) in zip(
        block.columns, block.positions, block.tables, block.index, strict=True
    ):
        values = [str(v) for v in index]
        if MISSING_TEXT in values:
            raise ExportError.no_onnx_form(f"the empty category of column `{name}`")
        unseen, missing = len(values), len(values) + 1
        text = g.op("Reshape", [name, g.const(np.array([-1], np.int64))])
        keys, codes = _keys(values, block.lowercase)
        if not keys:
            keys, codes = ["\x00loopml: none"], [unseen]
        row = g.op(
            "LabelEncoder",
            [text],
            domain="ai.onnx.ml",
            keys_strings=keys,
            values_int64s=codes,
            default_int64=unseen,
        )
        absent = g.op("Equal", [text, g.const(np.array([MISSING_TEXT], dtype=object))])
        row = g.op("Where", [absent, g.const(np.array(missing, np.int64)), row])
        parts.append(g.op("Gather", [g.const(np.asarray(table, np.float64)), row], axis=0))
        order += list(where)
    X = parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=1)
    if order != list(range(block.width)):
        inverse = np.argsort(np.asarray(order, np.int64)).astype(np.int64)
        X = g.op("Gather", [X, g.const(inverse)], axis=1)
    return X


def _keys(values: list[str], lowercase: bool) -> tuple[list[str], list[int]]:
    """LabelEncoder keys and rows; with `lowercase`, every case of each text (no locale)."""
    if not lowercase:
        return values, list(range(len(values)))
    keys: dict[str, int] = {}
    for row, value in enumerate(values):
        if len(value) > _MAX_CASED:
            raise ExportError.no_onnx_form(
                f"the boolean text {value!r} (longer than {_MAX_CASED} characters)"
            )
        pairs = [(c.lower(), c.upper()) if c.lower() != c.upper() else (c,) for c in value]
        for spelling in itertools.product(*pairs):
            keys.setdefault("".join(spelling), row)
    return list(keys), list(keys.values())


def _in_order(g: _Graph, proba: str, member_classes: list[Any], classes: list[Any]) -> str:
    """A member's probabilities moved to the model's class order (absent classes: 0)."""
    position = {_plain(c): j for j, c in enumerate(classes)}
    moves = [position[_plain(c)] for c in member_classes]
    if moves == list(range(len(classes))):
        return proba
    matrix = np.zeros((len(member_classes), len(classes)))
    matrix[np.arange(len(moves)), moves] = 1.0
    return g.op("MatMul", [proba, g.const(matrix)])


# --- estimators ------------------------------------------------------------------------------


def _estimator(g: _Graph, member: Any, X: str, name: str) -> str:
    """The estimator's probabilities (n, k) in its `classes_` order, or its values (n, 1)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
    from sklearn.tree import BaseDecisionTree

    _SKLEARN_TREES = (
        BaseDecisionTree,
        RandomForestClassifier,
        RandomForestRegressor,
        ExtraTreesClassifier,
        ExtraTreesRegressor,
    )

    estimator = member.estimator
    if member.booster is not None:
        return _lightgbm(g, member, X, name)
    if isinstance(estimator, LogisticRegression):
        return _logistic(g, estimator, X)
    if isinstance(estimator, Ridge | LinearRegression):
        coef = np.asarray(estimator.coef_, np.float64).reshape(-1, 1)
        return g.op(
            "Add",
            [
                g.op("MatMul", [X, g.const(coef)]),
                g.const(np.asarray(estimator.intercept_, np.float64).reshape(1, 1)),
            ],
        )
    if isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return _hist_gradient_boosting(g, estimator, X, name)
    if isinstance(estimator, _SKLEARN_TREES):
        return _sklearn_trees(g, estimator, X)
    if isinstance(estimator, DummyRegressor):
        return _constant(g, X, np.asarray(estimator.constant_, np.float64).reshape(1, 1))
    if isinstance(estimator, DummyClassifier) and estimator.strategy in ("prior", "most_frequent"):
        prior = np.asarray(estimator.class_prior_, np.float64)
        if estimator.strategy == "most_frequent":
            prior = (np.arange(len(prior)) == prior.argmax()).astype(np.float64)
        return _constant(g, X, prior.reshape(1, -1))
    raise ExportError.no_onnx_form(f"ensemble member `{name}` ({type(estimator).__name__})")


def _hist_gradient_boosting(g: _Graph, estimator: Any, X: str, name: str) -> str:
    """HistGradientBoosting: its trees plus its baseline, then its loss's inverse link."""
    if getattr(estimator, "_preprocessor", None) is not None:
        X = _hist_gradient_boosting_inputs(g, estimator, X)
    raw = hist_gradient_boosting_forest(estimator).node(g, X)
    baseline = np.asarray(estimator._baseline_prediction, np.float64).reshape(1, -1)
    raw = g.op("Add", [raw, g.const(baseline)])
    loss = estimator.loss
    if loss == "log_loss":
        if baseline.shape[1] == 1:
            p = g.op("Sigmoid", [raw])
            return g.op("Concat", [g.op("Sub", [g.const(np.ones((1, 1))), p]), p], axis=1)
        return g.op("Softmax", [raw], axis=1)
    if loss in ("squared_error", "absolute_error", "quantile"):
        return raw
    if loss in ("poisson", "gamma"):
        return g.op("Exp", [raw])
    raise ExportError.no_onnx_form(f"the `{loss}` loss of member `{name}`")


def _hist_gradient_boosting_inputs(g: _Graph, estimator: Any, X: str) -> str:
    """HistGradientBoosting's own re-encoding of its categorical columns, placed first as it
    places them: each code's position among those seen in training (else NaN)."""
    preprocessor = estimator._preprocessor
    parts = []
    for name, _, columns in preprocessor.transformers_:
        columns = np.asarray(columns)
        where = np.flatnonzero(columns) if columns.dtype == bool else columns.astype(np.int64)
        for position, column in enumerate(where.tolist()):
            value = g.op("Gather", [X, g.const(np.array([column], np.int64))], axis=1)
            if name == "encoder":
                seen = preprocessor.named_transformers_["encoder"].categories_[position]
                value = _code_positions(g, value, np.asarray(seen, np.float64))
            parts.append(value)
    return g.op("Concat", parts, axis=1)


def _code_positions(g: _Graph, value: str, seen: np.ndarray) -> str:
    """(n, 1) codes to their positions in `seen` (sorted whole numbers); NaN when not there."""
    from onnx import TensorProto

    seen = seen[~np.isnan(seen)]
    if np.any(seen < 0) or np.any(seen != np.round(seen)) or (len(seen) and seen.max() > 4096):
        raise ExportError.no_onnx_form("a HistGradientBoosting category code outside 0-4096")
    size = int(seen.max()) + 1 if len(seen) else 0
    table = np.full(size + 1, np.nan)  # the last row: any code not seen
    table[seen.astype(np.int64)] = np.arange(len(seen), dtype=np.float64)
    low = g.op("Less", [value, g.const(np.array(0.0))])
    high = g.op("Greater", [value, g.const(np.array(float(size - 1)))])
    outside = g.op("Or", [g.op("IsNaN", [value]), g.op("Or", [low, high])])
    code = g.op(
        "Cast",
        [g.op("Where", [outside, g.const(np.array(float(size))), value])],
        to=TensorProto.INT64,
    )
    rows = g.op(
        "Gather",
        [g.const(table), g.op("Reshape", [code, g.const(np.array([-1], np.int64))])],
        axis=0,
    )
    return g.op("Reshape", [rows, g.const(np.array([-1, 1], np.int64))])


def _sklearn_trees(g: _Graph, estimator: Any, X: str) -> str:
    """A scikit-learn tree or forest: its input rounded to float32 first, as it does."""
    from onnx import TensorProto

    trees = getattr(estimator, "estimators_", None) or [estimator]
    classes = getattr(estimator, "classes_", None)
    rounded = g.op("Cast", [g.op("Cast", [X], to=TensorProto.FLOAT)], to=TensorProto.DOUBLE)
    return sklearn_forest(trees, None if classes is None else len(classes)).node(g, rounded)


def _constant(g: _Graph, X: str, row: np.ndarray) -> str:
    rows = g.op("Shape", [X], start=0, end=1)
    shape = g.op("Concat", [rows, g.const(np.array([row.shape[1]], np.int64))], axis=0)
    return g.op("Expand", [g.const(row), shape])


def _logistic(g: _Graph, estimator: Any, X: str) -> str:
    coef = np.asarray(estimator.coef_, np.float64).T
    z = g.op(
        "Add",
        [
            g.op("MatMul", [X, g.const(coef)]),
            g.const(np.asarray(estimator.intercept_, np.float64).reshape(1, -1)),
        ],
    )
    if coef.shape[1] == 1:  # binary: P(classes_[1]) = expit(z)
        p = g.op("Sigmoid", [z])
        return g.op("Concat", [g.op("Sub", [g.const(np.ones((1, 1))), p]), p], axis=1)
    if getattr(estimator, "multi_class", "auto") == "ovr" or estimator.solver == "liblinear":
        p = g.op("Sigmoid", [z])
        return g.op(
            "Div", [p, g.op("ReduceSum", [p, g.const(np.array([1], np.int64))], keepdims=1)]
        )
    return g.op("Softmax", [z], axis=1)


def _lightgbm(g: _Graph, member: Any, X: str, name: str) -> str:
    """LightGBM's trees as one float64 TreeEnsemble, then the objective's transform."""
    iteration = getattr(member.estimator, "best_iteration_", None) or None
    dump = member.booster.dump_model(num_iteration=iteration)
    objective = str(dump.get("objective", "")).split()
    kind = objective[0] if objective else ""
    n_targets = int(dump.get("num_tree_per_iteration", 1))
    if dump.get("average_output") or any(t.get("is_linear") for t in dump["tree_info"]):
        raise ExportError.no_onnx_form(
            f"the LightGBM booster of member `{name}` (random forest or linear trees)"
        )
    raw = lightgbm_forest(dump["tree_info"], n_targets).node(g, X)
    if kind == "binary":
        scale = float(next((p.split(":")[1] for p in objective if p.startswith("sigmoid:")), 1.0))
        p = g.op("Sigmoid", [g.op("Mul", [raw, g.const(np.array(scale))])])
        return g.op("Concat", [g.op("Sub", [g.const(np.ones((1, 1))), p]), p], axis=1)
    if kind == "multiclass":
        return g.op("Softmax", [raw], axis=1)
    if kind in _IDENTITY_OBJECTIVES:
        return raw
    if kind in _EXP_OBJECTIVES:
        return g.op("Exp", [raw])
    raise ExportError.no_onnx_form(f"the LightGBM objective `{kind}` of member `{name}`")


# --- calibration -----------------------------------------------------------------------------


def _calibrate(g: _Graph, proba: str, calibration: Any) -> str:
    """`Calibration.transform` of loopml.models.trained, as graph nodes."""
    if calibration is None:
        return proba
    params = calibration.params
    one = g.const(np.array(1.0))
    if calibration.kind == "temperature":
        eps = g.const(np.array(_EPS))
        logs = g.op("Log", [g.op("Clip", [proba, eps, one])])
        return g.op("Softmax", [g.op("Div", [logs, g.const(np.array(float(params["t"])))])], axis=1)
    p = g.op("Slice", [proba, *g.consts([1], [2], [1])])
    if calibration.kind == "sigmoid":
        eps = g.const(np.array(_EPS))
        logit = g.op(
            "Sub",
            [
                g.op("Log", [g.op("Clip", [p, eps, one])]),
                g.op("Log", [g.op("Clip", [g.op("Sub", [one, p]), eps, one])]),
            ],
        )
        z = g.op(
            "Add",
            [
                g.op("Mul", [logit, g.const(np.array(float(params["a"])))]),
                g.const(np.array(float(params["b"]))),
            ],
        )
        p = g.op("Sigmoid", [z])
    elif calibration.kind == "isotonic":
        p = _interp(g, p, np.asarray(params["x"], np.float64), np.asarray(params["y"], np.float64))
    else:
        raise ExportError.no_onnx_form(f"the `{calibration.kind}` calibration")
    p = g.op("Clip", [p, g.const(np.array(0.0)), one])
    return g.op("Concat", [g.op("Sub", [one, p]), p], axis=1)


def _interp(g: _Graph, p: str, x: np.ndarray, y: np.ndarray) -> str:
    """np.interp(p, x, y) for increasing `x`: y[0] plus each segment's slope times its part."""
    if len(x) < 2:
        return _constant(g, p, y.reshape(1, 1)) if len(y) else p
    if np.any(np.diff(x) <= 0):
        raise ExportError.no_onnx_form("an isotonic calibration with repeated thresholds")
    low, high = x[:-1].reshape(1, -1), x[1:].reshape(1, -1)
    slope = (np.diff(y) / np.diff(x)).reshape(1, -1)
    inside = g.op("Min", [g.op("Max", [p, g.const(low)]), g.const(high)])
    ramps = g.op("Mul", [g.op("Sub", [inside, g.const(low)]), g.const(slope)])
    total = g.op("ReduceSum", [ramps, g.const(np.array([1], np.int64))], keepdims=1)
    return g.op("Add", [total, g.const(np.array([[y[0]]]))])
