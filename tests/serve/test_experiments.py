"""Online experiments on the real server: a canary split by request id, a shadow that is only
logged, both following their references, and the flags that cannot work refused."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from loopml import Project
from loopml.errors import UsageError
from loopml.monitor.log import read_log
from loopml.serve.routing import Experiment, goes_to_challenger
from tests.commands import loopml
from tests.serve.conftest import Server, demo_records, serving

TRAIN = ("train", "--families", "logistic", "--max-trials", "1", "--time-budget", "30")
TRAIN += ("--jobs", "1")
N = 400  # canary requests


@pytest.fixture(scope="module")
def rivals(trained_demo: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project with version 2 (another model, the same inputs) and version 3 (a
    model that does not read `tailnum`)."""
    root = tmp_path_factory.mktemp("rivals") / "project"
    shutil.copytree(trained_demo.root, root)
    for folder in ("predictions", "feedback"):
        shutil.rmtree(root / ".loopml" / "artifacts" / folder, ignore_errors=True)
    loopml(*TRAIN, cwd=root, check=True)
    spec = yaml.safe_load((root / "loopml.yaml").read_text())
    spec["cleaning"]["drop_columns"] = ["tailnum"]
    (root / "loopml.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    loopml(*TRAIN, cwd=root, check=True)
    return root


@pytest.fixture
def fresh_log(rivals: Path) -> Iterator[Path]:
    """The project's prediction log and labels, emptied before the test."""
    artifacts = rivals / ".loopml" / "artifacts"
    for folder in ("predictions", "feedback"):
        shutil.rmtree(artifacts / folder, ignore_errors=True)
    yield artifacts / "predictions" / "flights-delay"


def _names(server: Server) -> list[str]:
    return [c["name"] for c in httpx.get(f"{server.url}/metadata").json()["signature"]["columns"]]


def _scored(root: Path, records: list[dict], version: str, tmp_path: Path) -> pd.DataFrame:
    """What `loopml score VERSION` answers for `records` (the reference answers)."""
    source, out = tmp_path / f"rows{version}.csv", tmp_path / f"scored{version}.csv"
    pd.DataFrame.from_records(records).to_csv(source, index=False)
    loopml("score", version, str(source), str(out), "--no-log", cwd=root, check=True)
    return pd.read_csv(out)


def _stop(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0


def test_a_canary_splits_by_request_id_sticks_and_is_reported(
    rivals: Path, fresh_log: Path, tmp_path: Path
) -> None:
    args = ("--challenger", "2", "--split", "25", "--workers", "2")
    with serving(rivals, "1", *args) as server:
        meta = httpx.get(f"{server.url}/metadata").json()
        assert meta["experiment"]["mode"] == "canary" and meta["experiment"]["split"] == 25
        assert meta["experiment"]["active"] is True
        assert [(v["variant"], v["model_version"]) for v in meta["experiment"]["variants"]] == [
            ("champion", 1),
            ("challenger", 2),
        ]
        pool = demo_records(rivals, 40, _names(server))
        expected = {v: _scored(rivals, pool, v, tmp_path) for v in ("1", "2")}
        answers: dict[str, httpx.Response] = {}
        with httpx.Client(timeout=30) as client:
            for i in range(N):
                rid = f"order-{i}"
                answers[rid] = client.post(
                    f"{server.url}/predict",
                    json={"records": [pool[i % 40]]},
                    headers={"X-Request-ID": rid},
                )
            for i in range(0, N, 20):  # retried requests meet the same model, in any worker
                rid = f"order-{i}"
                again = client.post(
                    f"{server.url}/predict",
                    json={"records": [pool[i % 40]]},
                    headers={"X-Request-ID": rid},
                )
                assert again.json() == answers[rid].json()
        variants = Counter()
        canary = Experiment(challenger="2", split=25)
        for i, (rid, answer) in enumerate(answers.items()):
            body = answer.json()
            challenger = goes_to_challenger(rid, canary)
            assert body["variant"] == answer.headers["x-variant"]
            assert body["variant"] == ("challenger" if challenger else "champion")
            assert body["model_version"] == (2 if challenger else 1)
            reference = expected[str(body["model_version"])].iloc[i % 40]
            assert body["probabilities"][0]["yes"] == pytest.approx(
                reference["proba_yes"], abs=1e-9
            )
            variants[body["variant"]] += 1
        # The hash splits distinct ids at the share asked for (binomial, 4 standard errors).
        share = variants["challenger"] / N
        assert abs(share - 0.25) < 4 * np.sqrt(0.25 * 0.75 / N)
        samples = [
            (name, dict(labels), value) for (name, labels), value in _samples(server).items()
        ]
        info = {
            labels["variant"]: labels["model_version"]
            for name, labels, value in samples
            if name == "loopml_model_info" and value > 0
        }
        assert info == {"champion": "1", "challenger": "2"}
        served = {
            labels["model_version"]: value
            for name, labels, value in samples
            if name == "loopml_requests_total" and labels["status"] == "200"
        }
        retried = Counter(answers[f"order-{i}"].json()["model_version"] for i in range(0, N, 20))
        assert served == {
            "1": variants["champion"] + retried[1],
            "2": variants["challenger"] + retried[2],
        }
        _stop(server)

    logged = read_log(fresh_log).to_pandas()
    assert len(logged) == N + N // 20 and set(logged["variant"]) == {"champion", "challenger"}
    by_id = logged.groupby("request_id")[["variant", "model_version"]].agg(set)
    for rid, answer in answers.items():
        assert by_id.loc[rid, "variant"] == {answer.json()["variant"]}
        assert by_id.loc[rid, "model_version"] == {answer.json()["model_version"]}

    # Ground truth for the requests (a few demo rows have none), then the report: its test
    # is Welch's on the per-row log losses of the same predictions.
    truth = pd.read_csv(rivals / "data" / "flights.csv").dropna(subset=list(pool[0]))
    truth = truth.head(40)["late"]
    labels = pd.DataFrame(
        {"request_id": list(answers), "label": [truth.iloc[i % 40] for i in range(N)]}
    ).dropna()
    labels.to_csv(tmp_path / "labels.csv", index=False)
    loopml("feedback", str(tmp_path / "labels.csv"), cwd=rivals, check=True)
    proc = loopml(
        "experiments", "report", "--since", "1h", "--metric", "log_loss", "--json", cwd=rivals
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [(v["variant"], v["versions"], v["requests"]) for v in report["variants"]] == [
        ("champion", [1], variants["champion"]),
        ("challenger", [2], variants["challenger"]),
    ]
    known = labels.set_index("request_id")["label"]
    losses = {}
    for name in ("champion", "challenger"):
        ids = [rid for rid, a in answers.items() if a.json()["variant"] == name and rid in known]
        p = np.array([answers[rid].json()["probabilities"][0]["yes"] for rid in ids])
        y = known.loc[ids].to_numpy() == "yes"
        losses[name] = -np.log(np.where(y, p, 1 - p))
        summary = next(v for v in report["variants"] if v["variant"] == name)
        assert summary["labelled"] == len(ids)
        assert summary["value"] == pytest.approx(losses[name].mean(), rel=1e-6)
    expected_test = stats.ttest_ind(losses["challenger"], losses["champion"], equal_var=False)
    (comparison,) = report["comparisons"]
    assert comparison["p_value"] == pytest.approx(expected_test.pvalue, rel=1e-5)


def _samples(server: Server) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_shadow_is_logged_and_never_answers(
    rivals: Path, fresh_log: Path, tmp_path: Path
) -> None:
    with serving(rivals, "1", "--shadow", "2") as server:
        meta = httpx.get(f"{server.url}/metadata").json()
        assert meta["experiment"]["mode"] == "shadow" and meta["experiment"]["split"] is None
        pool = demo_records(rivals, 30, _names(server))
        champion, shadow = (_scored(rivals, pool, v, tmp_path) for v in ("1", "2"))
        assert not np.allclose(champion["proba_yes"], shadow["proba_yes"])  # two models
        sent: dict[str, list[int]] = {}
        with httpx.Client(timeout=30) as client:
            for i in range(60):
                rows = [(i + k) % 30 for k in range(1 + i % 3)]
                answer = client.post(
                    f"{server.url}/predict", json={"records": [pool[r] for r in rows]}
                )
                body = answer.json()
                assert answer.status_code == 200 and body["model_version"] == 1
                assert body["variant"] == answer.headers["x-variant"] == "champion"
                got = [p["yes"] for p in body["probabilities"]]  # the champion's, not the shadow's
                assert got == pytest.approx(champion["proba_yes"].to_numpy()[rows], abs=1e-9)
                sent[body["request_id"]] = rows
        records = sum(len(rows) for rows in sent.values())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            scored = _samples(server).get(
                ("loopml_shadow_records_total", (("model_version", "2"), ("outcome", "scored")))
            )
            if scored == records:
                break
            time.sleep(0.1)
        assert scored == records
        _stop(server)

    logged = read_log(fresh_log).to_pandas()
    for variant, version, reference in (("champion", 1, champion), ("shadow", 2, shadow)):
        rows = logged[logged["variant"] == variant]
        assert set(rows["model_version"]) == {version} and len(rows) == records
        for rid, positions in sent.items():
            mine = rows[rows["request_id"] == rid].sort_values("record")
            assert mine["record"].tolist() == list(range(len(positions)))
            assert mine["proba_yes"].to_numpy() == pytest.approx(
                reference["proba_yes"].to_numpy()[positions], abs=1e-9
            )
    assert logged.loc[logged["variant"] == "shadow", "latency_ms"].gt(0).all()


def test_an_experiment_follows_both_references_and_pauses_on_one_version(
    rivals: Path, fresh_log: Path
) -> None:
    loopml("models", "promote", "1", "stable", cwd=rivals, check=True)
    loopml("models", "promote", "2", "candidate", cwd=rivals, check=True)
    args = ("--challenger", "candidate", "--split", "50", "--poll", "0.3")
    with serving(rivals, "stable", *args) as server:
        records = demo_records(rivals, 1, _names(server))

        def versions() -> set[tuple[str, int]]:
            return {
                (a.json()["variant"], a.json()["model_version"])
                for a in (server.post(records) for _ in range(20))
            }

        def wait_for(active: bool) -> dict:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                experiment = httpx.get(f"{server.url}/metadata").json()["experiment"]
                if experiment["active"] is active:
                    return experiment
                time.sleep(0.2)
            raise AssertionError(f"the experiment never became active={active}")

        assert versions() == {("champion", 1), ("challenger", 2)}
        loopml("models", "promote", "1", "candidate", cwd=rivals, check=True)
        paused = wait_for(False)
        assert "both references name version 1" in paused["paused"]
        assert versions() == {("champion", 1)}  # the champion answers alone meanwhile
        loopml("models", "promote", "2", "candidate", cwd=rivals, check=True)
        running = wait_for(True)
        assert [v["model_version"] for v in running["variants"]] == [1, 2]
        assert versions() == {("champion", 1), ("challenger", 2)}


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"challenger": "2", "shadow": "2"}, "not both"),
        ({"split": 10}, "give --challenger"),
        ({"challenger": "2", "split": 0}, "between 0 and 100"),
        ({"challenger": "2", "split": 100}, "between 0 and 100"),
        ({"challenger": "1"}, "the champion itself"),
        ({"shadow": "9"}, "--shadow 9: no model version 9"),
        ({"challenger": "nope"}, "--challenger nope: unknown model reference"),
        ({"shadow": "2", "log": False}, "drop --no-log"),
        ({"challenger": "3"}, "lacks column(s) tailnum"),
    ],
)
def test_experiments_that_cannot_work_are_refused(rivals: Path, options: dict, says: str) -> None:
    project = Project(rivals)
    with pytest.raises(UsageError) as refused:
        project.serve("1", **options)  # checked before any server starts
    assert says in refused.value.message


def test_the_command_refuses_them_in_one_sentence(rivals: Path) -> None:
    for args, says in (
        (("--challenger", "2", "--shadow", "2"), "not both"),
        (("--challenger", "3", "--split", "5"), "must read the same input columns"),
    ):
        proc = loopml("serve", "1", *args, cwd=rivals)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
