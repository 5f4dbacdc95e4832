"""`loopml monitor`: the prediction log of a window against the model version's reference.

    result = check_window(store, spec, ref="production", since=..., until=None)
    result.to_dict()  # rows, features, prediction, dataset_drift, service, performance,
                      # estimated, alerts, timeline

Drift per feature and of the predictions (monitor/drift.py), a dataset verdict weighted by
the version's permutation importance, service health (monitor/service.py), performance on
the labelled predictions (ground truth from feedback), a label-free estimate for
classifiers (monitor/estimate.py), and the alerts the spec's rules raise (monitor/alerts.py).
With `periods`, the same figures per time bucket of the window, for the report's charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.errors import NotFoundError, UsageError
from loopml.monitor.alerts import raise_alerts
from loopml.monitor.drift import ORDERED_ROWS, FeatureDrift, dataset_drift, feature_drift
from loopml.monitor.estimate import DRAWS, MAX_ROWS, estimated_performance
from loopml.monitor.log import INPUT_PREFIX, read_log
from loopml.monitor.service import service_health
from loopml.spec import Goal, Monitor
from loopml.store import Store


@dataclass(frozen=True)
class _Effort:
    """How closely a window is judged: label draws and rows of the performance estimate,
    values sorted per numeric feature (see `drift.ORDERED_ROWS`)."""

    draws: int
    estimate_rows: int
    ordered_rows: int
    every_metric: bool  # every metric of the task on labelled predictions, or the primary only


WINDOW = _Effort(DRAWS, MAX_ROWS, ORDERED_ROWS, every_metric=True)
PERIOD = _Effort(50, 5_000, 20_000, every_metric=False)  # a point on a chart: less will do
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass
class MonitorResult:
    """What one monitoring check found."""

    version: int
    since: datetime | None
    until: datetime | None
    rows: int
    requests: int
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    dataset_drift: dict[str, Any]
    service: dict[str, Any]
    performance: dict[str, Any] | None
    estimated: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] | None = None  # how posting the alerts went, when one is set
    report_path: Path | None = None
    check_id: int | None = None  # the id the check was recorded under
    retrain: dict[str, Any] | None = None  # what `monitor --retrain` did (or why it could not)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        extra: dict[str, Any] = {"check_id": self.check_id} if self.check_id is not None else {}
        if self.retrain is not None:
            extra["retrain"] = self.retrain
        return {
            "model_version": self.version,
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "rows": self.rows,
            "requests": self.requests,
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "dataset_drift": self.dataset_drift,
            "service": self.service,
            "performance": self.performance,
            "estimated": self.estimated,
            "alerts": self.alerts,
            "notes": self.notes,
            "timeline": self.timeline,
            "webhook": self.webhook,
            "report_path": None if self.report_path is None else str(self.report_path),
        } | extra


def parse_since(text: str, now: datetime | None = None, *, option: str = "--since") -> datetime:
    """A time from a duration back from now (`7d`, `2h`, `30m`, `1w`) or an ISO-8601 time;
    `option` names where `text` came from in the error."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if value[:-1].isdigit() and value[-1:].lower() in _UNITS:
        return now - timedelta(**{_UNITS[value[-1].lower()]: int(value[:-1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is neither a duration (7d, 2h, 30m, 1w) nor an ISO-8601 time "
            "(2026-11-01 or 2026-11-01T08:00:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_window(
    since: str | None, until: str | None, default: str, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The window [start, end) of `--since` (else `default`, the spec's `monitor.since`) and
    `--until` (else now; a later end stops at now), refused when it holds no time."""
    now = now or datetime.now(UTC)
    option = "--since" if since is not None else "monitor.since"
    text = since if since is not None else default
    start = parse_since(text, now, option=option)
    if start >= now:
        raise UsageError(
            f"{option} {text!r} is in the future ({_moment(start)}, now is {_moment(now)}); "
            "give a start before now, e.g. 7d or 2h"
        )
    if until is None:
        return start, now
    end = parse_since(until, now, option="--until")
    if end <= start:
        raise UsageError(
            f"--until {until!r} ({_moment(end)}) is not after {option} {text!r} "
            f"({_moment(start)}): the window is empty; give an --until later than the start"
        )
    return start, min(end, now)


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_window(
    store: Store,
    project: str,
    log_folder: Path,
    version: dict[str, Any],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    settings: Monitor | None = None,
    goals: list[Goal] | None = None,
    feedback: Any = None,
    events_folder: Path | None = None,
    periods: int = 0,
) -> MonitorResult:
    """Drift, performance (observed where `feedback` labels predictions, else estimated),
    service health and alerts of `version`'s logged predictions in [since, until); with
    `periods`, the same per time bucket in `timeline`."""
    settings = settings or Monitor()
    run = store.meta.run(version["run_id"])
    reference = version.get("reference") or (run["chosen"] or {}).get("reference")
    if reference is None:
        raise NotFoundError(
            f"version {version['version']} was trained before models kept reference "
            "statistics; retrain it to monitor drift"
        )
    table = read_log(log_folder, since=since, until=until, version=version["version"])
    events = None
    if events_folder is not None:
        events = read_log(events_folder, since=since, until=until)
        if events.num_rows:
            import pyarrow as pa
            import pyarrow.compute as pc

            mine = pa.array([version["version"], -1], pa.int64())  # -1: before any model
            events = events.filter(pc.is_in(events.column("model_version"), mine))
    context = _Context(version, run, reference, settings, feedback)
    result = _judge(table, events, context)
    result.since, result.until = since, until
    result.alerts = raise_alerts(result, settings.alerts, goals or [])
    if periods > 1 and table.num_rows:
        result.timeline = _timeline(table, events, context, periods)
    return result


@dataclass
class _Context:
    """What every window of one check is judged against."""

    version: dict[str, Any]
    run: dict[str, Any]
    reference: dict[str, Any]
    settings: Monitor
    feedback: Any
    estimated_reference: float | None = None

    @property
    def importance(self) -> dict[str, float]:
        items = (self.run["test_metrics"] or {}).get("importance") or []
        return {item["feature"]: float(item["importance"]) for item in items}


def _judge(table: Any, events: Any, context: _Context, effort: _Effort = WINDOW) -> MonitorResult:
    version, reference, drift = context.version, context.reference, context.settings.drift
    rows = table.num_rows
    notes = []
    if rows == 0:
        notes.append("no predictions were logged in this window")
    dates = [name for name, stats in reference["features"].items() if stats["role"] == "datetime"]
    if dates:
        notes.append(
            f"date columns ({', '.join(dates)}) are not judged for drift: dates move on by nature"
        )
    features = []
    for name, stats in reference["features"].items():
        column = INPUT_PREFIX + name
        if rows and column in table.column_names and name not in dates:
            features.append(
                feature_drift(
                    name, stats, table.column(column), drift, ordered_rows=effort.ordered_rows
                )
            )
    prediction = None
    predicted = _prediction_column(table, version["task"], context.run)
    if rows and predicted is not None:
        prediction = feature_drift(
            "prediction",
            reference["prediction"],
            predicted,
            drift,
            ordered_rows=effort.ordered_rows,
        )
    performance = estimated = None
    if rows:
        if context.feedback is not None:
            performance = window_performance(
                table, context.feedback, version, context.run, every_metric=effort.every_metric
            )
        estimated = estimated_performance(
            table,
            version,
            context.run,
            reference,
            draws=effort.draws,
            max_rows=effort.estimate_rows,
            reference_value=context.estimated_reference,
        )
        if estimated is not None:  # the test part's estimate is the same for every period
            context.estimated_reference = estimated.get("reference")
    service = service_health(table, events)
    if rows and not any(f.method != "too few rows" for f in features):
        notes.append(f"fewer than {drift.min_rows} rows per feature: drift not judged")
    return MonitorResult(
        version=version["version"],
        since=None,
        until=None,
        rows=rows,
        requests=service.pop("requests"),
        features=features,
        prediction=prediction,
        dataset_drift=dataset_drift(features, context.importance, drift),
        service=service,
        performance=performance,
        estimated=estimated,
        notes=notes,
    )


def _timeline(table: Any, events: Any, context: _Context, periods: int) -> list[dict[str, Any]]:
    """The window cut into `periods` equal spans of time, each judged on its own rows."""
    import pyarrow.compute as pc

    stamps = table.column("time")
    start, end = pc.min(stamps).as_py(), pc.max(stamps).as_py()
    step = (end - start) / periods
    if step.total_seconds() <= 0:
        return []
    out = []
    for i in range(periods):
        low = start + step * i
        high = end if i == periods - 1 else start + step * (i + 1)
        last = i == periods - 1  # the last span includes its end
        part = table.filter(_between(stamps, low, high, last))
        if part.num_rows == 0:
            continue
        part_events = None
        if events is not None and events.num_rows:
            part_events = events.filter(_between(events.column("time"), low, high, last))
        judged = _judge(part, part_events, context, PERIOD)
        out.append(
            {
                "start": low.isoformat(),
                "end": high.isoformat(),
                "rows": judged.rows,
                "requests": judged.requests,
                "features": {
                    f.name: {"score": f.score, "psi": f.psi, "drifted": f.drifted}
                    for f in judged.features
                    if f.method != "too few rows"
                },
                "dataset_share": judged.dataset_drift["share"],
                "prediction": None
                if judged.prediction is None
                else {"score": judged.prediction.score, "drifted": judged.prediction.drifted},
                "performance": _figure(judged.performance),
                "estimated": _figure(judged.estimated),
                "service": judged.service,
            }
        )
    return out


def _between(times: Any, low: datetime, high: datetime, last: bool) -> Any:
    """A mask of `times` in [low, high), or [low, high] for the last span."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = pa.timestamp("us", tz="UTC")
    upper = pc.less_equal if last else pc.less
    return pc.and_(
        pc.greater_equal(times, pa.scalar(low, kind)), upper(times, pa.scalar(high, kind))
    )


def _figure(performance: dict[str, Any] | None) -> dict[str, Any] | None:
    if not performance or performance.get("value") is None:
        return None
    return {"value": performance["value"], "interval": performance["interval"]}


def window_performance(
    table: Any,
    feedback: Any,
    version: dict[str, Any],
    run: dict[str, Any],
    *,
    every_metric: bool = False,
) -> dict[str, Any]:
    """The version's metric on the window's labelled predictions, next to its test score, with
    a bootstrap interval; with `every_metric`, each metric of the task the same way (`metrics`)."""
    from loopml.evaluate.intervals import bootstrap_intervals
    from loopml.evaluate.metrics import metrics_for, task_metrics

    metric, task = version["metric"], version["task"]
    tests = version.get("test_metrics") or {}
    names = ["request_id", "record"] + [c for c in table.column_names if c.startswith("proba_")]
    names += ["prediction"]
    logged = table.select(names).to_pandas()
    joined = logged.merge(feedback, on=["request_id", "record"], how="inner")
    out: dict[str, Any] = {"metric": metric, "labelled": len(joined), "test": tests.get(metric)}
    if every_metric:
        out["metrics"] = {}
    if len(joined) < 2:
        out |= {"value": None, "interval": None, "note": "too little ground truth in this window"}
        return out
    chosen = run["chosen"] or {}
    if task == "regression":
        y = pd.to_numeric(joined["label"], errors="coerce").to_numpy(dtype=float)
        prediction: Any = joined["prediction"].to_numpy(dtype=float)
        classes, threshold = None, 0.5
    else:
        classes = [str(c) for c in chosen.get("classes") or []]
        y = joined["label"].astype(str).to_numpy()
        unknown = sorted(set(y) - set(classes))
        if unknown:
            out |= {
                "value": None,
                "interval": None,
                "note": f"labels {unknown[:5]} are not classes",
            }
            return out
        proba = joined[[f"proba_{c}" for c in classes]].to_numpy(dtype=float)
        prediction = proba[:, 1] if task == "binary" else proba
        threshold = chosen.get("threshold") or 0.5
    measured = metrics_for(task) if every_metric else [metric]
    # One scorer and one set of resamples for every metric: the point values and intervals.
    values = task_metrics(task, y, prediction, classes=classes, threshold=threshold)
    intervals = bootstrap_intervals(
        task, y, prediction, measured, classes=classes, threshold=threshold, n_boot=300
    )
    if every_metric:
        out["metrics"] = {
            name: {
                "value": values[name],
                "interval": list(intervals[name]),
                "test": tests.get(name),
            }
            for name in measured
        }
    return out | {"value": values[metric], "interval": list(intervals[metric])}


def _prediction_column(table: Any, task: str, run: dict[str, Any]) -> Any:
    if task in ("multiclass", "regression"):  # the predicted class, or the value
        return table.column("prediction") if "prediction" in table.column_names else None
    classes = (run["chosen"] or {}).get("classes") or []
    names = [c for c in table.column_names if c.startswith("proba_")]
    positive = f"proba_{classes[1]}" if len(classes) == 2 else (names[-1] if names else None)
    return table.column(positive) if positive in table.column_names else None
