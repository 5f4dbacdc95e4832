"""The real `loopml` command, driven as a user would: subprocesses in a project folder."""

from __future__ import annotations

import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_diabetes, load_iris

from loopml.spec import Monitor, Retrain, load_spec
from tests.commands import loopml, run_json

HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "sklearn",
    "scipy",
    "sqlalchemy",
    "matplotlib",
    "onnx",
    "onnxruntime",
)


def store_is_empty(project: Path) -> bool:
    db = project / ".loopml" / "metadata.db"
    objects = project / ".loopml" / "artifacts" / "objects"
    if objects.exists() and any(p.is_file() for p in objects.rglob("*")):
        return False
    if not db.exists():
        return True
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0


def test_help_and_version_import_nothing_heavy(tmp_path: Path) -> None:
    assert "profile" in loopml("--help", cwd=tmp_path, check=True).stdout
    assert loopml("--version", cwd=tmp_path, check=True).stdout.startswith("loopml ")
    probe = f"import sys, loopml.cli; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_quickstart_flow(tmp_path: Path) -> None:
    loopml("init", "--demo", cwd=tmp_path, check=True)
    assert (tmp_path / "loopml.yaml").exists() and (tmp_path / "data" / "flights.csv").exists()
    result = run_json("profile", cwd=tmp_path)
    assert result["rows"] == 5000 and result["columns"] == 17
    assert len(result["version"]) == 64
    assert {"check", "severity", "columns", "message"} <= set(result["findings"][0])
    checks = {f["check"] for f in result["findings"]}
    assert {"missing_target", "high_missing_rate", "high_cardinality"} <= checks
    report = Path(result["report"])
    html = report.read_text()
    assert report.exists() and "data:image/png;base64," in html and "wind_gust" in html
    assert result["cleaned_rows"] == 5000 - 140

    split = run_json("split", cwd=tmp_path)
    assert split["dataset_version"] == result["cleaned_version"]
    assert sum(split["counts"].values()) == result["cleaned_rows"]
    assert split["counts"]["test"] == pytest.approx(0.2 * result["cleaned_rows"], abs=2)

    versions = run_json("data", "list", cwd=tmp_path)
    assert [v["kind"] for v in versions] == ["cleaned", "raw"]
    assert versions[0]["parent_version"] == versions[1]["version"] == result["version"]
    shown = run_json("data", "show", result["cleaned_version"][:8], cwd=tmp_path)
    assert shown["lineage"] == [result["cleaned_version"], result["version"]]
    assert [s["id"] for s in shown["splits"]] == [split["id"]]
    human = loopml("data", "show", "latest", cwd=tmp_path, check=True).stdout
    assert "drop missing target: 140 rows" in human

    # Same data, same spec: same versions and split, nothing new recorded.
    assert run_json("profile", cwd=tmp_path)["version"] == result["version"]
    assert run_json("split", cwd=tmp_path)["id"] == split["id"]
    assert len(run_json("data", "list", cwd=tmp_path)) == 2


def test_fail_on_gates_the_exit_code(tmp_path: Path) -> None:
    loopml("init", "--demo", cwd=tmp_path, check=True)
    assert loopml("profile", "--fail-on", "error", cwd=tmp_path).returncode == 0
    assert loopml("profile", "--fail-on", "warning", cwd=tmp_path).returncode == 1
    frame = pd.read_csv(tmp_path / "data" / "flights.csv")
    frame["arrival_delay_bucket"] = frame["late"].map({"yes": "15+", "no": "<15"})  # a leak
    frame.to_csv(tmp_path / "leaky.csv", index=False)
    loopml("init", "--data", "leaky.csv", "--target", "late", "--force", cwd=tmp_path, check=True)
    proc = loopml("profile", "--fail-on", "error", cwd=tmp_path)
    assert proc.returncode == 1 and "target_leakage" in proc.stdout


def test_init_infers_the_task(tmp_path: Path) -> None:
    load_diabetes(as_frame=True).frame.to_csv(tmp_path / "diabetes.csv", index=False)
    iris = load_iris(as_frame=True).frame
    iris["species"] = iris.pop("target").map(dict(enumerate(load_iris().target_names)))
    iris.to_parquet(tmp_path / "iris.parquet")
    for data, target, task, metric in [
        ("diabetes.csv", "target", "regression", "rmse"),
        ("iris.parquet", "species", "multiclass", "log_loss"),
    ]:
        loopml("init", "--data", data, "--target", target, "--force", cwd=tmp_path, check=True)
        text = (tmp_path / "loopml.yaml").read_text()
        assert f"task: {task}" in text and f"metric: {metric}" in text
        assert run_json("profile", cwd=tmp_path)["rows"] == (442 if task == "regression" else 150)
    before = (tmp_path / "loopml.yaml").read_text()
    for task, refusal in [
        ("binary", "3 classes but the task is binary"),
        ("regression", "but the task is regression"),
    ]:
        proc = loopml(
            "init",
            "--data",
            "iris.parquet",
            "--target",
            "species",
            "--task",
            task,
            "--force",
            cwd=tmp_path,
        )
        assert proc.returncode == 2 and refusal in proc.stderr
        assert (tmp_path / "loopml.yaml").read_text() == before  # nothing overwritten


def test_init_in_another_folder(tmp_path: Path) -> None:
    loopml(
        "-p",
        "elsewhere",
        "init",
        "--demo",
        "--name",
        "other",
        "--metric",
        "pr_auc",
        cwd=tmp_path,
        check=True,
    )
    spec = (tmp_path / "elsewhere" / "loopml.yaml").read_text()
    assert 'name: "other"' in spec and "metric: pr_auc" in spec
    assert 'path: "data/flights.csv"' in spec  # relative to the project folder
    assert run_json("-p", "elsewhere", "profile", cwd=tmp_path)["rows"] == 5000
    proc = loopml("init", "--demo", "--target", "x", cwd=tmp_path)
    assert proc.returncode == 2 and "--demo" in proc.stderr


def test_init_asks_in_a_terminal(tmp_path: Path, demo_csv: Path) -> None:
    main, replica = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "init"],
        cwd=tmp_path,
        stdin=replica,
        stdout=replica,
        stderr=replica,
    )
    os.close(replica)
    seen = b""

    def expect(text: bytes, answer: str) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([main], [], [], 1)[0]:
                seen += os.read(main, 4096)
        os.write(main, answer.encode() + b"\r")

    expect(b"Data file", str(demo_csv))
    expect(b"Target column", "late")
    expect(b"Task", "")
    assert proc.wait(timeout=60) == 0
    os.close(main)
    text = (tmp_path / "loopml.yaml").read_text()
    assert 'target: "late"' in text and "task: binary" in text


def _uncommented(text: str, section: str) -> str:
    """`text` with the commented-out `section:` block (up to its blank line) uncommented."""
    lines = text.splitlines()
    at = lines.index(f"# {section}:")
    while at < len(lines) and lines[at].startswith("# "):
        lines[at] = lines[at][2:]
        at += 1
    return "\n".join(lines) + "\n"


def test_init_shows_monitor_and_retrain_defaults_commented_out(
    tmp_path: Path, demo_csv: Path
) -> None:
    shutil.copy(demo_csv, tmp_path / "flights.csv")
    for args in (("--demo",), ("--data", "flights.csv", "--target", "late", "--force")):
        loopml("init", *args, cwd=tmp_path, check=True)
        path = tmp_path / "loopml.yaml"
        text = path.read_text()
        assert "\n# monitor:\n" in text and "\n# retrain:\n" in text
        assert "#     error_rate: 0.05" in text and "#   webhook: null" in text
        spec = load_spec(path)  # commented out: the file loads, with the defaults
        assert spec.monitor == Monitor() and spec.retrain == Retrain()
        # Uncommented as they are, the sections are valid and change nothing.
        path.write_text(_uncommented(_uncommented(text, "monitor"), "retrain"))
        raw = yaml.safe_load(path.read_text())
        assert raw["monitor"]["alerts"]["error_rate"] == 0.05
        assert raw["retrain"]["min_rows"] == 100 and len(raw["retrain"]) == 7
        assert load_spec(path) == spec


@pytest.fixture
def project(tmp_path: Path) -> Path:
    loopml("init", "--demo", cwd=tmp_path, check=True)
    return tmp_path


def point_data_at(project: Path, content: bytes | str, name: str = "bad.csv") -> None:
    path = project / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    spec = (project / "loopml.yaml").read_text().replace("data/flights.csv", name)
    (project / "loopml.yaml").write_text(spec)


GOOD_ROWS = "a,b,late\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(40))


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("missing", None, ["does not exist"]),
        ("empty", b"", ["is empty"]),
        ("binary", bytes(range(256)) * 20, ["binary file, not a table"]),
        (
            "ragged",
            GOOD_ROWS + "41,2,yes,extra\n" + GOOD_ROWS.split("\n", 1)[1],
            ["line 42", "expected 3 fields, found 4"],
        ),
        ("no_target", "a,b,c\n1,2,3\n4,5,6\n", ["target column `late` is not in"]),
        ("empty_target", "a,b,late\n1,2,\n4,5,\n", ["`late` in", "has no values"]),
        ("header_only", "a,b,late\n", ["no data rows"]),
        ("single_column", "late\nyes\nno\n", ["single column"]),
    ],
)
def test_bad_data_is_one_clear_sentence(
    project: Path, name: str, content: bytes | str | None, fragments: list[str]
) -> None:
    if content is None:
        spec = (project / "loopml.yaml").read_text().replace("data/flights.csv", "nowhere.csv")
        (project / "loopml.yaml").write_text(spec)
    else:
        point_data_at(project, content)
    proc = loopml("profile", cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    message = proc.stderr.strip()
    assert message.startswith("error:") and len(message.splitlines()) <= 2
    for fragment in fragments:
        assert fragment in message
    assert store_is_empty(project)


def test_debug_shows_the_traceback(project: Path) -> None:
    point_data_at(project, b"")
    proc = loopml("--debug", "profile", cwd=project)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda s: s + "\ncolour: red\n", ["unknown key `colour`"]),
        (
            lambda s: s.replace('path: "data/flights.csv"', 'url: "nodb:/x"\n  table: "t"'),
            ["not a usable SQLAlchemy URL"],
        ),
        (lambda s: s.replace("task: binary", "task: binery"), ["`task`", "binery"]),
    ],
)
def test_bad_spec_is_one_clear_sentence(project: Path, edit, fragments: list[str]) -> None:
    spec = project / "loopml.yaml"
    spec.write_text(edit(spec.read_text()))
    proc = loopml("profile", cwd=project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr
    assert store_is_empty(project)


def test_no_spec_and_unknown_reference(project: Path) -> None:
    proc = loopml("profile", cwd=project.parent)
    assert proc.returncode == 2 and "loopml init" in proc.stderr
    loopml("profile", cwd=project, check=True)
    proc = loopml("data", "show", "deadbeef00", cwd=project)
    assert proc.returncode == 2 and "no dataset version matches" in proc.stderr
    proc = loopml("init", "--demo", cwd=project)
    assert proc.returncode == 2 and "--force" in proc.stderr
    proc = loopml("init", "--data", "x.csv", cwd=project)
    assert proc.returncode == 2 and "--target" in proc.stderr


def test_sql_source(tmp_path: Path, demo_csv: Path) -> None:
    frame = pd.read_csv(demo_csv)
    project = tmp_path / "proj"
    project.mkdir()
    with sqlite3.connect(project / "flights.db") as conn:
        frame.to_sql("flights", conn, index=False)
    (project / "loopml.yaml").write_text(
        "name: sql-demo\n"
        "data:\n  url: sqlite:///flights.db\n"  # relative to the project folder
        "  query: SELECT * FROM flights WHERE origin = 'JFK';\n"
        "target: late\ntask: binary\n"
    )
    result = run_json("-p", "proj", "profile", cwd=tmp_path)
    assert result["rows"] == int((frame["origin"] == "JFK").sum())
    versions = run_json("-p", "proj", "data", "list", cwd=tmp_path)
    assert versions[-1]["source"]["kind"] == "sql"
    missing = (project / "loopml.yaml").read_text().replace("flights.db", "nothere.db")
    (project / "loopml.yaml").write_text(missing)
    proc = loopml("-p", "proj", "profile", cwd=tmp_path)
    assert proc.returncode == 2 and "nothere.db" in proc.stderr and "does not exist" in proc.stderr
    assert not (project / "nothere.db").exists()


def test_every_command_and_option_is_documented() -> None:
    import typer.main

    from loopml.cli import app

    reference = (Path(__file__).parents[1] / "docs" / "reference" / "cli.md").read_text()

    def walk(command: Any, prefix: str) -> list[tuple[str, list[str]]]:
        options = [
            opt
            for p in command.params
            if p.param_type_name == "option"
            for opt in p.opts
            if opt.startswith("--")
        ]
        found = [(prefix, options)]
        for name, sub in getattr(command, "commands", {}).items():
            found += walk(sub, f"{prefix} {name}")
        return found

    missing = [
        f"{name} {option}".strip()
        for name, options in walk(typer.main.get_command(app), "loopml")
        for option in ["", *options]
        if (option if option else f"`{name}`") not in reference
    ]
    assert not missing, f"undocumented commands or options: {missing}"
    commands = [name for name, _ in walk(typer.main.get_command(app), "loopml")][1:]
    groups = {name.rsplit(" ", 1)[0] for name in commands if name.count(" ") == 2}
    not_in_table = [
        name for name in commands if name not in groups and f"[`{name}`](#" not in reference
    ]
    assert not not_in_table, f"commands missing from the table of commands: {not_in_table}"
    shown_help = reference.split("$ loopml --help", 1)[1].split("```", 1)[0]
    top = {name.split(" ")[1] for name in commands}
    assert not [n for n in top if f"\n  {n} " not in shown_help], "the --help block is stale"
