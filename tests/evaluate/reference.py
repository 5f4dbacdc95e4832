"""Reference metrics computed by scikit-learn, shared by the evaluate tests."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm


def sklearn_binary(y, p, threshold):
    """Every binary metric by scikit-learn."""
    hard = (p >= threshold).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "roc_auc": skm.roc_auc_score(y, p),
            "pr_auc": skm.average_precision_score(y, p),
            "log_loss": skm.log_loss(y, p, labels=[0, 1]),
            "brier": skm.brier_score_loss(y, p, labels=[0, 1]),
            "accuracy": skm.accuracy_score(y, hard),
            "balanced_accuracy": skm.balanced_accuracy_score(y, hard),
            "precision": skm.precision_score(y, hard, zero_division=0),
            "recall": skm.recall_score(y, hard, zero_division=0),
            "f1": skm.f1_score(y, hard, zero_division=0),
        }


def sklearn_multiclass(y, proba, classes):
    """Every multiclass metric by scikit-learn."""
    hard = np.asarray(classes)[proba.argmax(axis=1)]
    return {
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes),
        "log_loss": skm.log_loss(y, proba, labels=classes),
        "accuracy": skm.accuracy_score(y, hard),
        "balanced_accuracy": skm.balanced_accuracy_score(y, hard),
        "f1_macro": skm.f1_score(y, hard, average="macro"),
        "f1_weighted": skm.f1_score(y, hard, average="weighted"),
    }


def sklearn_regression(y, pred):
    """Every regression metric by scikit-learn."""
    return {
        "rmse": skm.root_mean_squared_error(y, pred),
        "mae": skm.mean_absolute_error(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "r2": skm.r2_score(y, pred),
    }
