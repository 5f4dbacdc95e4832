"""Real models fit on the preprocessed demo table and beat the majority-class baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from loopml.features import build_preprocessor, categorical_output_indices
from tests.features.conftest import Demo

MARGIN = 0.05  # over the baseline's ROC-AUC of 0.5


@pytest.fixture(scope="module")
def baseline_auc(demo: Demo) -> float:
    dummy = DummyClassifier(strategy="prior").fit(demo.train, demo.y_train)
    return roc_auc_score(demo.y_holdout, dummy.predict_proba(demo.holdout)[:, 1])


def holdout_auc(model, demo: Demo, X: np.ndarray) -> float:
    return roc_auc_score(demo.y_holdout, model.predict_proba(X)[:, 1])


def categorical_splits(node: object) -> int:
    """How many splits of a dumped LightGBM model test category membership."""
    if isinstance(node, dict):
        own = node.get("decision_type") == "=="
        return own + sum(categorical_splits(value) for value in node.values())
    if isinstance(node, list):
        return sum(categorical_splits(value) for value in node)
    return 0


def test_lightgbm_with_native_categoricals_beats_the_baseline(demo: Demo, baseline_auc) -> None:
    import lightgbm  # the default booster: a dependency of loopml

    pre = build_preprocessor(demo.roles, encoding="native").fit(demo.train, demo.y_train)
    categorical = categorical_output_indices(pre)
    model = lightgbm.LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=15, random_state=0, n_jobs=1, verbose=-1
    )
    model.fit(pre.transform(demo.train), demo.y_train, categorical_feature=categorical)
    assert categorical_splits(model.booster_.dump_model()) > 0  # codes used as categories
    auc = holdout_auc(model, demo, pre.transform(demo.holdout))
    print(f"lightgbm native ROC-AUC {auc:.4f} (baseline {baseline_auc:.4f})")
    assert auc > baseline_auc + MARGIN


def test_hist_gradient_boosting_with_native_categoricals_beats_the_baseline(
    demo: Demo, baseline_auc
) -> None:
    pre = build_preprocessor(demo.roles, encoding="native").fit(demo.train, demo.y_train)
    model = HistGradientBoostingClassifier(
        categorical_features=categorical_output_indices(pre), max_iter=200, random_state=0
    )
    model.fit(pre.transform(demo.train), demo.y_train)
    assert model.is_categorical_.sum() == 4
    auc = holdout_auc(model, demo, pre.transform(demo.holdout))
    print(f"hist gradient boosting native ROC-AUC {auc:.4f}")
    assert auc > baseline_auc + MARGIN


def test_random_forest_with_ordinal_codes_beats_the_baseline(demo: Demo, baseline_auc) -> None:
    model = make_pipeline(
        build_preprocessor(demo.roles, encoding="ordinal"),
        RandomForestClassifier(n_estimators=150, min_samples_leaf=3, random_state=0),
    ).fit(demo.train, demo.y_train)  # NaN goes to the forest as is
    auc = holdout_auc(model, demo, demo.holdout)
    print(f"random forest ordinal ROC-AUC {auc:.4f}")
    assert auc > baseline_auc + MARGIN


def test_logistic_regression_with_scaled_onehot_beats_the_baseline(
    demo: Demo, baseline_auc
) -> None:
    model = make_pipeline(
        build_preprocessor(demo.roles, encoding="onehot", scale=True),
        LogisticRegression(max_iter=2000),
    ).fit(demo.train, demo.y_train)
    auc = holdout_auc(model, demo, demo.holdout)
    print(f"logistic regression onehot+scale ROC-AUC {auc:.4f}")
    assert auc > baseline_auc + MARGIN
    same = make_pipeline(
        build_preprocessor(demo.roles, encoding="onehot", scale=True),
        LogisticRegression(max_iter=2000),
    ).fit(demo.train, demo.y_train)
    np.testing.assert_array_equal(
        same.predict_proba(demo.holdout), model.predict_proba(demo.holdout)
    )


def test_diabetes_sex_as_boolean_and_ridge_beats_the_mean() -> None:
    data = load_diabetes(as_frame=True, scaled=False)
    X = data.data.assign(sex=data.data["sex"].map({1.0: "F", 2.0: "M"}).astype("category"))
    roles = {c: "boolean" if c == "sex" else "numeric" for c in X.columns}
    X_train, X_test, y_train, y_test = train_test_split(X, data.target, random_state=0)
    model = make_pipeline(build_preprocessor(roles, encoding="onehot", scale=False), Ridge())
    model.fit(X_train, y_train)
    sex = model[0].transform(X_test)[:, list(model[0].get_feature_names_out()).index("sex")]
    np.testing.assert_array_equal(sex, (X_test["sex"] == "M").astype(float).to_numpy())
    assert r2_score(y_test, model.predict(X_test)) > 0.3  # the mean scores about 0
    unseen = X_test.head(2).astype({"sex": object}).assign(sex=["X", None])
    assert np.isfinite(model[0].transform(unseen)).all()  # unknown / missing: imputed
    assert model[0].transform(pd.DataFrame(unseen)).shape[1] == len(X.columns)
