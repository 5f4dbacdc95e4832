"""The data-profile HTML report and the plot helpers under it."""

from __future__ import annotations

import base64
import html
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from loopml.data.findings import Finding
from loopml.data.profile import ProfileResult
from loopml.data.stats import ColumnStats, Histogram
from loopml.report import html as report_html
from loopml.report import plots
from loopml.report.profile_report import render_profile_report, write_profile_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_VALUE = "<b onmouseover=alert(2)>bold</b>"
VERSION = "a" * 12 + "b" * 52
CLEANED = "c" * 12 + "d" * 52
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
SECTIONS = (
    "summary",
    "findings",
    "cleaning",
    "overview",
    "target",
    "association",
    "correlations",
    "columns",
)


def _png_bytes(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return base64.b64decode(uri[len(prefix) :], validate=True)


def _section(page: str, section: str, following: str) -> str:
    start = page.index(f'id="{section}"')
    return page[start : page.index(f'id="{following}"', start)]


def _rich_result() -> ProfileResult:
    """A classification profile: every kind of column, findings of every severity, cleaning."""
    columns = [
        ColumnStats(
            name="age",
            dtype="int64",
            role="numeric",
            role_source="inferred",
            count=12_333,
            missing=12,
            unique=80,
            mean=41.123456,
            std=12.5,
            min=18,
            q25=30.0,
            median=40.0,
            q75=52.0,
            max=95,
            zeros=0,
            outliers=7,
            histogram=Histogram(edges=[18, 37.25, 56.5, 75.75, 95], counts=[4000, 5000, 3000, 333]),
            target_association=0.31,
            association_metric="spearman",
        ),
        ColumnStats(
            name="income",
            dtype="float64",
            role="numeric",
            role_source="spec",
            count=12_345,
            missing=0,
            unique=9_000,
            mean=1_234_567.891,
            std=0.000123456,
            min=0.0,
            q25=10.5,
            median=20.25,
            q75=30.125,
            max=2e6,
            zeros=12,
            outliers=0,
            histogram=Histogram(edges=[0.0, 1e6, 2e6], counts=[10_000, 2_345]),
            target_association=-0.2,
            association_metric="spearman",
        ),
        ColumnStats(
            name="city",
            dtype="string",
            role="categorical",
            role_source="inferred",
            count=12_345,
            missing=0,
            unique=3,
            top_values=[
                ("Amsterdam", 6000),
                ("a city with a very long name indeed, " * 3, 4000),
                ("Zürich", 2345),
            ],
            target_association=0.12,
            association_metric="cramers_v",
        ),
        ColumnStats(
            name="signup_date",
            dtype="timestamp[us]",
            role="datetime",
            role_source="inferred",
            count=12_345,
            missing=0,
            unique=365,
            min="2024-01-01",
            median="2024-06-30",
            max="2024-12-31",
            histogram=Histogram(
                edges=[
                    "2024-01-01T00:00:00",
                    "2024-05-01T00:00:00",
                    "2024-09-01T00:00:00",
                    "2024-12-31T00:00:00",
                ],
                counts=[4000, 4000, 4345],
            ),
        ),
        ColumnStats(
            name=HOSTILE,
            dtype="string",
            role="categorical",
            role_source="inferred",
            count=12_342,
            missing=3,
            unique=2,
            top_values=[(HOSTILE_VALUE, 10_000), ("plain", 2_342)],
        ),
        ColumnStats(
            name="notes",
            dtype="string",
            role="text",
            role_source="inferred",
            count=12_345,
            missing=0,
            unique=12_000,
            text_length_mean=87.25,
        ),
        ColumnStats(
            name="churned",
            dtype="string",
            role="categorical",
            role_source="spec",
            count=12_345,
            missing=0,
            unique=2,
            top_values=[("no", 9000), ("yes", 3345)],
        ),
    ]
    findings = [
        Finding("high_cardinality", "info", ["notes"], "notes has 12,000 distinct values."),
        Finding("target_leak", "error", ["age"], "age predicts the target almost perfectly."),
        Finding("missing_values", "warning", [HOSTILE], f"{HOSTILE} has missing values."),
        Finding("duplicates", "info", [], "4 duplicate rows."),
    ]
    return ProfileResult(
        version=VERSION,
        source="customers.csv",
        target="churned",
        task="classification",
        rows=12_345,
        columns=len(columns),
        column_stats=columns,
        findings=findings,
        target_summary={"kind": "classes", "counts": {"no": 9000, "yes": 3345}},
        correlations={
            "method": "spearman",
            "columns": ["age", "income", "signup_date"],
            "matrix": [[1.0, 0.5, None], [0.5, 1.0, -0.1], [None, -0.1, 1.0]],
        },
        duplicate_rows=4,
        cleaned_version=CLEANED,
        cleaned_rows=12_341,
        cleaned_columns=7,
        cleaning=[
            {"op": "drop_duplicates", "rows_removed": 4},
            {"op": "drop_constant", "columns": ["const"], "reason": "one value"},
        ],
        elapsed_s=1.234,
    )


@pytest.fixture
def rich_result() -> ProfileResult:
    """A fresh rich profile, free to change."""
    return _rich_result()


@pytest.fixture(scope="module")
def rich_page() -> str:
    """The rich profile's report, rendered once for the tests that only read it."""
    return render_profile_report(_rich_result())


# what the rich report must draw: missing rates, class balance, association, correlations,
# and one chart per column with a histogram or top values ("notes" has neither)
RICH_IMAGES = 4 + 6


@pytest.fixture
def plain_result() -> ProfileResult:
    """A regression profile without findings, correlations, missing values or cleaning."""
    columns = [
        ColumnStats(
            name="x",
            dtype="float64",
            role="numeric",
            role_source="inferred",
            count=100,
            missing=0,
            unique=100,
            mean=0.5,
            std=0.29,
            min=0.0,
            max=1.0,
            histogram=Histogram(edges=[0.0, 0.5, 1.0], counts=[50, 50]),
        ),
        ColumnStats(
            name="price",
            dtype="float64",
            role="numeric",
            role_source="spec",
            count=100,
            missing=0,
            unique=90,
            mean=10.0,
            min=1.0,
            max=20.0,
            histogram=Histogram(edges=[1.0, 10.0, 20.0], counts=[60, 40]),
        ),
    ]
    return ProfileResult(
        version="f" * 64,
        source="houses.parquet",
        target="price",
        task="regression",
        rows=100,
        columns=2,
        column_stats=columns,
        findings=[],
        target_summary={
            "kind": "numeric",
            "histogram": {"edges": [1, 10, 20], "counts": [60, 40]},
            "mean": 10.0,
        },
        correlations={},
        duplicate_rows=0,
    )


def test_report_is_written_atomically_and_self_contained(
    tmp_path: Path, rich_result: ProfileResult
) -> None:
    target = tmp_path / "reports" / "profile.html"
    written = write_profile_report(rich_result, target)
    assert written == target and target.is_file()
    assert [p.name for p in target.parent.iterdir()] == ["profile.html"]  # no temp file left
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    assert "<script" not in page.lower()  # no script at all, and none smuggled in by a name
    assert "loopml " + report_html.__version__ in page


def test_every_column_appears_escaped(rich_page: str) -> None:
    page = rich_page
    for stats in _rich_result().column_stats:
        assert html.escape(stats.name) in page
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE_VALUE not in page and "onmouseover=alert(2)>" not in page


def test_images_are_png_data_uris_and_match_the_content(
    rich_result: ProfileResult, plain_result: ProfileResult
) -> None:
    for result, expected in ((rich_result, RICH_IMAGES), (plain_result, 1 + 2)):
        page = render_profile_report(result)
        images = IMG.findall(page)
        assert page.count("<img") == len(images) == expected
        for encoded in images:
            assert base64.b64decode(encoded, validate=True).startswith(PNG_SIGNATURE)


def test_findings_are_sorted_errors_first(rich_page: str) -> None:
    page = rich_page
    table = _section(page, "findings", "cleaning")
    assert re.findall(r'class="badge (\w+)"', table) == ["error", "warning", "info", "info"]
    assert "no findings" not in page
    assert table.index("target_leak") < table.index("missing_values") < table.index("duplicates")
    # a finding is also listed under the column it names
    column = page[page.index(f"<h3>{html.escape(HOSTILE)}</h3>") :]
    column = column[: column.index("</details>")]
    assert "missing_values" in column


def test_empty_sections_say_so(plain_result: ProfileResult) -> None:
    page = render_profile_report(plain_result)
    assert "no findings" in page
    assert "no missing values" in page
    assert "No cleaning operation was applied" in page
    assert "Correlations need at least two" in page
    assert "No column has a measured association" in page
    assert "No summary of the target" not in page  # the numeric target has its histogram


def test_header_cleaning_and_numbers(rich_page: str) -> None:
    page = rich_page
    assert f'<code title="{VERSION}">{VERSION[:12]}</code>' in page
    assert f'<code title="{CLEANED}">{CLEANED[:12]}</code>' in page
    cleaning = _section(page, "cleaning", "overview")
    assert "drop_duplicates" in cleaning and "drop_constant" in cleaning
    assert "reason: one value" in cleaning
    assert "12,341" in cleaning  # cleaned rows
    assert "12,345" in page  # rows with a thousands separator
    assert "41.12" in page and "41.123456" not in page  # 4 significant digits
    assert "1,234,568" in page  # a large float, rounded
    assert "0.0001235" in page  # a small float, 4 significant digits
    assert "0.1%" in page  # 12 of 12,345 missing
    assert "72.9%" in page  # class share of "no"


@pytest.mark.parametrize("section", SECTIONS)
def test_sections_have_ids_in_the_nav(rich_page: str, section: str) -> None:
    assert f'id="{section}"' in rich_page
    assert f'href="#{section}"' in rich_page


def test_a_chart_that_cannot_be_drawn_does_not_break_the_report(
    rich_result: ProfileResult, caplog: pytest.LogCaptureFixture
) -> None:
    rich_result.column_stats[0].histogram = Histogram(edges=[1, 2], counts=[1, 2, 3])
    page = render_profile_report(rich_result)
    assert "could not be drawn" in page
    assert len(IMG.findall(page)) == RICH_IMAGES - 1
    assert "could not draw" in caplog.text


def test_sixty_columns_render(tmp_path: Path) -> None:
    columns = []
    for i in range(60):
        if i % 2:
            columns.append(
                ColumnStats(
                    name=f"category_{i}_with_a_rather_long_name_for_layout",
                    dtype="string",
                    role="categorical",
                    role_source="inferred",
                    count=1000 - i,
                    missing=i,
                    unique=20,
                    top_values=[(f"value {j} " * 4, 100 - j) for j in range(10)],
                    target_association=i / 100,
                    association_metric="cramers_v",
                )
            )
        else:
            columns.append(
                ColumnStats(
                    name=f"number_{i}",
                    dtype="float64",
                    role="numeric",
                    role_source="inferred",
                    count=1000,
                    missing=0,
                    unique=900,
                    mean=float(i),
                    std=1.0,
                    min=0.0,
                    max=99.0,
                    histogram=Histogram(edges=list(range(21)), counts=[i + j for j in range(20)]),
                    target_association=-i / 100,
                    association_metric="spearman",
                )
            )
    numeric = [c.name for c in columns if c.histogram is not None]
    matrix = [[1.0 if a == b else 0.1 for b in numeric] for a in numeric]
    result = ProfileResult(
        version="0" * 64,
        source="wide.csv",
        target="number_0",
        task="regression",
        rows=1000,
        columns=60,
        column_stats=columns,
        findings=[],
        target_summary={"kind": "numeric", "histogram": columns[0].histogram},
        correlations={"method": "spearman", "columns": numeric, "matrix": matrix},
        duplicate_rows=0,
    )
    started = time.perf_counter()
    write_profile_report(result, tmp_path / "wide.html")
    elapsed = time.perf_counter() - started
    page = (tmp_path / "wide.html").read_text(encoding="utf-8")
    assert len(IMG.findall(page)) == 60 + 4  # columns, missing, target, association, heatmap
    print(f"60-column profile report: {elapsed:.2f} s")


@pytest.mark.parametrize(
    "edges",
    [
        ["2024-01-01", "2024-02-01", "2024-03-01"],
        ["2024-01-01T00:00:00Z", "2024-01-01T12:00:00+02:00", "2024-01-02T00:00:00+00:00"],
        [datetime(2020, 1, 1), datetime(2021, 1, 1), datetime(2022, 1, 1)],
        ["2024-01-01T00:00:00", "2024-01-01T00:00:00", "2024-01-01T00:00:00"],  # one moment
    ],
)
def test_histogram_chart_takes_dates(edges: list) -> None:
    png = _png_bytes(plots.histogram_chart(edges, [3, 5], title="when"))
    assert png.startswith(PNG_SIGNATURE)


def test_histogram_chart_rejects_mismatched_edges() -> None:
    with pytest.raises(ValueError, match="3 edges"):
        plots.histogram_chart([0, 1], [1, 2], title="bad")


def test_heatmap_chart_draws_undefined_cells() -> None:
    matrix = [[1.0, None, 0.3], [None, None, None], [0.3, None, 1.0]]
    png = _png_bytes(plots.heatmap_chart(["a", "b", "c"], matrix, title="spearman"))
    assert png.startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="3x3"):
        plots.heatmap_chart(["a", "b", "c"], [[1.0, 0.0], [0.0, 1.0]], title="bad")


def test_bar_chart_long_labels_and_no_data() -> None:
    labels = ["x" * 200, "costs $5 - $10", "short"]
    assert _png_bytes(plots.bar_chart(labels, [3, -1, None], title="t")).startswith(PNG_SIGNATURE)
    assert _png_bytes(plots.bar_chart([], [], title="empty", horizontal=False)).startswith(
        PNG_SIGNATURE
    )
    cut = plots.truncate_label("y" * 100)
    assert len(cut) == plots.LABEL_LIMIT and cut.endswith("…")
    assert plots.truncate_label("$5") == r"\$5"  # no mathtext


def test_formatters() -> None:
    assert report_html.format_count(1234567) == "1,234,567"
    assert report_html.format_count(None) == "—"
    assert report_html.format_number(3.14159265) == "3.142"
    assert report_html.format_number(1234567.891) == "1,234,568"
    assert report_html.format_number(42.0) == "42"
    assert report_html.format_number(float("nan")) == "NaN"
    assert report_html.format_percent(0.125) == "12.5%"
    assert report_html.format_percent(0.00001) == "<0.1%"
    assert report_html.format_percent(0) == "0.0%"


def test_write_report_keeps_the_old_page_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "page.html"
    report_html.write_report(target, "old")

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_html.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report_html.write_report(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_report_modules_do_not_load_matplotlib_on_import() -> None:
    code = (
        "import sys, loopml.report, loopml.report.html, loopml.report.profile_report; "
        "sys.exit('matplotlib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
