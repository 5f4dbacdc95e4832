"""`loopml experiments report`: the champion against its challenger or shadow, on labelled traffic.

    report = experiment_report(store, spec, log_folder, feedback, since=..., metric=None)
    report.to_dict()  # variants (requests, labelled, metric with interval), comparisons, notes

Reads the prediction log's rows of the window whose variant is `champion`, `challenger`
(a canary) or `shadow`, joins the labels (feedback) by request id and record, and compares:

- canary: the challenger's requests against the champion's — independent samples;
- shadow: the shadow's prediction against the champion's on the same requests — paired.

The per-variant metric and its bootstrap interval come from `check.window_performance`
(as `loopml monitor` computes it); the test and the sample size from
`evaluate.significance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import DataError, NotFoundError, UsageError
from loopml.evaluate.significance import Arm, compare
from loopml.monitor.check import window_performance
from loopml.monitor.log import read_log
from loopml.serve.routing import CHALLENGER, CHAMPION, SHADOW

COMPARED = (CHALLENGER, SHADOW)
_META = ["request_id", "record", "time", "model_version", "variant", "source"]


@dataclass
class ExperimentReport:
    """Per variant and per comparison, what the labelled traffic of a window shows."""

    since: datetime | None
    until: datetime | None
    metric: str
    higher_is_better: bool
    alpha: float
    power: float
    min_effect: float | None
    variants: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "alpha": self.alpha,
            "power": self.power,
            "min_effect": self.min_effect,
            "variants": self.variants,
            "comparisons": self.comparisons,
            "notes": self.notes,
        }


def experiment_report(
    store: Any,
    spec: Any,
    log_folder: Path,
    feedback: pd.DataFrame,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    metric: str | None = None,
    variant: str | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    min_effect: float | None = None,
) -> ExperimentReport:
    """Champion vs challenger / shadow on the window's labelled predictions."""
    from loopml.evaluate.metrics import metric_direction

    metric = metric or spec.primary_metric
    _check_options(spec.task, metric, variant, alpha, power, min_effect)
    window = _window(since, until)
    table = read_log(log_folder, since=since, until=until, columns=_META)
    if table.num_rows == 0:
        raise NotFoundError(
            f"the prediction log of {spec.name} holds no predictions {window}; serve with "
            "`loopml serve production --challenger N --split 10` (or `--shadow N`) first"
        )
    present = set(table.column("variant").to_pylist())
    compared = [v for v in COMPARED if v in present and variant in (None, v)]
    if not compared:
        asked = f"{variant} predictions" if variant else "challenger or shadow predictions"
        raise NotFoundError(
            f"the prediction log holds no {asked} {window} (only {', '.join(sorted(present))}); "
            "start an experiment with `loopml serve production --challenger N --split 10` "
            "or `--shadow N`"
        )
    models = _models(store, spec.name, table)
    classes = _classes(models)
    outputs = ["prediction"] + [f"proba_{c}" for c in classes or []]
    table = read_log(log_folder, since=since, until=until, columns=_META + outputs)
    table = table.filter(_is_in(table.column("variant"), [CHAMPION, *compared]))
    notes: list[str] = []
    logged = table.select(["request_id", "record", "variant", "model_version", *outputs])
    # A retried request id (sticky to its variant) is one prediction, not two.
    logged = logged.to_pandas().drop_duplicates(["request_id", "record", "variant"], keep="last")
    labels = feedback[_has_label(feedback, logged)]  # the labels of this window's predictions
    labels = _usable_labels(labels, spec.task, classes, notes)
    logged["labelled"] = _has_label(logged, labels)
    if not logged["labelled"].any():
        raise DataError(
            f"none of the {len(logged):,} predictions of this experiment {window} has a "
            "label yet; send ground truth with `loopml feedback FILE` (request_id, label"
            "[, record]) or POST /feedback"
        )
    summaries, newest = [], {}
    for name in [CHAMPION, *compared]:
        rows = logged[logged["variant"] == name]
        summary, newest[name] = _summary(name, rows, labels, models, metric, notes)
        summaries.append(summary)
    comparisons = [
        _comparison(
            name,
            logged,
            labels,
            spec.task,
            metric,
            classes=classes,
            thresholds=(_threshold(newest[CHAMPION]), _threshold(newest[name])),
            alpha=alpha,
            power=power,
            min_effect=min_effect,
        )
        for name in compared
    ]
    if len(compared) > 1:
        notes.append(
            "this window holds a canary and a shadow experiment; the champion's rows of both "
            "are compared with each: narrow --since/--until to one experiment"
        )
    return ExperimentReport(
        since=since,
        until=until,
        metric=metric,
        higher_is_better=metric_direction(metric),
        alpha=alpha,
        power=power,
        min_effect=min_effect,
        variants=summaries,
        comparisons=comparisons,
        notes=notes,
    )


def _check_options(
    task: str,
    metric: str,
    variant: str | None,
    alpha: float,
    power: float,
    min_effect: float | None,
) -> None:
    from loopml.evaluate.metrics import metrics_for

    allowed = metrics_for(task)
    if metric not in allowed:
        raise UsageError(
            f"--metric {metric} does not apply to this {task} task; choose one of "
            f"{', '.join(allowed)}"
        )
    if variant is not None and variant not in COMPARED:
        raise UsageError(
            f"--variant {variant} is not a variant compared with the champion; "
            f"choose {' or '.join(COMPARED)}"
        )
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise UsageError(
            f"--alpha {alpha:g} and --power {power:g} must both lie between 0 and 1 "
            "(e.g. 0.05 and 0.8)"
        )
    if min_effect is not None and not min_effect > 0:
        raise UsageError(
            f"--min-effect {min_effect:g} must be a positive difference in {metric}, e.g. 0.01"
        )


def _window(since: datetime | None, until: datetime | None) -> str:
    start = "" if since is None else f"since {since.isoformat(timespec='seconds')}"
    end = "" if until is None else f"until {until.isoformat(timespec='seconds')}"
    return " ".join(part for part in (start, end) if part) or "at all"


def _is_in(column: Any, values: list[str]) -> Any:
    """A pyarrow mask: `column` is one of `values`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(column, value_set=pa.array(values, pa.string()))


def _models(store: Any, project: str, table: Any) -> dict[int, dict[str, Any]]:
    """The model versions (each with its `run`) the experiment's predictions came from."""
    rows = table.filter(_is_in(table.column("variant"), [CHAMPION, *COMPARED]))
    models = {}
    for number in sorted(set(rows.column("model_version").to_pylist())):
        version = store.meta.model_version(project, int(number))
        if version is not None:
            models[int(number)] = version | {"run": store.meta.run(version["run_id"])}
    if not models:
        raise NotFoundError(
            f"the model versions of these predictions are not in the registry of {project}"
        )
    return models


def _classes(models: dict[int, dict[str, Any]]) -> list[str] | None:
    chosen = models[max(models)]["run"]["chosen"] or {}
    return [str(c) for c in chosen.get("classes") or []] or None


def _threshold(version: dict[str, Any] | None) -> float:
    chosen = (version or {}).get("run", {}).get("chosen") or {}
    return float(chosen.get("threshold") or 0.5)


def _usable_labels(
    feedback: pd.DataFrame, task: str, classes: list[str] | None, notes: list[str]
) -> pd.DataFrame:
    """The labels the metric can use; the others are counted in a note."""
    labels = feedback[["request_id", "record", "label"]].copy()
    if task == "regression":
        labels["label"] = pd.to_numeric(labels["label"], errors="coerce")
        bad = labels["label"].isna()
        why = "are not numbers"
    else:
        labels["label"] = labels["label"].astype(str)
        bad = ~labels["label"].isin(classes or [])
        why = f"are not classes of the model ({', '.join(classes or [])})"
    if bad.any():
        notes.append(f"{int(bad.sum()):,} labels {why}: left out")
    return labels[~bad.to_numpy()].reset_index(drop=True)


def _has_label(frame: pd.DataFrame, labels: pd.DataFrame) -> np.ndarray:
    """Which rows of `frame` have a (request_id, record) that `labels` holds."""
    keys = pd.MultiIndex.from_frame(labels[["request_id", "record"]].astype({"record": "int64"}))
    rows = frame[["request_id", "record"]].astype({"record": "int64"})
    return pd.MultiIndex.from_frame(rows).isin(keys)


def _summary(
    name: str,
    rows: pd.DataFrame,
    labels: pd.DataFrame,
    models: dict[int, dict[str, Any]],
    metric: str,
    notes: list[str],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Requests, labelled rows and the metric (with its bootstrap interval) of one variant,
    and the newest model version that answered as it."""
    import pyarrow as pa

    numbers = sorted(int(n) for n in rows["model_version"].unique())
    if len(numbers) > 1:
        notes.append(
            f"the {name} was served by versions {', '.join(map(str, numbers))} in this window "
            "(its reference moved); its newest version's threshold scores them all: narrow "
            "--since/--until to one of them"
        )
    newest = models.get(numbers[-1]) if numbers else None
    out: dict[str, Any] = {
        "variant": name,
        "versions": numbers,
        "requests": int(rows["request_id"].nunique()),
        "rows": len(rows),
        "labelled": int(rows["labelled"].sum()),
        "value": None,
        "interval": None,
        "test": None,
    }
    if newest is not None and out["labelled"]:
        version = {k: v for k, v in newest.items() if k != "run"} | {"metric": metric}
        table = pa.Table.from_pandas(rows.drop(columns="labelled"), preserve_index=False)
        performance = window_performance(table, labels, version, newest["run"])
        out |= {k: performance.get(k) for k in ("value", "interval", "test")}
    return out, newest


def _arm(rows: pd.DataFrame, task: str, classes: list[str] | None, threshold: float) -> Arm:
    if task == "regression":
        return Arm(rows["label"].to_numpy(float), rows["prediction"].to_numpy(float))
    proba = rows[[f"proba_{c}" for c in classes]].to_numpy(float)
    prediction = proba[:, 1] if task == "binary" else proba
    return Arm(rows["label"].to_numpy(str), prediction, threshold)


def _comparison(
    name: str,
    logged: pd.DataFrame,
    labels: pd.DataFrame,
    task: str,
    metric: str,
    *,
    classes: list[str] | None,
    thresholds: tuple[float, float],
    **options: Any,
) -> dict[str, Any]:
    """One variant against the champion: the difference, its test, the sample size needed."""
    paired = name == SHADOW
    keys = ["request_id", "record"]
    outputs = [c for c in logged.columns if c == "prediction" or c.startswith("proba_")]
    champion = logged.loc[logged["variant"] == CHAMPION, keys + outputs].merge(labels, on=keys)
    other = logged.loc[logged["variant"] == name, keys + outputs].merge(labels, on=keys)
    if paired:  # the same requests, row for row
        both = champion.merge(other.drop(columns="label"), on=keys, suffixes=("", "@"))
        champion = both[keys + outputs + ["label"]]
        other = both[[*keys, "label"]].assign(**{c: both[f"{c}@"] for c in outputs})
    n_a, n_b = len(champion), len(other)
    out: dict[str, Any] = {
        "variant": name,
        "design": "shadow: paired, the same requests" if paired else "canary: independent requests",
        "rows": {CHAMPION: n_a, name: n_b},
    }
    if n_a < 2 or n_b < 2:
        return out | {
            "verdict": "too few labels",
            "message": f"{n_a} and {n_b} labelled predictions are too few to compare",
        }
    result = compare(
        task,
        metric,
        _arm(champion, task, classes, thresholds[0]),
        _arm(other, task, classes, thresholds[1]),
        paired=paired,
        classes=classes,
        **options,
    )
    needed = result["needed"]
    out |= {
        "test": result["test"],
        CHAMPION: result["champion"],
        name: result["challenger"],
        "difference": result["difference"],
        "interval": result["interval"],
        "statistic": result["statistic"],
        "p_value": result["p_value"],
        "effect": result["effect"],
        "needed": None if needed is None else {CHAMPION: needed[0], name: needed[1]},
        "more": None
        if needed is None
        else {CHAMPION: max(0, needed[0] - n_a), name: max(0, needed[1] - n_b)},
    }
    return out | _verdict(name, metric, result, out["more"], options["alpha"])


def _verdict(
    name: str, metric: str, result: dict[str, Any], more: dict[str, int] | None, alpha: float
) -> dict[str, Any]:
    p, d = result["p_value"], result["difference"]
    if p is None or not np.isfinite(p):
        return {"verdict": "too few labels", "message": f"{metric} is undefined on these labels"}
    figures = (
        f"{metric} {result['challenger']:.4g} vs {result['champion']:.4g} "
        f"(difference {d:+.4g}, p = {p:.2g})"
    )
    missing = max(more.values()) if more else 0
    if result["significant"]:
        verdict = "better" if result["better"] else "worse"
        early = " (before the sample size planned for this effect)" if missing else ""
        return {
            "verdict": verdict,
            "message": f"the {name} is {verdict} than the champion{early}: {figures}",
        }
    if not result["effect"]:
        return {"verdict": "not significant", "message": f"no difference at all: {figures}"}
    wait = (
        f"; about {missing:,} more labelled rows per variant would detect a difference of "
        f"{result['effect']:.3g}"
        if missing
        else ""
    )
    return {
        "verdict": "not significant",
        "message": f"no significant difference at α = {alpha:g} yet: {figures}{wait}",
    }
