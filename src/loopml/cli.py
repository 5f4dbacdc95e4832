"""The `loopml` command: parse, call a stage, render. Heavy libraries load inside commands."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from loopml._version import __version__

app = typer.Typer(
    name="loopml",
    help="The whole life of a tabular ML model from one loopml.yaml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
data_app = typer.Typer(help="Dataset versions and their lineage.", no_args_is_help=True)
app.add_typer(data_app, name="data")
runs_app = typer.Typer(
    help="Training runs: leaderboards, trials, test metrics.", no_args_is_help=True
)
app.add_typer(runs_app, name="runs")
models_app = typer.Typer(help="Model versions, aliases and promotion.", no_args_is_help=True)
app.add_typer(models_app, name="models")
experiments_app = typer.Typer(
    help="Online experiments: champion vs challenger (canary) or shadow.", no_args_is_help=True
)
app.add_typer(experiments_app, name="experiments")

_state: dict[str, Any] = {"project": None, "debug": False}
_STARTED = time.perf_counter()  # `train --time-budget` counts from here: the command's start
F = TypeVar("F", bound=Callable[..., Any])


class TaskChoice(StrEnum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    never = "never"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"loopml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="Project folder or loopml.yaml (default: here)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """loopml: define, profile, split — and later train, serve and monitor — one model."""
    _state["project"] = project
    _state["debug"] = debug


def _handled(func: F) -> F:
    """Turn loopml errors into one sentence and an exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from loopml.errors import LoopmlError

        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except LoopmlError as exc:
            if _state["debug"]:
                raise
            from loopml.console import error

            error(exc.message)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            from loopml.console import error

            error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _project() -> Any:
    from loopml.api import Project

    return Project(_state["project"] or Path.cwd())


def _progress(enabled: bool) -> Any:
    from loopml.console import RichProgress

    return RichProgress(enabled=enabled)


@app.command()
@_handled
def init(
    data: Annotated[
        str | None, typer.Option("--data", help="Data file (CSV, Parquet, JSON Lines).")
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column to predict.")] = None,
    task: Annotated[
        TaskChoice | None, typer.Option("--task", help="Inferred from the target when absent.")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Primary metric (default by task).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Project name (default: folder name).")
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Use the bundled NYC flights demo table.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing loopml.yaml.")
    ] = False,
) -> None:
    """Define the task: write a commented loopml.yaml for a data file and its target."""
    from loopml.console import console
    from loopml.define import define_demo_project, define_project, read_head
    from loopml.errors import UsageError
    from loopml.spec import DataSource

    given = Path(_state["project"] or Path.cwd())
    root = given.parent if given.suffix in (".yaml", ".yml") else given
    if demo:
        if data is not None or target is not None or task is not None:
            raise UsageError(
                "--demo sets the data, target and task itself; drop --data/--target/--task"
            )
        spec, path = define_demo_project(root, metric=metric, name=name, force=force)
    else:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if data is None or target is None:
            if not interactive:
                raise UsageError("give --data FILE and --target COLUMN (or --demo)")
            data = data or typer.prompt("Data file (CSV, Parquet or JSON Lines)")
            if target is None:
                head = read_head(DataSource(path=str(Path(data).resolve())), root, None)
                console.print("Columns: " + ", ".join(head.columns))
                target = typer.prompt("Target column to predict")
            if task is None:
                answer = typer.prompt(
                    "Task: binary, multiclass or regression (Enter: infer from the target)",
                    default="",
                    show_default=False,
                ).strip()
                if answer and answer not in TaskChoice.__members__:
                    raise UsageError(
                        f"task {answer!r} is not one of binary, multiclass, regression"
                    )
                task = TaskChoice(answer) if answer else None
        spec, path = define_project(
            root,
            data=data,
            target=target,
            task=task.value if task else None,
            metric=metric,
            name=name,
            force=force,
        )
    console.print(
        f"Wrote {path}: project {spec.name}, target {spec.target} "
        f"({spec.task}, metric {spec.primary_metric}).\nNext: loopml profile"
    )


@app.command()
@_handled
def profile(
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 when findings at this level exist.")
    ] = FailOn.never,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Where to write the HTML report.")
    ] = None,
) -> None:
    """Version the data, run quality checks, clean it, and write the EDA report."""
    from loopml.console import console, print_json, severity, table
    from loopml.data.findings import at_least

    project = _project()
    with _progress(not as_json) as progress:
        result = project.profile(report_path=report, progress=progress)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(
            f"Dataset version {result.version[:12]}: {result.rows:,} rows × "
            f"{result.columns} columns from {result.source}"
        )
        rows = [
            [
                severity(f.severity),
                f.check,
                ", ".join(f.columns),
                f.message,
            ]
            for f in result.findings
        ]
        if rows:
            console.print(table("Findings", ["severity", "check", "columns", "message"], rows))
        else:
            console.print("No findings.")
        if result.cleaned_version and result.cleaned_version != result.version:
            console.print(
                f"Cleaned version {result.cleaned_version[:12]}: "
                f"{result.cleaned_rows:,} rows × {result.cleaned_columns} columns "
                f"({'; '.join(_describe_op(op) for op in result.cleaning)})"
            )
        console.print(f"Report: {result.report_path}  ({result.elapsed_s:.1f} s)")
    if fail_on is not FailOn.never and at_least(result.findings, fail_on.value):
        raise typer.Exit(1)


def _describe_op(op: dict[str, Any]) -> str:
    if op["op"] == "drop_columns":
        return f"dropped {', '.join(op['columns'])} ({op['reason']})"
    return f"{op['op'].replace('_', ' ')}: {op['rows_removed']:,} rows"


@app.command()
@_handled
def split(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Make the versioned train / validation / test split of the cleaned data."""
    from loopml.console import console, print_json

    project = _project()
    with _progress(not as_json) as progress:
        info = project.split(progress=progress)
    if as_json:
        print_json(info.to_dict())
        return
    parts = ", ".join(f"{part} {count:,}" for part, count in info.counts.items() if count)
    console.print(
        f"Split {info.short} of dataset {info.dataset_version[:12]} "
        f"({info.strategy}, seed {info.seed}): {parts}. The test part is sealed."
    )


@data_app.command("list")
@_handled
def data_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List dataset versions with their lineage."""
    from loopml.console import console, print_json, table

    project = _project()
    versions = project.datasets()
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    if not versions:
        console.print("No dataset versions yet; run `loopml profile`.")
        return
    rows = [
        [
            v.short,
            v.kind,
            v.parent_version[:12] if v.parent_version else "",
            f"{v.n_rows:,}",
            v.n_columns,
            v.created_at[:16].replace("T", " "),
            _short_source(v.source),
        ]
        for v in versions
    ]
    console.print(
        table(
            "Dataset versions",
            ["version", "kind", "parent", "rows", "columns", "created (UTC)", "source"],
            rows,
        )
    )


def _short_source(source: dict[str, Any]) -> str:
    if source.get("kind") in ("csv", "parquet", "jsonl") and source.get("path"):
        return Path(source["path"]).name
    return str(source.get("description", ""))


@data_app.command("show")
@_handled
def data_show(
    ref: Annotated[str, typer.Argument(help="Version id, unique prefix, or latest.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show one dataset version: source, schema, cleaning and lineage."""
    from loopml.console import console, print_json, table

    project = _project()
    version = project.dataset(ref)
    lineage = project.lineage(version)
    splits = [s for s in project.splits() if s.dataset_version == version.version]
    if as_json:
        print_json(
            version.to_dict()
            | {"lineage": [v.version for v in lineage], "splits": [s.to_dict() for s in splits]}
        )
        return
    console.print(f"Dataset version {version.version} ({version.kind})")
    console.print(f"Source: {version.source.get('description', '')}")
    console.print(
        f"Rows: {version.n_rows:,}  Columns: {version.n_columns}  Created: {version.created_at}"
    )
    console.print("Lineage: " + " ← ".join(f"{v.short} ({v.kind})" for v in lineage))
    for op in version.operations:
        console.print(f"  cleaning: {_describe_op(op)}")
    console.print(
        table("Schema", ["column", "type"], [[c["name"], c["type"]] for c in version.columns])
    )
    for s in splits:
        console.print(f"Split {s.short}: {s.strategy}, seed {s.seed}, {s.counts}")


@app.command()
@_handled
def train(
    time_budget: Annotated[
        float | None,
        typer.Option("--time-budget", help="Seconds for the whole command (default: loopml.yaml)."),
    ] = None,
    families: Annotated[
        str | None,
        typer.Option("--families", help="Comma-separated model families to search (default: all)."),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", min=1, help="Cores to use (default: all).")
    ] = None,
    refit_all: Annotated[
        bool | None,
        typer.Option(
            "--refit-all/--no-refit-all",
            help="After the test evaluation, refit on every row (test included) for deployment.",
        ),
    ] = None,
    max_trials: Annotated[
        int | None, typer.Option("--max-trials", min=1, help="Stop the search after N trials.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Search and tune models against the baseline, ensemble, evaluate once on test, record."""
    from loopml.console import print_json

    project = _project()
    names = None if families is None else [n for n in families.split(",") if n.strip()]
    with _progress(not as_json) as progress:
        result = project.train(
            time_budget=time_budget,
            families=names,
            jobs=jobs,
            refit_all=refit_all,
            max_trials=max_trials,
            progress=progress,
            started=_STARTED,
        )
    if as_json:
        print_json(result.to_dict())
        return
    from loopml.runs.render import print_train_result

    print_train_result(result)


@runs_app.command("list")
@_handled
def runs_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List training runs: data version, spec, score, time."""
    from loopml.runs.render import print_runs, run_summary

    project = _project()
    rows = project.runs()
    if as_json:
        from loopml.console import print_json

        print_json([run_summary(row) for row in rows])
        return
    print_runs(rows)


@runs_app.command("show")
@_handled
def runs_show(
    ref: Annotated[str, typer.Argument(help="Run id, unique prefix, or latest.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show one run: leaderboard, trials, chosen model, test metrics, report path."""
    from loopml.runs.render import print_run

    project = _project()
    row = project.run(ref)
    if as_json:
        from loopml.console import print_json

        print_json(row)
        return
    print_run(row)


@runs_app.command("compare")
@_handled
def runs_compare(
    first: Annotated[str, typer.Argument(help="Run id, unique prefix, or latest.")],
    second: Annotated[str, typer.Argument(help="Run id, unique prefix, or latest.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Compare two runs side by side: inputs, chosen model, scores, test metrics."""
    from loopml.runs.render import comparison, print_comparison

    project = _project()
    a, b = project.run(first), project.run(second)
    if as_json:
        from loopml.console import print_json

        print_json(comparison(a, b))
        return
    print_comparison(a, b)


@app.command()
@_handled
def reproduce(
    ref: Annotated[str, typer.Argument(help="Run id, unique prefix, or latest.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Replay a run's trials on the same data and seed and show any difference (exit 1 if any)."""
    project = _project()
    with _progress(not as_json) as progress:
        result, differences = project.reproduce(ref, progress=progress)
    if as_json:
        from loopml.console import print_json

        print_json(differences | {"run_id": result.run_id})
    else:
        from loopml.runs.render import print_reproduction

        print_reproduction(result, differences)
    if not differences["same"]:
        raise typer.Exit(1)


class UnknownPolicy(StrEnum):
    allow = "allow"
    reject = "reject"


@app.command()
@_handled
def score(
    model: Annotated[str, typer.Argument(help="Version number, alias, latest, or a run id.")],
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT", help="CSV, Parquet or JSON Lines file, or a SQLAlchemy URL."
        ),
    ],
    output_path: Annotated[
        Path,
        typer.Argument(metavar="OUTPUT", help="Where to write predictions (.csv or .parquet)."),
    ],
    table: Annotated[
        str | None, typer.Option("--table", help="With a SQL URL: the table to score.")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="With a SQL URL: the query to score.")
    ] = None,
    ids: Annotated[
        str | None,
        typer.Option("--id", help="Comma-separated input columns copied to the output."),
    ] = None,
    unknown: Annotated[
        UnknownPolicy,
        typer.Option("--unknown", help="Rows with a category training never saw: allow or reject."),
    ] = UnknownPolicy.allow,
    log: Annotated[
        bool,
        typer.Option("--log/--no-log", help="Also keep the scored rows in the prediction log."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Score a table in chunks: `prediction`, `proba_<class>`, `model_version`; bad rows aside."""
    from loopml.console import console, print_json

    project = _project()
    id_columns = [name.strip() for name in ids.split(",") if name.strip()] if ids else None
    summary = project.score(
        model,
        input_path,
        output_path,
        table=table,
        query=query,
        id_columns=id_columns,
        unknown=unknown.value,
        log=log,
    )
    if as_json:
        print_json(summary.to_dict())
        return
    version = f"version {summary.model_version}" if summary.model_version else model
    console.print(
        f"Scored {summary.scored:,} of {summary.rows:,} rows with model {version}: {output_path}"
    )
    if summary.rejected:
        console.print(
            f"{summary.rejected:,} rows failed the model's input signature; they are in "
            f"{summary.rejected_file} with the reason for each"
        )
    for name, count in summary.out_of_range.items():
        console.print(f"note: {count:,} values of `{name}` lie outside the range seen in training")


class ExportFormat(StrEnum):
    skops = "skops"
    onnx = "onnx"


@app.command()
@_handled
def export(
    model: Annotated[str, typer.Argument(help="Version number, alias, or latest.")],
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder for the bundle.")],
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="skops: the model file and the loopml code it needs; onnx: one ONNX graph "
            "for onnxruntime, checked against loopml first (needs loopml[onnx]).",
        ),
    ] = ExportFormat.skops,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            help="onnx: the largest absolute difference of probabilities (of predictions over "
            "the target's standard deviation, for regression) allowed between onnxruntime "
            "and loopml.",
        ),
    ] = 1e-4,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Write a self-contained folder: model, signature, scorer, small server, Dockerfile."""
    from loopml.console import console, print_json

    path = _project().export(model, folder, format=format.value, tolerance=tolerance)
    parity = None
    if format is ExportFormat.onnx:
        parity = json.loads((path / "bundle.json").read_text())["parity"]
    if as_json:
        print_json({"model": model, "folder": str(path), "format": format.value, "parity": parity})
        return
    if parity:
        console.print(
            f"ONNX parity on {parity['rows']:,} rows: the largest absolute difference of "
            f"{parity['measure']} is {parity['max_abs_difference']:.3g} "
            f"(tolerance {parity['tolerance']:g})"
        )
    console.print(f"Exported model {model} to {path}: see {path / 'README.md'}")


class ExtraPolicy(StrEnum):
    reject = "reject"
    ignore = "ignore"


@app.command()
@_handled
def serve(
    model: Annotated[str, typer.Argument(help="Version number, alias (followed), or latest.")],
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes on one socket.")
    ] = 1,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Bearer token clients must send (default: $LOOPML_TOKEN)."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow a non-loopback address without a token."),
    ] = False,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Most records one request may hold.")
    ] = 10_000,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", min=0.001, help="Largest request body, in MiB.")
    ] = 10.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.001, help="Seconds a request may take to score.")
    ] = 10.0,
    max_concurrency: Annotated[
        int,
        typer.Option("--max-concurrency", min=1, help="Requests in flight per worker; then 503."),
    ] = 64,
    poll: Annotated[
        float, typer.Option("--poll", min=0.1, help="Seconds between checks that an alias moved.")
    ] = 2.0,
    unknown: Annotated[
        UnknownPolicy,
        typer.Option(
            "--unknown", help="Records with a category training never saw: allow or reject."
        ),
    ] = UnknownPolicy.allow,
    extra: Annotated[
        ExtraPolicy,
        typer.Option("--extra", help="Fields the model does not read: reject or ignore."),
    ] = ExtraPolicy.reject,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (costs some speed).")
    ] = False,
    log: Annotated[
        bool,
        typer.Option("--log/--no-log", help="Keep every prediction in the prediction log."),
    ] = True,
    challenger: Annotated[
        str | None,
        typer.Option("--challenger", help="Canary: this model answers --split % of the requests."),
    ] = None,
    split: Annotated[
        float | None,
        typer.Option("--split", help="The challenger's percent of requests (default 10)."),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            "--shadow", help="This model also scores every request after the answer; logged only."
        ),
    ] = None,
) -> None:
    """Serve a model over REST: POST /predict, /explain, /feedback; GET /health, /ready,
    /metadata, /metrics; docs at /docs."""
    from loopml.console import console
    from loopml.serve.routing import DEFAULT_SPLIT

    project = _project()
    shown = "[::1]" if host == "::1" else host

    def announce(version: dict[str, Any], rival: dict[str, Any] | None) -> None:
        console.print(
            f"Serving model {model} (version {version['version']}) of {project.spec.name} at "
            f"http://{shown}:{port} — docs at /docs; Ctrl-C or SIGTERM stops after the "
            "requests in flight"
        )
        if rival is not None and challenger is not None:
            console.print(
                f"Canary: challenger {challenger} (version {rival['version']}) answers "
                f"{DEFAULT_SPLIT if split is None else split:g} % of the requests; see "
                "`loopml experiments report`"
            )
        elif rival is not None:
            console.print(
                f"Shadow: {shadow} (version {rival['version']}) scores every request after "
                "its answer, logged only; see `loopml experiments report`"
            )

    project.serve(
        model,
        host=host,
        port=port,
        workers=workers,
        token=token,
        insecure=insecure,
        max_rows=max_rows,
        max_body_bytes=int(max_body_mb * 2**20),
        timeout_s=timeout,
        max_concurrency=max_concurrency,
        poll_s=poll,
        unknown=unknown.value,
        extra=extra.value,
        access_log=access_log,
        log=log,
        challenger=challenger,
        split=split,
        shadow=shadow,
        announce=announce,
    )


@app.command()
@_handled
def feedback(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="CSV, Parquet or JSON Lines: request_id, label[, record]."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as JSON.")] = False,
) -> None:
    """Store ground truth for logged predictions, joined by request id; exit 1 on unknown ids."""
    from loopml.console import console, print_json

    summary = _project().feedback(source)
    if as_json:
        print_json(summary.to_dict())
    else:
        console.print(f"Stored {summary.accepted:,} of {summary.received:,} labels")
        if summary.unknown_count:
            shown = ", ".join(summary.unknown)
            more = " …" if summary.unknown_count > len(summary.unknown) else ""
            console.print(
                f"{summary.unknown_count:,} label(s) name predictions the log does not hold, "
                f"and were not stored: {shown}{more}"
            )
    if summary.unknown_count:
        raise typer.Exit(1)


@app.command()
@_handled
def monitor(
    model: Annotated[
        str | None,
        typer.Argument(help="Version number, alias, or latest (default: production, else latest)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Window start: 7d, 2h, 30m, 1w, or an ISO-8601 time."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Window end (same forms; default: now).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Where to write the HTML report.")
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Skip the HTML report (faster checks from cron).")
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="When an alert of a rule in retrain.on fires, run `loopml retrain` (gated).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the logged predictions for drift, performance and service health; exit 1 when an
    alert fires."""
    from loopml.console import print_json
    from loopml.monitor.render import print_check

    with _progress(not as_json and retrain) as progress:
        checked = _project().monitor(
            model,
            since=since,
            until=until,
            report_path=report,
            report=not no_report,
            retrain=retrain,
            progress=progress,
        )
    result = checked.to_dict()
    if as_json:
        print_json(result)
    else:
        print_check(result)
        if result.get("retrain") is not None:
            _print_triggered_retrain(result["retrain"])
    if result["alerts"]:
        raise typer.Exit(1)


def _print_triggered_retrain(retrain: dict[str, Any]) -> None:
    from loopml.console import console
    from loopml.monitor.retrain_render import print_retrain

    if "error" in retrain:
        console.print(f"Retrain not done: {retrain['error']}")
    elif retrain.get("decision") == "skipped":
        console.print(f"No retraining: {retrain['reason']}.")
    else:
        print_retrain(retrain)


class SearchChoice(StrEnum):
    reuse = "reuse"
    fresh = "fresh"


@app.command()
@_handled
def retrain(
    model: Annotated[
        str | None,
        typer.Argument(help="The champion: version number or alias (default: production)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Retrain on this file instead of loopml.yaml's retrain.data."),
    ] = None,
    search: Annotated[
        SearchChoice | None,
        typer.Option("--search", help="reuse: refit the champion's model; fresh: a new search."),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option("--time-budget", min=0.001, help="Seconds for the challenger's training."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Read the data and draw the holdout; train nothing."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Train a challenger on new data; promote it only if it beats the champion on a fresh holdout."""
    from loopml.console import print_json
    from loopml.monitor.retrain_render import print_retrain

    project = _project()
    with _progress(not as_json) as progress:
        result = project.retrain(
            model,
            data=data,
            search=None if search is None else search.value,
            time_budget=time_budget,
            dry_run=dry_run,
            progress=progress,
            started=_STARTED,
        )
    if as_json:
        print_json(result.to_dict())
    else:
        print_retrain(result.to_dict())


@app.command()
@_handled
def explain(
    model: Annotated[str, typer.Argument(help="Version number, alias, latest, or a run id.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="CSV, Parquet or JSON Lines rows: global explanation."),
    ] = None,
    row: Annotated[
        str | None,
        typer.Option("--row", help="One record as JSON (or a list): local, e.g. '{\"age\": 41}'."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Contributions listed per row.")] = 10,
    max_rows: Annotated[
        int | None,
        typer.Option(
            "--max-rows",
            help="Global: rows explained at most, a seeded sample beyond (default 10,000; "
            "100 shared among the members that need the sampled, model-agnostic explainer, "
            "e.g. kNN).",
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            help="Global: seconds at most, fewer rows (a seeded sample) when all would take "
            "longer (default 60; none with --max-rows).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Global: where to write the HTML page (default: reports/)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Explain a model with SHAP values per input column: global (--data), local (--row)."""
    from loopml.console import console, print_json
    from loopml.errors import UsageError
    from loopml.explain.render import print_explanation, write_explanation_page

    if report is not None and row is not None:
        raise UsageError(
            "--report writes the page of a global explanation; a local one (--row) has none: "
            "leave out --report, or give --data instead of --row"
        )
    project = _project()
    with _progress(not as_json) as progress:
        result = project.explain(
            model,
            data=data,
            row=row,
            top=top,
            max_rows=max_rows,
            time_budget=time_budget,
            progress=progress,
        )
    page = None
    if data is not None or report is not None:
        version = result.model_version if result.model_version is not None else model
        name = data.stem if data is not None else "training"
        path = report or project.root / "reports" / f"explain-{version}-{name}.html"
        page = write_explanation_page(result, path, project=project.spec.name, ref=model)
    if as_json:
        print_json(result.to_dict() | ({"report": str(page)} if page else {}))
        return
    print_explanation(result)
    if page is not None:
        console.print(f"Report: {page}")


class Mitigation(StrEnum):
    thresholds = "thresholds"
    reweight = "reweight"


class CardFormat(StrEnum):
    html = "html"
    md = "md"


@app.command()
@_handled
def fairness(
    model: Annotated[str, typer.Argument(help="Version number, alias, or latest.")],
    sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--sensitive",
            help="Sensitive column, checked like fairness.sensitive (repeatable; default: the "
            "spec's).",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Labelled rows to check instead of the version's test part."),
    ] = None,
    mitigate: Annotated[
        Mitigation | None,
        typer.Option(
            "--mitigate",
            help="Show the trade-off of per-group thresholds or reweighting, per sensitive column.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Per-group metrics, the largest gaps and the spec's fairness thresholds of a model."""
    from loopml.explain.fairness_render import print_fairness, print_mitigation

    result = _project().fairness(
        model, sensitive=sensitive, data=data, mitigate=None if mitigate is None else mitigate.value
    )
    if as_json:
        from loopml.console import print_json

        print_json(result)
        return
    (print_fairness if mitigate is None else print_mitigation)(result)


@app.command()
@_handled
def card(
    model: Annotated[str, typer.Argument(help="Version number, alias, or latest.")] = "production",
    format: Annotated[
        CardFormat, typer.Option("--format", help="html or md (Markdown).")
    ] = CardFormat.html,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write it (default: reports/card-V.EXT)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the card's data as JSON.")] = False,
) -> None:
    """Write the model card of a version, generated from the store (HTML or Markdown)."""
    from loopml.registry.card import write_card

    project = _project()
    data = project.card(model)
    if as_json:
        from loopml.console import print_json

        print_json(data)
        return
    path = output or project.root / "reports" / f"card-{data['version']}.{format.value}"
    from loopml.console import console

    console.print(f"Model card: {write_card(data, path, format.value)}")


@models_app.command("list")
@_handled
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List model versions: aliases, test score vs baseline, goals, lineage."""
    from loopml.registry.render import print_versions, version_summary

    rows = _project().models()
    if as_json:
        from loopml.console import print_json

        print_json([version_summary(row) for row in rows])
        return
    print_versions(rows)


@models_app.command("show")
@_handled
def models_show(
    ref: Annotated[str, typer.Argument(help="Version number, alias, or latest.")] = "latest",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show one model version: its card, signature and lineage."""
    from loopml.registry.render import print_version

    row = _project().model(ref)
    if as_json:
        from loopml.console import print_json

        print_json(row)
        return
    print_version(row)
    if row.get("retrain"):
        from loopml.monitor.retrain_render import print_made_by

        print_made_by(row["retrain"])


@models_app.command("promote")
@_handled
def models_promote(
    ref: Annotated[str, typer.Argument(help="Version number, alias, or latest.")],
    alias: Annotated[str, typer.Argument(help="Alias to point at it, e.g. production.")],
    force: Annotated[
        bool, typer.Option("--force", help="Override the production gate (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; written to the audit log.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Set or move an alias; `production` only to a version that meets the goals and wins."""
    event = _project().promote(ref, alias, force=force, reason=reason)
    if as_json:
        from loopml.console import print_json

        print_json(event)
        return
    from loopml.registry.render import print_event

    print_event(event)


@models_app.command("demote")
@_handled
def models_demote(
    alias: Annotated[str, typer.Argument(help="Alias to remove.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; written to the audit log.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Remove an alias (logged)."""
    event = _project().demote(alias, reason=reason)
    if as_json:
        from loopml.console import print_json

        print_json(event)
        return
    from loopml.registry.render import print_event

    print_event(event)


@models_app.command("history")
@_handled
def models_history(
    alias: Annotated[str | None, typer.Argument(help="Only this alias.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """The audit log of alias changes: when, who, from, to, why."""
    events = _project().alias_history(alias)
    if as_json:
        from loopml.console import print_json

        print_json(events)
        return
    from loopml.registry.render import print_history

    print_history(events, alias)


@experiments_app.command("report")
@_handled
def experiments_report(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Window start: 7d, 2h, 30m, 1w, or an ISO-8601 time."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Window end (same forms; default: now).")
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric to compare (default: the spec's).")
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option("--variant", help="Only this comparison: challenger or shadow."),
    ] = None,
    min_effect: Annotated[
        float | None,
        typer.Option(
            "--min-effect",
            help="Difference to size the experiment for (default: the observed one).",
        ),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Power for the sample size.")] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Champion vs challenger or shadow on labelled traffic: metric, test, sample size."""
    report = _project().experiments(
        since=since,
        until=until,
        metric=metric,
        variant=variant,
        alpha=alpha,
        power=power,
        min_effect=min_effect,
    )
    if as_json:
        from loopml.console import print_json

        print_json(report.to_dict())
        return
    from loopml.monitor.experiments_render import print_report

    print_report(report.to_dict())


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
