"""Real predictions on scikit-learn's bundled datasets, shared by the evaluation tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Case:
    y_train: np.ndarray
    y_test: np.ndarray
    pred: np.ndarray
    classes: list


@pytest.fixture(scope="session")
def binary_case() -> Case:
    """Breast cancer: a logistic regression's probability of class 1 (benign) on a test part."""
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_tr, y_tr)
    return Case(y_tr, y_te, model.predict_proba(X_te)[:, 1], [0, 1])


@pytest.fixture(scope="session")
def binary_oof() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer, every row: out-of-fold probabilities of a two-feature logistic model."""
    X, y = load_breast_cancer(return_X_y=True)
    proba = cross_val_predict(
        LogisticRegression(max_iter=1000), X[:, [0, 1]], y, cv=5, method="predict_proba"
    )[:, 1]
    return y, proba


@pytest.fixture(scope="session")
def imbalanced_case() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer with 40 malignant (positive) rows among 357 benign: out-of-fold
    probabilities of a weak two-feature model (about 10 % positives)."""
    X, y = load_breast_cancer(return_X_y=True)
    malignant = (y == 0).astype(int)
    rng = np.random.default_rng(0)
    keep = np.r_[
        np.flatnonzero(malignant == 0),
        rng.choice(np.flatnonzero(malignant == 1), 40, replace=False),
    ]
    X_kept, y_kept = X[keep][:, [0, 1]], malignant[keep]
    proba = cross_val_predict(
        LogisticRegression(max_iter=1000), X_kept, y_kept, cv=5, method="predict_proba"
    )[:, 1]
    return y_kept, proba


@pytest.fixture(scope="session")
def multiclass_case() -> Case:
    """Wine (3 cultivars, string labels): a logistic regression's probability matrix."""
    data = load_wine()
    labels = np.asarray(data.target_names)[data.target]
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.data, labels, test_size=0.4, stratify=labels, random_state=0
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000))
    model.fit(X_tr, y_tr)
    return Case(y_tr, y_te, model.predict_proba(X_te), list(model.classes_))


@pytest.fixture(scope="session")
def regression_case() -> Case:
    """Diabetes: a ridge regression's predictions on a test part."""
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    model = Ridge(alpha=0.1).fit(X_tr, y_tr)
    return Case(y_tr, y_te, model.predict(X_te), [])
