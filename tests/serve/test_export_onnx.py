"""`loopml export --format onnx`: a graph for onnxruntime that scores like loopml, or a refusal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")

from loopml.api import Project
from loopml.errors import ExportError, UsageError
from loopml.models import make_pipeline
from loopml.models.compiled import compile_model
from loopml.models.trained import Calibration, TrainedModel
from loopml.registry.signature import infer_signature
from loopml.runs.scoring import resolve_model
from loopml.serve import onnx_graph
from loopml.serve.onnx_graph import build_graph
from loopml.serve.onnx_inputs import feeds
from tests.commands import loopml, run_json
from tests.runs.conftest import write_project
from tests.serve.conftest import bundle_score, bundle_server

ROLES = {
    "a": "numeric",
    "b": "numeric",
    "c": "categorical",
    "d": "categorical",
    "e": "boolean",
}
FAMILIES = {
    "binary": "lightgbm,logistic",
    "multiclass": "lightgbm,logistic",
    "regression": "lightgbm,linear",
}
UNSEEN = "a category never seen"


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Numbers, a 4-category and a 60-category column, true/false; some values missing."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 100, n).astype(float),
            "c": rng.choice(["x", "y", "z", "w"], n),
            "d": rng.choice([f"k{i}" for i in range(60)], n),
            "e": rng.choice(["true", "false"], n),
        }
    )
    for name in ("a", "c", "e"):
        frame.loc[rng.random(n) < 0.1, name] = np.nan
    return frame


def _target(frame: pd.DataFrame, task: str, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    score = (
        frame["a"].fillna(0)
        + (frame["c"] == "x")
        + frame["d"].str[1:].astype(int) / 30
        + (frame["e"] == "true")
        + rng.normal(size=len(frame)) * 0.3
    )
    if task == "binary":
        return pd.Series(np.where(score > score.median(), "yes", "no"))
    if task == "multiclass":
        return pd.qcut(score, 3, labels=["low", "mid", "high"]).astype(str)
    return score * 10 + 3


def _hard_rows() -> pd.DataFrame:
    """Rows with missing values, unseen categories and other spellings of true/false."""
    rows = _frame(60, 11)
    rows.loc[:9, "c"] = UNSEEN
    rows.loc[10:19, "d"] = UNSEEN
    rows.loc[20:24, "e"] = "TRUE"
    rows.loc[25:29, ["a", "b", "c", "d", "e"]] = np.nan
    return rows


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project trained through the CLI on the mixed table: LightGBM and a linear model."""
    task = request.param
    root = tmp_path_factory.mktemp(f"onnx-{task}")
    frame = _frame(800, 0)
    frame["target"] = _target(frame, task, 1)
    write_project(root, frame, "target", task)
    loopml(
        "train",
        "--families",
        FAMILIES[task],
        "--max-trials",
        "2",
        "--time-budget",
        "30",
        "--jobs",
        "1",
        cwd=root,
        check=True,
    )
    _hard_rows().to_csv(root / "hard.csv", index=False)
    return root


def test_onnx_bundle_scores_like_loopml(project: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    summary = run_json("export", "latest", str(folder), "--format", "onnx", cwd=project)
    assert summary["format"] == "onnx" and summary["parity"]["rows"] > 500
    assert summary["parity"]["max_abs_difference"] <= 1e-4
    names = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "bundle.json", "requirements.txt", "score.py", "serve.py"} <= names
    assert {"Dockerfile", "README.md", "onnx_inputs.py"} <= names and "vendor" not in names
    pins = (folder / "requirements.txt").read_text().split()
    assert any(p.startswith("onnxruntime==") for p in pins)
    assert not any(p.startswith(("scikit-learn", "lightgbm", "skops")) for p in pins)
    manifest = json.loads((folder / "bundle.json").read_text())
    assert manifest["parity"] == summary["parity"]
    assert f"{summary['parity']['max_abs_difference']:.3g}" in (folder / "README.md").read_text()

    out = tmp_path / "onnx.csv"
    proc = bundle_score(folder, project / "hard.csv", out)
    assert proc.returncode == 0, proc.stderr
    got, expected = pd.read_csv(out), _loopml_scores(project, pd.read_csv(project / "hard.csv"))
    assert got["row"].tolist() == expected.index.tolist() and len(got) > 40
    if manifest["classes"] is None:
        difference = got["prediction"].to_numpy() - expected["prediction"].to_numpy()
        assert np.abs(difference).max() <= 1e-9
    else:
        assert got["prediction"].astype(str).tolist() == expected["prediction"].tolist()
        probas = [f"proba_{c}" for c in manifest["classes"]]
        assert np.abs(got[probas].to_numpy() - expected[probas].to_numpy()).max() <= 1e-9


def _loopml_scores(root: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """What `loopml score latest` gives for the rows of `frame` that pass the signature."""
    project = Project(root / "loopml.yaml")
    model, signature, _ = resolve_model(project.store, project.spec.name, "latest")
    project.close()
    good = frame[signature.check(frame).valid]
    out = compile_model(model).prediction_frame(good)
    out["prediction"] = out["prediction"].astype(str) if model.classes else out["prediction"]
    return out


@pytest.mark.parametrize("project", ["binary"], indirect=True)
def test_onnx_bundle_server_answers_like_loopml(project: Path, tmp_path: Path) -> None:
    folder = _export(project, tmp_path / "bundle")
    rows = _hard_rows().iloc[[0, 10, 20, 40]]
    records = json.loads(rows.to_json(orient="records"))
    with bundle_server(folder) as url:
        body = httpx.post(f"{url}/predict", json={"records": records}, timeout=30).json()
    expected = _loopml_scores(project, rows)
    assert body["predictions"] == expected["prediction"].tolist()
    got = [p["yes"] for p in body["probabilities"]]
    assert np.abs(np.array(got) - expected["proba_yes"].to_numpy()).max() <= 1e-9


def _export(root: Path, folder: Path, **options: object) -> Path:
    project = Project(root / "loopml.yaml")
    try:
        return project.export("latest", folder, **{"format": "onnx", **options})
    finally:
        project.close()


@pytest.mark.parametrize("project", ["binary"], indirect=True)
def test_a_planted_mismatch_is_refused_and_nothing_written(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A converter bug: the scores 0.1% off. The parity check must catch it.
    member, calibrate = onnx_graph._member, onnx_graph._calibrate

    def off(step):
        return lambda g, *args: g.op("Mul", [step(g, *args), g.const(np.array(0.999))])

    monkeypatch.setattr(onnx_graph, "_member", off(member))
    monkeypatch.setattr(onnx_graph, "_calibrate", off(calibrate))
    folder = tmp_path / "bundle"
    with pytest.raises(ExportError, match=r"differ from loopml's by up to .* tolerance 0.0001"):
        _export(project, folder)
    assert not folder.exists() and list(tmp_path.iterdir()) == []
    # the same graph passes with a tolerance that admits the planted difference
    _export(project, folder, tolerance=1.0)
    assert (folder / "model.onnx").exists()


def test_the_demo_and_its_date_column_export_and_score_like_loopml(
    demo_copy: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "bundle"
    summary = run_json("export", "latest", str(folder), "--format", "onnx", cwd=demo_copy)
    assert summary["parity"]["max_abs_difference"] <= 1e-4
    manifest = json.loads((folder / "bundle.json").read_text())
    assert "flight_date" in manifest["date_formats"]
    source = demo_copy / "data" / "flights.csv"  # dates as text, as a user's file has them
    out = tmp_path / "onnx.csv"
    proc = bundle_score(folder, source, out)
    assert proc.returncode == 0, proc.stderr
    got, expected = pd.read_csv(out), _loopml_scores(demo_copy, pd.read_csv(source))
    assert got["row"].tolist() == expected.index.tolist()
    assert got["prediction"].astype(str).tolist() == expected["prediction"].tolist()
    assert np.abs(got["proba_yes"].to_numpy() - expected["proba_yes"].to_numpy()).max() <= 1e-9


def test_a_family_without_an_onnx_form_is_refused_in_one_sentence(tmp_path: Path) -> None:
    frame = _frame(300, 3)
    frame["target"] = _target(frame, "binary", 4)
    bayes = {
        "name": "bayes",
        "estimator": "sklearn.naive_bayes.GaussianNB",
        "tasks": ["binary"],
        "encoding": "onehot",
    }
    train = {"families": ["bayes"], "custom_families": [bayes]}
    write_project(tmp_path, frame, "target", "binary", train=train)
    loopml("train", "--max-trials", "1", "--no-refit-all", "--jobs", "1", cwd=tmp_path, check=True)
    proc = loopml("export", "latest", "out", "--format", "onnx", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    message = proc.stderr.strip()
    assert message == (
        "error: ensemble member `bayes #1` (GaussianNB) has no ONNX form in loopml; export "
        "this model in the default format (leave out --format onnx)"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("project", ["binary"], indirect=True)
def test_export_without_the_onnx_extra_says_what_to_install(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ExportError, match=r"pip install 'loopml\[onnx\]'"):
        _export(project, tmp_path / "b")
    with pytest.raises(UsageError, match="unknown export format"):
        _export(project, tmp_path / "b", format="pmml")


# --- the graph itself, on fitted pipelines (no store) ----------------------------------------


def _fitted(task: str) -> tuple[list, pd.DataFrame]:
    X = _frame(1500, 5)
    y = _target(X, task, 6)
    linear = "linear" if task == "regression" else "logistic"
    members = [
        make_pipeline("lightgbm", task, ROLES, {"n_estimators": 40}, seed=0).fit(X, y),
        make_pipeline(linear, task, ROLES, seed=0).fit(X, y),
        make_pipeline("baseline", task, ROLES, seed=0).fit(X, y),
        make_pipeline("decision_tree", task, ROLES, seed=0).fit(X, y),
        make_pipeline("random_forest", task, ROLES, {"n_estimators": 10}, seed=0).fit(X, y),
        make_pipeline("hist_gradient_boosting", task, ROLES, {"max_iter": 30}, seed=0).fit(X, y),
    ]
    return members, X


CALIBRATIONS = {
    "binary": [
        Calibration("sigmoid", {"a": 1.3, "b": -0.2}),
        Calibration("isotonic", {"x": [0.1, 0.4, 0.6, 0.9], "y": [0.0, 0.3, 0.5, 1.0]}),
    ],
    "multiclass": [Calibration("temperature", {"t": 1.7})],
    "regression": [None],
}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_graph_scores_like_the_compiled_model(task: str) -> None:
    import onnxruntime

    members, X = _fitted(task)
    signature = infer_signature(X, ROLES).to_dict()
    rows = _hard_rows()
    classes = None if task == "regression" else sorted(members[0].classes_.tolist())
    for calibration in [None, *CALIBRATIONS[task]]:
        combinations = [([0], [1]), ([1], [1]), ([0, 1, 2, 3, 4], [0.4, 0.2, 0.1, 0.1, 0.2])]
        if calibration is None:
            combinations += [([3], [1]), ([4], [1]), ([5], [1])]
        for chosen, weights in combinations:
            model = TrainedModel(
                [members[i] for i in chosen],
                weights,
                task=task,
                columns=list(ROLES),
                classes=classes,
                calibration=calibration,
                threshold=0.4,
            )
            compiled = compile_model(model, threads=1)
            graph = build_graph(compiled, signature, version={"project": "t", "version": 1})
            session = onnxruntime.InferenceSession(
                graph.SerializeToString(), providers=["CPUExecutionProvider"]
            )
            names = [o.name for o in session.get_outputs()]
            out = dict(zip(names, session.run(None, feeds(rows, signature)), strict=True))
            if classes is None:
                assert np.abs(out["prediction"] - compiled.predict(rows)).max() <= 1e-9
                continue
            assert np.abs(out["probabilities"] - compiled.predict_proba(rows)).max() <= 1e-12
            assert out["prediction"].tolist() == compiled.predict(rows).tolist()
            meta = {p.key: p.value for p in graph.metadata_props}
            assert json.loads(meta["loopml.classes"]) == classes
            assert [c["name"] for c in json.loads(meta["loopml.columns"])] == list(ROLES)


@pytest.mark.parametrize("fmt", ["%d/%m/%Y %H:%M", "ISO8601", None])
def test_date_parts_match_loopml_from_1900_to_2100(fmt: str | None) -> None:
    import onnxruntime

    rng = np.random.default_rng(1)
    stamps = pd.to_datetime(rng.integers(-2_208_988_800, 4_102_444_800, 2000), unit="s")
    if fmt is None:  # dates as dates, not text
        when = pd.Series(stamps.floor("D"))
    else:
        when = pd.Series(stamps.strftime("%Y-%m-%dT%H:%M:%S" if fmt == "ISO8601" else fmt))
    X = pd.DataFrame({"when": when.astype(object), "a": rng.normal(size=len(when))})
    X.loc[::17, "when"] = None
    y = stamps.month * 3 + stamps.hour + stamps.day_of_week * 7 + stamps.day_of_year / 10
    roles = {"when": "datetime", "a": "numeric"}
    signature = infer_signature(X, roles).to_dict()
    for family in ("linear", "decision_tree"):  # the parts scaled, and compared to thresholds
        pipeline = make_pipeline(family, "regression", roles, seed=0).fit(X, y + stamps.year / 50)
        model = TrainedModel([pipeline], [1], task="regression", columns=list(roles))
        compiled = compile_model(model, threads=1)
        graph = build_graph(compiled, signature, version={"project": "t", "version": 1})
        formats = json.loads({p.key: p.value for p in graph.metadata_props}["loopml.date_formats"])
        session = onnxruntime.InferenceSession(
            graph.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        got = session.run(None, feeds(X, signature, formats))[0]
        assert np.abs(got - compiled.predict(X)).max() <= 1e-9


def test_a_family_without_an_onnx_form_is_named() -> None:
    X = _frame(300, 8)
    y = _target(X, "binary", 9)
    knn = make_pipeline("knn", "binary", ROLES, seed=0).fit(X, y)
    model = TrainedModel([knn], [1], task="binary", columns=list(ROLES), classes=["no", "yes"])
    signature = infer_signature(X, ROLES).to_dict()
    with pytest.raises(ExportError, match=r"member `member 0` \(KNeighborsClassifier\)"):
        build_graph(compile_model(model), signature, version={"project": "t", "version": 1})
