"""The registry: `--families` names, user families added from Python."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from loopml.errors import UsageError
from loopml.models import FAMILIES, Family, families_for, get_family, make_pipeline, register_family
from tests.models.conftest import SEED, Data


def test_families_for_a_task_cheapest_first() -> None:
    binary = families_for("binary")
    names = [f.name for f in binary]
    assert "logistic" in names and "linear" not in names and "baseline" not in names
    assert [f.cost for f in binary] == sorted(f.cost for f in binary)
    regression = [f.name for f in families_for("regression")]
    assert "linear" in regression and "logistic" not in regression
    assert {"lightgbm", "random_forest"} <= set(regression)


def test_families_restricted_by_name_in_cost_order() -> None:
    chosen = families_for("binary", ["random_forest", "lightgbm", "logistic", "lightgbm"])
    assert [f.name for f in chosen] == ["lightgbm", "logistic", "random_forest"]


def test_unknown_family_is_one_clear_sentence() -> None:
    with pytest.raises(UsageError) as raised:
        families_for("binary", ["lightgbm", "lightgmb"])
    message = raised.value.message
    assert "`lightgmb`" in message and "lightgbm" in message and "random_forest" in message
    assert message.count(".") == 0 and "\n" not in message
    with pytest.raises(UsageError, match="`nope`"):
        get_family("nope")


def test_family_that_cannot_learn_the_task() -> None:
    with pytest.raises(UsageError, match=r"`logistic` cannot learn a regression task"):
        families_for("regression", ["logistic"])
    with pytest.raises(UsageError, match="no model family named"):
        families_for("binary", [" "])
    with pytest.raises(UsageError, match="unknown task"):
        families_for("ranking")


@pytest.fixture
def sgd_family() -> Iterator[Family]:
    def build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(loss="log_loss", random_state=seed, n_jobs=n_jobs, **params)

    def space(trial: Any, task: str) -> dict[str, Any]:
        return {"alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True)}

    family = Family(
        "sgd",
        ("binary", "multiclass"),
        "onehot",
        build,
        defaults=lambda task: {"alpha": 1e-3},
        space=space,
        scale=True,
        cost=3,
    )
    yield register_family(family)
    FAMILIES.pop("sgd", None)


def test_register_a_user_family(sgd_family: Family, datasets: dict[str, Data]) -> None:
    import optuna

    assert "sgd" in [f.name for f in families_for("binary")]
    data = datasets["flights"]
    params = sgd_family.suggest(optuna.trial.FixedTrial({"alpha": 0.01}), "binary")
    model = make_pipeline("sgd", "binary", data.roles, params, seed=SEED)
    model.fit(data.X_train, data.y_train)
    assert model[-1].alpha == 0.01 and model[-1].random_state == SEED
    auc = roc_auc_score(data.y_test, model.predict_proba(data.X_test)[:, 1])
    assert auc > 0.6
    with pytest.raises(UsageError, match="already registered"):
        register_family(sgd_family)


def test_register_a_family_without_parameters(datasets: dict[str, Data]) -> None:
    def build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB(**params)

    family = register_family(Family("naive_bayes", ("binary", "multiclass"), "onehot", build))
    try:
        data = datasets["wine"]
        assert family.default_params("multiclass") == {} and not family.tunable
        model = make_pipeline(family, "multiclass", data.roles, seed=SEED).fit(
            data.X_train, data.y_train
        )
        assert np.mean(model.predict(data.X_test) == data.y_test) > 0.8
    finally:
        FAMILIES.pop("naive_bayes")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "my svm"}, "letters, digits"),
        ({"tasks": ("ranking",)}, "use some of"),
        ({"encoding": "hashing"}, "encoding 'hashing'"),
    ],
)
def test_bad_family_definitions(kwargs: dict[str, Any], match: str) -> None:
    fields = {"name": "x", "tasks": ("binary",), "encoding": "onehot", "build": print, **kwargs}
    with pytest.raises(UsageError, match=match):
        Family(**fields)
