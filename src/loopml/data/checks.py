"""Data quality checks: each turns column scans into findings with a severity."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from loopml.data.findings import Finding
from loopml.data.stats import ColumnScan
from loopml.spec import ProjectSpec


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def check_target(
    target: ColumnScan, spec: ProjectSpec, class_counts: dict[str, int]
) -> list[Finding]:
    """Missing target values, a single class, and class imbalance."""
    findings: list[Finding] = []
    stats, name = target.stats, target.stats.name
    if stats.missing:
        action = (
            "cleaning drops these rows"
            if spec.cleaning.drop_missing_target
            else "set `cleaning.drop_missing_target: true` or fill them"
        )
        findings.append(
            Finding(
                "missing_target",
                "warning",
                [name],
                f"{stats.missing:,} rows ({_pct(stats.missing_rate)}) have no value in target "
                f"`{name}`; {action}",
                {"rows": stats.missing},
            )
        )
    if spec.task == "regression":
        return findings
    counts = class_counts
    if len(counts) < 2:
        findings.append(
            Finding(
                "single_class",
                "error",
                [name],
                f"target `{name}` has a single class {list(counts)}; a classifier needs at least two",
            )
        )
        return findings
    largest, smallest = max(counts.values()), min(counts.values())
    rare = min(counts, key=counts.get)
    ratio = largest / smallest
    if ratio >= spec.checks.imbalance_ratio:
        findings.append(
            Finding(
                "class_imbalance",
                "warning",
                [name],
                f"target `{name}` is imbalanced: the largest class has {ratio:.1f}× the rows of the "
                f"smallest ({rare!r}, {smallest:,} rows); prefer roc_auc, pr_auc or log_loss "
                "over accuracy",
                {"ratio": ratio, "counts": counts},
            )
        )
    elif smallest < 10:
        findings.append(
            Finding(
                "class_imbalance",
                "warning",
                [name],
                f"class {rare!r} of target `{name}` has only {smallest} rows; too few to learn from",
                {"counts": counts},
            )
        )
    return findings


def check_columns(scans: list[ColumnScan], spec: ProjectSpec) -> list[Finding]:
    """Per-column checks: constant, identifier, missing, cardinality, mixed types, outliers."""
    checks = spec.checks
    findings: list[Finding] = []
    for scan in scans:
        s = scan.stats
        name = s.name
        if s.role == "constant":
            only = s.top_values[0][0] if s.count else "(all missing)"
            findings.append(
                Finding(
                    "constant_column",
                    "warning",
                    [name],
                    f"column `{name}` holds a single value ({only!r}); it carries no information"
                    + (" and cleaning drops it" if spec.cleaning.drop_constant_columns else ""),
                )
            )
            continue
        top_share = scan.top_count / s.count if s.count else 0.0
        if top_share >= checks.near_constant_share:
            findings.append(
                Finding(
                    "near_constant_column",
                    "info",
                    [name],
                    f"column `{name}` has one value in {_pct(top_share)} of rows; it carries little "
                    "information",
                    {"top_share": top_share},
                )
            )
        if s.role == "identifier":
            findings.append(
                Finding(
                    "identifier_column",
                    "info",
                    [name],
                    f"column `{name}` looks like an identifier ({s.unique:,} distinct values in "
                    f"{s.count:,} rows); "
                    + (
                        "cleaning drops it"
                        if spec.cleaning.drop_identifier_columns
                        else "models cannot generalize from it"
                    ),
                    {"unique": s.unique},
                )
            )
        if s.missing_rate >= checks.high_missing_rate:
            findings.append(
                Finding(
                    "high_missing_rate",
                    "warning",
                    [name],
                    f"column `{name}` is missing in {_pct(s.missing_rate)} of rows",
                    {"missing_rate": s.missing_rate},
                )
            )
        if s.role == "categorical" and s.unique > checks.high_cardinality:
            findings.append(
                Finding(
                    "high_cardinality",
                    "warning",
                    [name],
                    f"categorical column `{name}` has {s.unique:,} distinct values (over "
                    f"{checks.high_cardinality}); one-hot encoding it would be wide",
                    {"unique": s.unique},
                )
            )
        if (
            scan.numeric_share is not None
            and 0.5 <= scan.numeric_share < 1
            and s.role != "datetime"
        ):
            findings.append(
                Finding(
                    "mixed_types",
                    "warning",
                    [name],
                    f"column `{name}` mixes numbers ({_pct(scan.numeric_share)} of values) with text "
                    f"such as {scan.non_numeric_examples[:3]}; clean those values or declare its role",
                    {"numeric_share": scan.numeric_share, "examples": scan.non_numeric_examples},
                )
            )
        if s.outliers and s.count and s.outliers / s.count >= checks.outlier_share:
            findings.append(
                Finding(
                    "outliers",
                    "info",
                    [name],
                    f"column `{name}` has {s.outliers:,} values ({_pct(s.outliers / s.count)}) beyond "
                    "3 interquartile ranges from the quartiles",
                    {"outliers": s.outliers},
                )
            )
    return findings


def check_duplicate_columns(scans: list[ColumnScan], content: dict[str, str]) -> list[Finding]:
    """Columns with equal values, or categorical-like columns that relabel each other.

    `content` maps column names to their content digests (from the dataset version).
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for scan in scans:
        s = scan.stats
        if s.role == "constant":
            continue
        if s.name in content:
            groups[("equal", content[s.name])].append(s.name)
        # Columns of (nearly) distinct values trivially "relabel" each other, more so with
        # duplicate rows; only few-valued columns make a meaningful one-to-one mapping.
        if s.unique <= 0.5 * s.count:
            groups[("relabel", scan.codes_digest)].append(s.name)
    seen: set[tuple[str, ...]] = set()
    findings = []
    for (kind, _), names in groups.items():
        if len(names) < 2 or tuple(names) in seen:
            continue
        seen.add(tuple(names))
        how = "hold equal values" if kind == "equal" else "relabel each other one to one"
        findings.append(
            Finding(
                "duplicate_columns",
                "warning",
                names,
                f"columns {', '.join(f'`{n}`' for n in names)} {how}; keep one",
            )
        )
    return findings


def check_duplicate_rows(duplicates: int, rows: int, spec: ProjectSpec) -> list[Finding]:
    """Rows that repeat an earlier row in every column."""
    if not duplicates:
        return []
    action = (
        "cleaning drops them" if spec.cleaning.drop_duplicate_rows else "they may inflate scores"
    )
    return [
        Finding(
            "duplicate_rows",
            "warning",
            [],
            f"{duplicates:,} rows ({_pct(duplicates / rows)}) repeat an earlier row exactly; {action}",
            {"rows": duplicates},
        )
    ]


def check_leakage(
    scans: list[ColumnScan], spec: ProjectSpec, leak_scores: dict[str, float]
) -> list[Finding]:
    """A single column that predicts the target almost perfectly: likely target leakage."""
    findings = []
    for scan in scans:
        s = scan.stats
        score = leak_scores.get(s.name)
        if score is None or score < spec.checks.leakage_score:
            continue
        findings.append(
            Finding(
                "target_leakage",
                "error",
                [s.name],
                f"column `{s.name}` alone predicts target `{spec.target}` almost perfectly "
                f"({s.association_metric} {score:.3f} out of fold); it probably leaks the answer — "
                "drop it (`cleaning.drop_columns`) unless it is known before the prediction is made",
                {"score": score, "metric": s.association_metric},
            )
        )
    return findings


def check_correlated_columns(correlations: dict[str, Any], spec: ProjectSpec) -> list[Finding]:
    """Pairs of numeric-like columns so correlated that one nearly duplicates the other."""
    names, matrix = correlations.get("columns", []), correlations.get("matrix", [])
    limit = spec.checks.high_correlation
    findings = []
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            rho = matrix[i][j]
            if rho is not None and abs(rho) >= limit:
                findings.append(
                    Finding(
                        "correlated_columns",
                        "info",
                        [first, names[j]],
                        f"columns `{first}` and `{names[j]}` are almost interchangeable (Spearman "
                        f"{rho:+.3f}); one of them may be redundant",
                        {"spearman": rho},
                    )
                )
    return findings
