"""Write a ProjectSpec as a commented `loopml.yaml` that reads back to the same spec."""

from __future__ import annotations

import json
from pathlib import Path

from loopml.spec import METRICS, SERVICE_METRICS, ProjectSpec


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
"""


def _yaml_bool(value: bool) -> str:
    return "true" if value else "false"


def write_spec(spec: ProjectSpec, path: Path) -> Path:
    """Write the commented spec to `path`."""
    path.write_text(render_spec(spec), encoding="utf-8")
    return path
