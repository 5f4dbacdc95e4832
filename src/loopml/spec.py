"""ProjectSpec: the task definition read from `loopml.yaml`, validated key by key."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loopml.errors import SpecError

SPEC_FILE = "loopml.yaml"

Task = Literal["binary", "multiclass", "regression"]
Role = Literal["numeric", "categorical", "boolean", "datetime", "text", "identifier", "constant"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
TASKS: tuple[str, ...] = Task.__args__  # type: ignore[attr-defined]

# Metric name -> (tasks it applies to, True when higher is better).
METRICS: dict[str, tuple[tuple[str, ...], bool]] = {
    "roc_auc": (("binary", "multiclass"), True),
    "pr_auc": (("binary",), True),
    "log_loss": (("binary", "multiclass"), False),
    "brier": (("binary",), False),
    "accuracy": (("binary", "multiclass"), True),
    "balanced_accuracy": (("binary", "multiclass"), True),
    "precision": (("binary",), True),
    "recall": (("binary",), True),
    "f1": (("binary",), True),
    "f1_macro": (("multiclass",), True),
    "f1_weighted": (("multiclass",), True),
    "rmse": (("regression",), False),
    "mae": (("regression",), False),
    "mape": (("regression",), False),
    "r2": (("regression",), True),
}
# Goals may also name service-level figures, checked once a model is served.
SERVICE_METRICS: dict[str, bool] = {
    "p50_latency_ms": False,
    "p99_latency_ms": False,
    "throughput_rps": True,
    "error_rate": False,
}
DEFAULT_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "log_loss",
    "regression": "rmse",
}

_GOAL = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSource(_Section):
    """Where the table comes from: a file (CSV, Parquet, JSON Lines) or a SQL query."""

    path: str | None = None
    format: Literal["auto", "csv", "parquet", "jsonl", "sql"] = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if self.path is None and self.url is None:
            raise ValueError("give either `data.path` (a file) or `data.url` (an SQLAlchemy URL)")
        if self.path is not None and self.url is not None:
            raise ValueError("give `data.path` or `data.url`, not both")
        if self.url is not None and (self.table is None) == (self.query is None):
            raise ValueError("with `data.url`, give exactly one of `data.table` or `data.query`")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ValueError(f"`data.delimiter` must be one character, got {self.delimiter!r}")
        return self

    @property
    def kind(self) -> str:
        """The source format, resolved from `format` or the file extension."""
        if self.url is not None:
            return "sql"
        if self.format != "auto":
            return self.format
        suffix = "".join(Path(self.path or "").suffixes[-2:]).lower()
        for ext, kind in (
            (".parquet", "parquet"),
            (".pq", "parquet"),
            (".jsonl", "jsonl"),
            (".ndjson", "jsonl"),
            (".json", "jsonl"),
        ):
            if suffix.endswith(ext):
                return kind
        return "csv"


class Goal(_Section):
    """A KPI goal such as `roc_auc >= 0.85`, checked when a model is evaluated or served."""

    metric: str
    op: Literal[">=", "<=", ">", "<"]
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def met_by(self, observed: float) -> bool:
        """True when `observed` satisfies the goal."""
        return {
            ">=": observed >= self.value,
            "<=": observed <= self.value,
            ">": observed > self.value,
            "<": observed < self.value,
        }[self.op]


class Cleaning(_Section):
    """Cleaning actions applied reproducibly before the data is split."""

    drop_duplicate_rows: bool = True
    drop_missing_target: bool = True
    drop_constant_columns: bool = True
    drop_identifier_columns: bool = True
    drop_leaking_columns: bool = False
    drop_columns: list[str] = Field(default_factory=list)


class Checks(_Section):
    """Thresholds of the data quality checks."""

    high_missing_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    near_constant_share: Annotated[float, Field(gt=0.5, le=1)] = 0.99
    high_cardinality: Annotated[int, Field(ge=2)] = 100
    identifier_unique_share: Annotated[float, Field(gt=0.5, le=1)] = 0.95
    outlier_share: Annotated[float, Field(gt=0, le=1)] = 0.01
    imbalance_ratio: Annotated[float, Field(gt=1)] = 10.0
    leakage_score: Annotated[float, Field(gt=0.5, le=1)] = 0.98
    high_correlation: Annotated[float, Field(gt=0, le=1)] = 0.98
    sample_rows: Annotated[int, Field(ge=1000)] = 200_000


class Split(_Section):
    """How the dataset is cut into train / validation / test."""

    strategy: Literal["auto", "random", "stratified", "group", "time"] = "auto"
    test_size: Annotated[float, Field(gt=0, lt=1)] = 0.2
    valid_size: Annotated[float, Field(ge=0, lt=1)] = 0.0
    group_column: str | None = None
    time_column: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Split:
        if self.test_size + self.valid_size >= 1:
            raise ValueError(
                f"`split.test_size` + `split.valid_size` is {self.test_size + self.valid_size:g};"
                " it must be below 1 to leave rows for training"
            )
        if self.strategy == "group" and not self.group_column:
            raise ValueError("`split.strategy: group` needs `split.group_column`")
        if self.strategy == "time" and not self.time_column:
            raise ValueError("`split.strategy: time` needs `split.time_column`")
        return self


class Outcomes(_Section):
    """The value of one decision of each outcome (benefits positive, costs negative)."""

    tp: float = 0.0
    fp: float = 0.0
    tn: float = 0.0
    fn: float = 0.0


class ParamRange(_Section):
    """One hyperparameter of a custom family: a range (`low`..`high`) or a list of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> ParamRange:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("give either non-empty `choices` or `low` and `high`, not both")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError("a range needs `low` < `high` (or give `choices`)")
        if self.log and self.low <= 0:
            raise ValueError("a `log: true` range needs `low` > 0")
        return self


class CustomFamily(_Section):
    """A user's scikit-learn compatible estimator, searched like the built-in families."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)]
    estimator: str
    tasks: list[Task]
    encoding: Literal["onehot", "ordinal", "native"] = "onehot"
    scale: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, ParamRange] = Field(default_factory=dict)
    cost: Annotated[int, Field(ge=0, le=10)] = 5

    @field_validator("estimator")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", value):
            raise ValueError(
                f"{value!r} is not an import path; give the estimator class with its module, "
                "like `sklearn.svm.SVC`"
            )
        return value


class Train(_Section):
    """How `loopml train` searches: budget, families, validation, search method, decisions."""

    time_budget: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] = 60.0
    families: list[str] | None = None
    folds: Annotated[int, Field(ge=2, le=20)] = 5
    holdout_rows: Annotated[int, Field(ge=1000)] = 100_000
    search: Literal["tpe", "random", "grid"] = "tpe"
    max_trials: Annotated[int, Field(ge=1)] | None = None
    ensemble: bool = True
    calibrate: bool = True
    threshold: Literal["auto"] | Annotated[float, Field(gt=0, lt=1)] = "auto"
    value: Outcomes | None = None
    refit_all: bool = False
    jobs: Annotated[int, Field(ge=1)] | None = None
    custom_families: list[CustomFamily] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_custom_names(self) -> Train:
        names = [family.name for family in self.custom_families]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"`train.custom_families` names `{repeated[0]}` twice; rename one")
        return self


class Drift(_Section):
    """Thresholds of the drift verdicts of `loopml monitor` (docs/guide/monitor.md)."""

    small_sample: Annotated[int, Field(ge=10)] = 1000
    p_value: Annotated[float, Field(gt=0, lt=1)] = 0.01
    wasserstein: Annotated[float, Field(gt=0)] = 0.1
    jensen_shannon: Annotated[float, Field(gt=0, le=1)] = 0.1
    psi: Annotated[float, Field(gt=0)] = 0.25
    missing_rate: Annotated[float, Field(gt=0, le=1)] = 0.1
    new_categories: Annotated[float, Field(gt=0, le=1)] = 0.05
    dataset_share: Annotated[float, Field(gt=0, le=1)] = 0.3
    min_rows: Annotated[int, Field(ge=1)] = 30


class Alerts(_Section):
    """When `loopml monitor` raises an alert; a rule set to null is off (docs/guide/monitor.md)."""

    dataset_drift: bool = True  # the share of drifted features reaches drift.dataset_share
    prediction_drift: bool = True
    # column (or "*" for every column) -> the PSI above which that feature's drift alerts
    feature_psi: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    # How much worse than its test score the metric may get (observed, or estimated without
    # labels) before it alerts; the observed interval must also lie below the test score.
    metric_drop: Annotated[float, Field(ge=0)] | None = 0.0
    estimated: bool = True  # judge the label-free estimate too (classifiers)
    latency_p99_ms: Annotated[float, Field(gt=0)] | None = None  # default: the p99 goal
    error_rate: Annotated[float, Field(ge=0, le=1)] | None = 0.05  # or the error_rate goal
    dropped_rows: Annotated[int, Field(ge=0)] | None = 0  # alert above this many dropped
    min_requests: Annotated[int, Field(ge=1)] = 30  # service rules need this many requests


class Webhook(_Section):
    """Where `loopml monitor` posts its alerts (JSON); a failing webhook never fails the check."""

    url: str
    headers: dict[str, str] = Field(default_factory=dict)  # "${VAR}" reads the environment
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


class Monitor(_Section):
    """How `loopml monitor` judges the prediction log."""

    since: str = "7d"
    drift: Drift = Field(default_factory=Drift)
    alerts: Alerts = Field(default_factory=Alerts)
    webhook: Webhook | None = None
    periods: Annotated[int, Field(ge=1, le=200)] = 12  # time buckets of the monitoring report


_DURATION = re.compile(r"^\s*\d+\s*[mhdw]\s*$", re.IGNORECASE)
_SOURCE_KEYS = ("path", "format", "delimiter", "encoding", "url", "table", "query")


class RetrainData(_Section):
    """Where `loopml retrain` gets new data: labelled predictions, a new source, or all data."""

    window: str | None = None
    all: bool = False
    path: str | None = None
    format: Literal["auto", "csv", "parquet", "jsonl", "sql"] = "auto"
    delimiter: str | None = None
    encoding: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None
    combine: bool = False

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None or _DURATION.match(value):
            return value
        from datetime import datetime

        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{value!r} is neither a duration (30d, 12h, 2w) nor an ISO-8601 start time"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_policy(self) -> RetrainData:
        source = self.path is not None or self.url is not None
        chosen = [
            name
            for name, on in (
                ("window", self.window is not None),
                ("path/url", source),
                ("all", self.all),
            )
            if on
        ]
        if len(chosen) > 1:
            raise ValueError(f"give one data policy, not {' and '.join(chosen)}")
        fields = self.model_dump(include=set(_SOURCE_KEYS), exclude_defaults=True)
        if fields and not source:
            raise ValueError(f"`{next(iter(fields))}` needs `path` (a file) or `url` (SQL)")
        if source:
            try:
                DataSource(**fields)
            except ValidationError as exc:
                message = str(exc.errors()[0].get("ctx", {}).get("error", exc.errors()[0]["msg"]))
                raise ValueError(message.replace("`data.", "`retrain.data.")) from None
        if self.combine and self.all:
            raise ValueError("`combine` adds the old rows to new ones; `all` already holds them")
        return self

    @property
    def policy(self) -> str:
        """`window` (the default), `source` or `all`."""
        if self.all:
            return "all"
        return "source" if self.path is not None or self.url is not None else "window"

    def source(self) -> DataSource:
        """The new source, for the `source` policy."""
        return DataSource(**self.model_dump(include=set(_SOURCE_KEYS), exclude_defaults=True))


RetrainTrigger = Literal[
    "dataset_drift",
    "prediction_drift",
    "feature_psi",
    "metric_drop",
    "goal",
    "latency_p99",
    "error_rate",
    "dropped_rows",
    "service_goal",
]


class Retrain(_Section):
    """How `loopml retrain` trains a challenger and decides whether it replaces the champion."""

    data: RetrainData = Field(default_factory=RetrainData)
    holdout: Annotated[float, Field(gt=0, lt=1)] = 0.3
    search: Literal["reuse", "fresh"] = "reuse"
    margin: Annotated[float, Field(ge=0)] = 0.0
    min_rows: Annotated[int, Field(ge=10)] = 100
    time_budget: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    # The alert rules that make `loopml monitor --retrain` retrain: the model's, not the
    # service's (a slow disk or a flood of bad requests is no reason to train a new model).
    on: list[RetrainTrigger] = Field(
        default_factory=lambda: [
            "dataset_drift",
            "prediction_drift",
            "feature_psi",
            "metric_drop",
            "goal",
        ]
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_on(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare `on:` key as the boolean true: it means `on` here."""
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value

    @field_validator("data", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip() == "all":
                return {"all": True}
            if _DURATION.match(value):
                return {"window": value}
            raise ValueError(
                f"{value!r} is not a data policy; give `all`, a window such as `30d`, or a "
                "mapping with `window`, `path` or `url`"
            )
        return value


# Fairness gap name -> (tasks it applies to, True when the gate wants it at least the
# threshold, False when at most).
FAIRNESS_GAPS: dict[str, tuple[tuple[str, ...], bool]] = {
    "demographic_parity_difference": (("binary", "multiclass"), False),
    "demographic_parity_ratio": (("binary", "multiclass"), True),
    "equalized_odds_difference": (("binary", "multiclass"), False),
    "accuracy_difference": (("binary", "multiclass"), False),
    "mae_difference": (("regression",), False),
    "rmse_difference": (("regression",), False),
}


def sensitive_problem(
    column: str,
    *,
    target: str,
    drop_columns: list[str] | tuple[str, ...] = (),
    present: list[str] | None = None,
    where: str = "the data",
) -> str | None:
    """Why `column` cannot be a sensitive column, or None: the one rule of both
    `fairness.sensitive` and `loopml fairness --sensitive` (the caller names the key first).
    `present`: the data's columns, when known."""
    if column == target:
        return (
            f"names the target `{column}`; a sensitive column groups the rows, it is not "
            "the label: name another column"
        )
    if column in drop_columns:
        return (
            f"names `{column}`, which `cleaning.drop_columns` drops; keep it in the data "
            "(it can stay out of the features)"
        )
    if present is not None and column not in present:
        from loopml.data.versions import column_hint

        return f"names `{column}`, which is not a column of {where}{column_hint(column, present)}"
    return None


class Fairness(_Section):
    """Sensitive columns checked per group on the test part; thresholds gate production."""

    sensitive: Annotated[list[str], Field(min_length=1)]
    exclude_from_features: bool = True
    min_group_size: Annotated[int, Field(ge=1)] = 30
    thresholds: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    mitigation: Literal["none", "thresholds", "reweight"] = "none"

    @field_validator("sensitive", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("thresholds")
    @classmethod
    def _known_gaps(cls, value: dict[str, float]) -> dict[str, float]:
        for name, limit in value.items():
            if name not in FAIRNESS_GAPS:
                raise ValueError(f"unknown gap `{name}`; choose from {', '.join(FAIRNESS_GAPS)}")
            if name.endswith("_ratio") and limit > 1:
                raise ValueError(f"`{name}` is a ratio between 0 and 1, got {limit:g}")
        return value


class Card(_Section):
    """What the model card says about use, written by people (the rest comes from the store)."""

    intended_use: str | None = None
    out_of_scope: str | None = None
    owner: str | None = None
    caveats: list[str] = Field(default_factory=list)


class StoreConfig(_Section):
    """Where metadata and artifacts live; paths are relative to the project folder."""

    metadata: str = "sqlite:///.loopml/metadata.db"
    artifacts: str = ".loopml/artifacts"

    @field_validator("artifacts")
    @classmethod
    def _local_folder(cls, value: str) -> str:
        if "://" in value:
            raise ValueError(
                f"{value!r} is a URL; artifacts are stored in a local folder for now "
                "(object stores come with the team set-up), so give a folder path"
            )
        return value


class ProjectSpec(_Section):
    """The whole task definition: one `loopml.yaml`."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.-]*$")]
    data: DataSource
    target: Annotated[str, Field(min_length=1)]
    task: Task
    metric: str | None = None
    goals: list[Goal] = Field(default_factory=list)
    columns: dict[str, Role] = Field(default_factory=dict)
    cleaning: Cleaning = Field(default_factory=Cleaning)
    checks: Checks = Field(default_factory=Checks)
    split: Split = Field(default_factory=Split)
    train: Train = Field(default_factory=Train)
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42
    store: StoreConfig = Field(default_factory=StoreConfig)
    monitor: Monitor = Field(default_factory=Monitor)
    retrain: Retrain = Field(default_factory=Retrain)
    fairness: Fairness | None = None
    card: Card = Field(default_factory=Card)

    @field_validator("goals", mode="before")
    @classmethod
    def _parse_goals(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [parse_goal(item) if isinstance(item, str) else item for item in value]

    @model_validator(mode="after")
    def _metric_fits_task(self) -> ProjectSpec:
        if self.metric is None:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.task])
        allowed = [m for m, (tasks, _) in METRICS.items() if self.task in tasks]
        if self.metric not in allowed:
            raise ValueError(
                f"`metric: {self.metric}` does not fit task {self.task}; "
                f"choose one of {', '.join(allowed)}"
            )
        for goal in self.goals:
            if goal.metric not in allowed and goal.metric not in SERVICE_METRICS:
                raise ValueError(
                    f"goal `{goal}` names an unknown metric for task {self.task}; "
                    f"choose one of {', '.join(allowed + list(SERVICE_METRICS))}"
                )
        if self.target in self.columns:
            raise ValueError(f"`columns` sets a role for the target `{self.target}`; remove it")
        if self.train.value is not None and self.task != "binary":
            raise ValueError(
                "`train.value` (the value of TP, FP, TN and FN decisions) applies to binary "
                f"tasks only; remove it for this {self.task} task"
            )
        if self.train.threshold != "auto" and self.task != "binary":
            raise ValueError(
                f"`train.threshold` applies to binary tasks only; remove it for this {self.task} task"
            )
        if self.target in self.cleaning.drop_columns:
            raise ValueError(f"`cleaning.drop_columns` lists the target `{self.target}`; remove it")
        if self.fairness is not None:
            self._check_fairness(self.fairness)
        return self

    def _check_fairness(self, fairness: Fairness) -> None:
        for column in fairness.sensitive:
            problem = sensitive_problem(
                column, target=self.target, drop_columns=self.cleaning.drop_columns
            )
            if problem:
                raise ValueError(f"`fairness.sensitive` {problem}")
        for name in fairness.thresholds:
            if self.task not in FAIRNESS_GAPS[name][0]:
                fits = [g for g, (tasks, _) in FAIRNESS_GAPS.items() if self.task in tasks]
                raise ValueError(
                    f"`fairness.thresholds.{name}` does not fit task {self.task}; "
                    f"choose from {', '.join(fits)}"
                )
        if fairness.mitigation == "thresholds" and self.task != "binary":
            raise ValueError("`fairness.mitigation: thresholds` applies to binary tasks only")

    @property
    def primary_metric(self) -> str:
        """The metric model selection optimizes."""
        return self.metric or DEFAULT_METRIC[self.task]

    def fingerprint(self) -> str:
        """sha256 of the spec's canonical JSON: the same settings give the same hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_goal(text: str) -> dict[str, Any]:
    """Parse `"roc_auc >= 0.85"` into a goal mapping."""
    match = _GOAL.match(text)
    if not match:
        raise ValueError(
            f"goal {text!r} is not of the form `metric >= number` (operators: >=, <=, >, <)"
        )
    return {"metric": match[1], "op": match[2], "value": float(match[3])}


def load_spec(path: str | Path = SPEC_FILE) -> ProjectSpec:
    """Read and validate a `loopml.yaml`; every problem raises a SpecError naming the key."""
    path = Path(path)
    if not path.exists():
        raise SpecError(
            f"{path} not found; run `loopml init --data FILE --target COLUMN` to create it"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise SpecError(f"{path} is not valid YAML{line}; fix the syntax and try again") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path} must hold a mapping of keys (name, data, target, task, ...)")
    return validate_spec(raw, source=str(path))


def validate_spec(raw: dict[str, Any], *, source: str = SPEC_FILE) -> ProjectSpec:
    """Validate a mapping as a ProjectSpec, turning pydantic errors into one sentence."""
    try:
        return ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(f"{source}: {_describe(exc.errors()[0], raw)}") from exc


def _describe(error: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        section = _model_at(loc[:-1])
        allowed = ", ".join(section.model_fields) if section else ""
        where = f" in `{'.'.join(loc[:-1])}`" if len(loc) > 1 else ""
        return f"unknown key `{loc[-1]}`{where}; allowed keys: {allowed}"
    if kind == "missing":
        return f"missing required key `{key}`; add it (see docs/reference/spec.md)"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"key `{key}` has value {value!r}; allowed values: {expected}"
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return message if not key else f"key `{key}`: {message}"
    message = error["msg"]
    return f"key `{key}` has value {value!r}: {message[:1].lower()}{message[1:]}"


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = ProjectSpec
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def spec_path_for(project: str | Path | None) -> Path:
    """Resolve a project argument (a folder or a yaml file, default: cwd) to its spec file."""
    path = Path(project) if project is not None else Path.cwd()
    return path / SPEC_FILE if path.is_dir() else path
