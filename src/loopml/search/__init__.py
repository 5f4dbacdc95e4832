"""Model search: validation folds, out-of-fold predictions (and later HPO, ensembling)."""

from loopml.search.cv import Folds, OutOfFold, cross_val_predict_oof, join_valid, make_folds

__all__ = ["Folds", "OutOfFold", "cross_val_predict_oof", "join_valid", "make_folds"]
