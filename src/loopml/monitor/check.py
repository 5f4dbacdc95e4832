"""`loopml monitor`: the prediction log of a window against the model version's reference.

    result = check_window(store, spec, ref="production", since=..., until=None)
    result.to_dict()  # rows, features, prediction, dataset_drift, service, performance, alerts

Drift per feature and of the predictions (monitor/drift.py), a dataset verdict weighted by
the version's permutation importance, service health from the logged latencies, and the
alerts those raise. Performance needs ground truth (feedback), which is reported as not
yet available when there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import NotFoundError, UsageError
from loopml.monitor.drift import FeatureDrift, dataset_drift, feature_drift
from loopml.monitor.log import INPUT_PREFIX, read_log
from loopml.spec import Drift
from loopml.store import Store

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
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
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
            "alerts": self.alerts,
            "notes": self.notes,
        } | extra


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A start time from a duration back from now (`7d`, `2h`, `30m`, `1w`) or an ISO-8601 time."""
    now = now or datetime.now(UTC)
    value = text.strip()
    if value[:-1].isdigit() and value[-1:].lower() in _UNITS:
        return now - timedelta(**{_UNITS[value[-1].lower()]: int(value[:-1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a duration (7d, 2h, 30m, 1w) nor an ISO-8601 time "
            "(2026-11-01 or 2026-11-01T08:00:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_window(
    store: Store,
    project: str,
    log_folder: Path,
    version: dict[str, Any],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    settings: Drift | None = None,
    feedback: Any = None,
) -> MonitorResult:
    """Drift, performance (where `feedback` labels some predictions), service health and
    alerts of `version`'s logged predictions in [since, until)."""
    settings = settings or Drift()
    run = store.meta.run(version["run_id"])
    reference = version.get("reference") or (run["chosen"] or {}).get("reference")
    if reference is None:
        raise NotFoundError(
            f"version {version['version']} was trained before models kept reference "
            "statistics; retrain it to monitor drift"
        )
    table = read_log(log_folder, since=since, until=until, version=version["version"])
    rows = table.num_rows
    notes = []
    if rows == 0:
        notes.append("no predictions were logged in this window")
    importance = {
        item["feature"]: float(item["importance"])
        for item in ((run["test_metrics"] or {}).get("importance") or [])
    }
    features = []
    dates = [name for name, stats in reference["features"].items() if stats["role"] == "datetime"]
    if dates:
        notes.append(
            f"date columns ({', '.join(dates)}) are not judged for drift: dates move on by nature"
        )
    for name, stats in reference["features"].items():
        column = INPUT_PREFIX + name
        if rows and column in table.column_names and name not in dates:
            features.append(feature_drift(name, stats, table.column(column), settings))
    prediction = None
    predicted = _prediction_column(table, version["task"], run)
    if rows and predicted is not None:
        prediction = feature_drift("prediction", reference["prediction"], predicted, settings)
    verdict = dataset_drift(features, importance, settings)
    performance = None
    if feedback is not None and rows:
        performance = window_performance(table, feedback, version, run)
    service = _service(table)
    result = MonitorResult(
        version=version["version"],
        since=since,
        until=until,
        rows=rows,
        requests=service.pop("requests"),
        features=features,
        prediction=prediction,
        dataset_drift=verdict,
        service=service,
        performance=performance,
        notes=notes,
    )
    result.alerts = _alerts(result)
    if rows and not any(f.method != "too few rows" for f in features):
        notes.append(f"fewer than {settings.min_rows} rows per feature: drift not judged")
    return result


def window_performance(
    table: Any, feedback: Any, version: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    """The version's metric on the window's labelled predictions, next to its test score."""
    from loopml.evaluate.intervals import bootstrap_intervals
    from loopml.evaluate.metrics import score

    metric, task = version["metric"], version["task"]
    tested = (version.get("test_metrics") or {}).get(metric)
    names = ["request_id", "record"] + [c for c in table.column_names if c.startswith("proba_")]
    names += ["prediction"]
    logged = table.select(names).to_pandas()
    joined = logged.merge(feedback, on=["request_id", "record"], how="inner")
    out: dict[str, Any] = {"metric": metric, "labelled": len(joined), "test": tested}
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
    value = score(metric, y, prediction, classes=classes, threshold=threshold, task=task)
    interval = bootstrap_intervals(
        task, y, prediction, [metric], classes=classes, threshold=threshold, n_boot=300
    )[metric]
    return out | {"value": value, "interval": list(interval)}


def _prediction_column(table: Any, task: str, run: dict[str, Any]) -> Any:
    if task in ("multiclass", "regression"):  # the predicted class, or the value
        return table.column("prediction") if "prediction" in table.column_names else None
    classes = (run["chosen"] or {}).get("classes") or []
    names = [c for c in table.column_names if c.startswith("proba_")]
    positive = f"proba_{classes[1]}" if len(classes) == 2 else (names[-1] if names else None)
    return table.column(positive) if positive in table.column_names else None


def _service(table: Any) -> dict[str, Any]:
    if table.num_rows == 0:
        return {"requests": 0, "latency_p50_ms": None, "latency_p99_ms": None, "rate_per_s": None}
    import pyarrow.compute as pc

    table = table.filter(pc.equal(table.column("source"), "serve"))  # batch rows are no requests
    if table.num_rows == 0:
        return {"requests": 0, "latency_p50_ms": None, "latency_p99_ms": None, "rate_per_s": None}
    first = pc.equal(table.column("record"), 0)
    latency = table.filter(first).column("latency_ms").to_numpy(zero_copy_only=False)
    latency = latency[~np.isnan(latency)]
    times = table.column("time")
    start, end = pc.min(times).as_py(), pc.max(times).as_py()
    seconds = max((end - start).total_seconds(), 1.0)
    requests = int(pc.sum(first).as_py() or 0)
    return {
        "requests": requests,
        "rate_per_s": requests / seconds,
        "latency_p50_ms": float(np.percentile(latency, 50)) if len(latency) else None,
        "latency_p99_ms": float(np.percentile(latency, 99)) if len(latency) else None,
        "first": start.isoformat(),
        "last": end.isoformat(),
    }


def _alerts(result: MonitorResult) -> list[dict[str, Any]]:
    alerts = []
    verdict = result.dataset_drift
    if verdict["drifted"]:
        alerts.append(
            {
                "rule": "dataset_drift",
                "message": (
                    f"{verdict['share']:.0%} of the features drifted"
                    f"{' (weighted by importance)' if verdict['weighted'] else ''}, at or above "
                    f"{verdict['threshold']:.0%}: {', '.join(verdict['drifted_features'][:8])}"
                ),
                "value": verdict["share"],
                "threshold": verdict["threshold"],
            }
        )
    performance = result.performance or {}
    value, tested, low_high = (
        performance.get("value"),
        performance.get("test"),
        performance.get("interval"),
    )
    if value is not None and tested is not None and low_high is not None:
        from loopml.evaluate.metrics import metric_direction

        higher = metric_direction(performance["metric"])
        worse = low_high[1] < tested if higher else low_high[0] > tested
        if worse:  # the whole interval lies on the wrong side of the test score
            alerts.append(
                {
                    "rule": "metric_drop",
                    "message": (
                        f"{performance['metric']} on {performance['labelled']:,} labelled "
                        f"predictions is {value:.4g} ({low_high[0]:.4g}–{low_high[1]:.4g}), "
                        f"worse than {tested:.4g} on the test part"
                    ),
                    "value": value,
                    "threshold": tested,
                }
            )
    if result.prediction is not None and result.prediction.drifted:
        alerts.append(
            {
                "rule": "prediction_drift",
                "message": (
                    f"the predictions drifted ({result.prediction.method} "
                    f"{result.prediction.score:.3g}, threshold {result.prediction.threshold:g})"
                ),
                "value": result.prediction.score,
                "threshold": result.prediction.threshold,
            }
        )
    return alerts
