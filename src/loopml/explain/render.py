"""Explanations for people: rich tables in the terminal, an HTML page, report sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.explain.summary import GlobalExplanation, LocalExplanations

TEMPLATE = "explain.html.j2"
SHOWN = 20  # columns listed in the terminal


def print_explanation(result: GlobalExplanation | LocalExplanations, *, top: int = SHOWN) -> None:
    """Print a global explanation's importance table, or each row's top contributions."""
    if isinstance(result, LocalExplanations):
        _print_local(result)
    else:
        _print_global(result, top)


def _print_global(result: GlobalExplanation, top: int) -> None:
    from rich.table import Table

    from loopml.console import console

    version = "" if result.model_version is None else f" of model version {result.model_version}"
    console.print(
        f"What drives the predictions{version}: mean |SHAP| over {result.rows:,} rows, "
        f"in {result.space}; by {' and '.join(result.methods)}"
    )
    permutation = {p["feature"]: p for p in result.permutation or []}
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("column")
    table.add_column("mean |SHAP|", justify="right")
    if result.importance and result.importance[0].get("mean") is not None:
        table.add_column("mean SHAP", justify="right")
    if permutation:
        table.add_column("permutation (test)", justify="right")
    for entry in result.importance[:top]:
        cells = [entry["feature"], f"{entry['mean_abs']:.4g}"]
        if entry.get("mean") is not None:
            cells.append(f"{entry['mean']:+.4g}")
        if permutation:
            drop = permutation.get(entry["feature"], {}).get("importance")
            cells.append("—" if drop is None else f"{drop:.4g}")
        table.add_row(*cells)
    console.print(table)
    if len(result.importance) > top:
        console.print(f"… and {len(result.importance) - top} more columns (see --json)")
    for note in result.notes or []:
        console.print(f"note: {note}")


def _print_local(result: LocalExplanations) -> None:
    from rich.table import Table

    from loopml.console import console

    for row in result.rows:
        console.print(
            f"Record {row.row}: {row.output_name} = {row.output:.4g} "
            f"(base value {row.base_value:.4g}, in {result.space})"
        )
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("column")
        table.add_column("value")
        table.add_column("contribution", justify="right")
        for item in row.contributions:
            value = "missing" if item["value"] is None else str(item["value"])
            table.add_row(item["feature"], value, f"{item['contribution']:+.4g}")
        if row.rest_count:
            table.add_row(f"{row.rest_count} other columns", "", f"{row.rest:+.4g}")
        console.print(table)


def explanation_section(result: GlobalExplanation) -> dict[str, Any]:
    """The charts and table of a global explanation, for a report page."""
    from loopml.report import explain_plots
    from loopml.report.html import draw_chart

    names = [entry["feature"] for entry in result.importance]
    bar = draw_chart(
        explain_plots.shap_bar_chart,
        names,
        [entry["mean_abs"] for entry in result.importance],
        space=result.space,
    )
    swarm = None
    if result.values is not None and len(result.values):
        swarm = draw_chart(
            explain_plots.beeswarm_chart,
            result.columns,
            result.values,
            result.colors,
            space=result.space,
        )
    rows = [
        (
            entry["feature"],
            f"{entry['mean_abs']:.4g}",
            "—" if entry.get("mean") is None else f"{entry['mean']:+.4g}",
        )
        for entry in result.importance
    ]
    return {
        "bar": bar,
        "beeswarm": swarm,
        "rows": rows,
        "space": result.space,
        "methods": ", ".join(result.methods),
        "explained": result.rows,
        "given": result.rows_given,
        "base_value": ", ".join(f"{b:.4g}" for b in result.base_value),
        "notes": list(result.notes or []),
    }


def write_explanation_page(
    result: GlobalExplanation, path: Path, *, project: str, ref: str
) -> Path:
    """Write the global explanation as one self-contained HTML page."""
    from loopml.report.html import render, write_report

    permutation = [
        (p["feature"], f"{p['importance']:.4g}", f"{p.get('std') or 0:.2g}")
        for p in result.permutation or []
    ]
    html = render(
        TEMPLATE,
        project=project,
        ref=ref,
        version=result.model_version,
        shap=explanation_section(result),
        permutation=permutation,
        toc=[
            {"id": "shap", "title": "SHAP importance"},
            {"id": "permutation", "title": "Permutation importance"},
        ],
    )
    return write_report(Path(path), html)
