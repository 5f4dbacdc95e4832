"""Write a ProjectSpec as a commented `loopml.yaml` that reads back to the same spec."""

from __future__ import annotations

import json
from pathlib import Path

from loopml.spec import METRICS, SERVICE_METRICS, Monitor, ProjectSpec, Retrain


def _scalar(value: object) -> str:
    # JSON scalars are valid YAML scalars; this quotes strings safely.
    return json.dumps(value, ensure_ascii=False)


def render_spec(spec: ProjectSpec) -> str:
    """The spec as YAML with a comment on every section."""
    data = spec.data
    task_metrics = ", ".join(m for m, (tasks, _) in METRICS.items() if spec.task in tasks)
    source_lines = []
    for key in ("path", "url", "table", "query", "delimiter", "encoding"):
        value = getattr(data, key)
        if value is not None:
            source_lines.append(f"  {key}: {_scalar(value)}")
    source_lines.append(f"  format: {data.format}            # auto | csv | parquet | jsonl | sql")
    goals = "\n".join(f"  - {_scalar(str(g))}" for g in spec.goals) or "  []"
    columns = (
        "\n".join(f"  {_scalar(name)}: {role}" for name, role in spec.columns.items())
        if spec.columns
        else "  {}"
    )
    cleaning, checks, split, store = spec.cleaning, spec.checks, spec.split, spec.store
    drop_columns = _scalar(cleaning.drop_columns)
    return f"""\
# loopml.yaml — the task definition. Reference of every key: docs/reference/spec.md
name: {_scalar(spec.name)}

# Where the table comes from: a file (CSV, Parquet, JSON Lines) or `url` + `table`/`query` (SQL).
data:
{chr(10).join(source_lines)}

# The column to predict, and the kind of task: binary | multiclass | regression.
target: {_scalar(spec.target)}
task: {spec.task}

# The metric model selection optimizes. For {spec.task}: {task_metrics}.
metric: {spec.primary_metric}

# KPI goals checked at evaluation and promotion, e.g. "roc_auc >= 0.85", "p99_latency_ms <= 20".
# Service metrics: {", ".join(SERVICE_METRICS)}.
goals:
{goals}

# Column role overrides: numeric | categorical | boolean | datetime | text | identifier | constant.
columns:
{columns}

# Cleaning applied before splitting; the result is a new dataset version linked to the raw one.
cleaning:
  drop_duplicate_rows: {_yaml_bool(cleaning.drop_duplicate_rows)}
  drop_missing_target: {_yaml_bool(cleaning.drop_missing_target)}
  drop_constant_columns: {_yaml_bool(cleaning.drop_constant_columns)}
  drop_identifier_columns: {_yaml_bool(cleaning.drop_identifier_columns)}
  drop_leaking_columns: {_yaml_bool(cleaning.drop_leaking_columns)}
  drop_columns: {drop_columns}

# Thresholds of the data quality checks run by `loopml profile`.
checks:
  high_missing_rate: {checks.high_missing_rate}        # share of rows missing
  near_constant_share: {checks.near_constant_share}     # share of the most frequent value
  high_cardinality: {checks.high_cardinality}         # distinct values of a categorical
  identifier_unique_share: {checks.identifier_unique_share} # distinct share that marks an identifier
  outlier_share: {checks.outlier_share}           # share of values beyond 3 IQR
  imbalance_ratio: {checks.imbalance_ratio}         # largest / smallest class
  leakage_score: {checks.leakage_score}          # single-column out-of-fold score that flags a leak
  high_correlation: {checks.high_correlation}       # |Spearman| between two columns that flags a near-duplicate
  sample_rows: {checks.sample_rows}         # rows sampled for association and correlations

# Train / validation / test. strategy: auto (stratified for classification) | random |
# stratified | group (needs group_column) | time (needs time_column; test = latest rows).
split:
  strategy: {split.strategy}
  test_size: {split.test_size}
  valid_size: {split.valid_size}
  group_column: {_scalar(split.group_column)}
  time_column: {_scalar(split.time_column)}

# Seed of every random choice: same data + spec + seed gives the same results.
seed: {spec.seed}

# Where metadata and artifacts live (relative to this file's folder).
store:
  metadata: {_scalar(store.metadata)}
  artifacts: {_scalar(store.artifacts)}

{_monitor_section(spec.monitor)}

{_retrain_section(spec.retrain)}
"""


def _section(title: str, rows: list[tuple[str, str]], default: bool) -> str:
    """A section with its title comment and a comment per key, aligned; commented out (and
    said to hold the defaults) when `default`, so uncommenting it changes nothing."""
    title += " These are the defaults; uncomment the section to change them." if default else ""
    width = max(len(text) for text, _ in rows) + 2
    lines = [f"{text:<{width}}# {comment}" if comment else text for text, comment in rows]
    prefix = "# " if default else ""
    return "\n".join(_wrap_comment(title) + [prefix + line for line in lines])


def _wrap_comment(text: str, width: int = 92) -> list[str]:
    import textwrap

    return ["# " + line for line in textwrap.wrap(text, width - 2)]


def _monitor_section(monitor: Monitor) -> str:
    """`monitor:` — drift thresholds, alert rules and the webhook of `loopml monitor`."""
    drift, alerts, hook = monitor.drift, monitor.alerts, monitor.webhook
    webhook = (
        ("  webhook: null", 'or {url: "https://…", headers: {Authorization: "Bearer ${TOKEN}"}}')
        if hook is None
        else (f"  webhook: {_scalar(hook.model_dump(mode='json'))}", "${VAR} reads the environment")
    )
    rows = [
        ("monitor:", ""),
        (f"  since: {_scalar(monitor.since)}", "default window: 30m, 2h, 7d, 1w or an ISO time"),
        ("  drift:", "when a feature (or the dataset) drifts"),
        (f"    small_sample: {drift.small_sample}", "up to this many values a test decides"),
        (f"    p_value: {drift.p_value}", "a test's p-value below this is drift"),
        (f"    wasserstein: {drift.wasserstein}", "numbers, larger samples: distance in stds"),
        (f"    jensen_shannon: {drift.jensen_shannon}", "categories, larger samples: distance"),
        (f"    psi: {drift.psi}", "PSI marked from here on (it does not decide)"),
        (f"    missing_rate: {drift.missing_rate}", "a change of the missing rate that is drift"),
        (f"    new_categories: {drift.new_categories}", "share of unseen categories that is drift"),
        (f"    dataset_share: {drift.dataset_share}", "share of drifted features (by importance)"),
        (f"    min_rows: {drift.min_rows}", "features with fewer values are not judged"),
        ("  alerts:", "the rules that raise alerts (exit 1); null turns one off"),
        (f"    dataset_drift: {_yaml_bool(alerts.dataset_drift)}", "the dataset drifted"),
        (f"    prediction_drift: {_yaml_bool(alerts.prediction_drift)}", "the predictions drifted"),
        (f"    feature_psi: {_scalar(alerts.feature_psi)}", 'column (or "*") -> PSI limit'),
        (f"    metric_drop: {_scalar(alerts.metric_drop)}", "metric worse than at test by more"),
        (f"    estimated: {_yaml_bool(alerts.estimated)}", "judge the label-free estimate too"),
        (f"    latency_p99_ms: {_scalar(alerts.latency_p99_ms)}", "p99 latency limit (ms)"),
        (f"    error_rate: {_scalar(alerts.error_rate)}", "share of refused or failed requests"),
        (f"    dropped_rows: {_scalar(alerts.dropped_rows)}", "prediction-log rows dropped"),
        (f"    min_requests: {alerts.min_requests}", "service rules wait for this many requests"),
        webhook,
        (f"  periods: {monitor.periods}", "time spans of the report's charts"),
    ]
    title = (
        "Monitoring: how `loopml monitor` judges the prediction log, which alerts it raises "
        "and where it posts them (docs/guide/monitor.md)."
    )
    return _section(title, rows, monitor == Monitor())


def _retrain_section(retrain: Retrain) -> str:
    """`retrain:` — the new data and the gate of `loopml retrain` and `monitor --retrain`."""
    data = retrain.data.model_dump(mode="json", exclude_defaults=True)
    rows = [
        ("retrain:", ""),
        (f"  data: {_scalar(data)}", "{}: labelled predictions of 30d; or 14d, all, {path: …}"),
        (f"  holdout: {retrain.holdout}", "share of the new rows both models are scored on"),
        (f"  search: {retrain.search}", "reuse (the champion's model refitted) | fresh"),
        (f"  margin: {retrain.margin}", "how much better the challenger must be to replace it"),
        (f"  min_rows: {retrain.min_rows}", "fewest new rows a retrain runs on"),
        (f"  time_budget: {_scalar(retrain.time_budget)}", "seconds (null: train.time_budget)"),
    ]
    on = "the alert rules that make `loopml monitor --retrain` retrain"
    rows += (
        [("  on:", on)] + [(f"    - {rule}", "") for rule in retrain.on]
        if retrain.on
        else [("  on: []", on)]
    )
    title = (
        "Retraining: where `loopml retrain` (and `loopml monitor --retrain`) gets new rows and "
        "when its challenger replaces the champion (docs/guide/retrain.md)."
    )
    return _section(title, rows, retrain == Retrain())


def _yaml_bool(value: bool) -> str:
    return "true" if value else "false"


def write_spec(spec: ProjectSpec, path: Path) -> Path:
    """Write the commented spec to `path`."""
    path.write_text(render_spec(spec), encoding="utf-8")
    return path
