"""Permutation sampling SHAP over input columns, for a model of any kind.

For each row, each sampled ordering of the columns switches them one at a time from a
background row's values to the row's own; a column's contribution is the mean change of the
output when it is switched (over orderings and background rows). Orderings come in
antithetic pairs (one and its reverse), as in shap's PermutationExplainer. The sum of a row's
contributions telescopes to f(row) − mean f(background): additivity holds exactly, whatever
the sample. The budget is `max_evals` model evaluations per row (orderings × (columns + 1) ×
background rows); the same orderings and background rows serve every row, so a row's
explanation does not depend on the rows explained with it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

MAX_EVALS = 10_000  # model evaluations per explained row
ORDERINGS = 10  # sampled orderings of the columns (5 antithetic pairs)
MIN_BACKGROUND = 5
CHUNK_EVALS = 100_000  # evaluations per call of the model


def permutation_values(
    predict: Callable[[pd.DataFrame], np.ndarray],
    rows: pd.DataFrame,
    background: pd.DataFrame,
    *,
    seed: int = 0,
    max_evals: int = MAX_EVALS,
    orderings: int = ORDERINGS,
) -> tuple[np.ndarray, np.ndarray]:
    """(contributions (n, d, K), base (K,)) of `rows` for `predict` (a frame -> (m, K))."""
    columns = list(rows.columns)
    d = len(columns)
    rng = np.random.default_rng(seed)
    orderings = max(2, orderings - orderings % 2)
    n_background = max(MIN_BACKGROUND, max_evals // (orderings * (d + 1)))
    if len(background) > n_background:
        picked = np.sort(rng.choice(len(background), n_background, replace=False))
        background = background.iloc[picked].reset_index(drop=True)
    B = len(background)
    half = [rng.permutation(d) for _ in range(orderings // 2)]
    orders = [o for order in half for o in (order, order[::-1])]
    # masks[s, j]: whether column j holds the row's value at step s of some ordering
    masks = np.zeros((len(orders) * (d + 1), d), dtype=bool)
    for o, order in enumerate(orders):
        for k in range(1, d + 1):
            masks[o * (d + 1) + k, order[:k]] = True
    reference = _predict(predict, background)
    base = reference.mean(axis=0)
    k_out = reference.shape[1]
    values = np.zeros((len(rows), d, k_out))
    bg = {c: _array(background[c]) for c in columns}
    per_row = len(masks) * B
    rows_per_call = max(1, CHUNK_EVALS // per_row)
    for start in range(0, len(rows), rows_per_call):
        chunk = rows.iloc[start : start + rows_per_call]
        frame = _mixed(chunk, bg, masks, columns, B)
        out = _predict(predict, frame).reshape(len(chunk), len(orders), d + 1, B, k_out)
        means = out.mean(axis=3)  # (rows, orderings, steps, K): mean over background rows
        steps = np.diff(means, axis=2)  # the change when the ordering's k-th column switches
        for o, order in enumerate(orders):
            values[start : start + len(chunk), order, :] += steps[:, o]
    values /= len(orders)
    return values, base


def _predict(predict: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame) -> np.ndarray:
    out = np.asarray(predict(frame), dtype=float)
    return out[:, None] if out.ndim == 1 else out


def _array(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_float_dtype(column.dtype) or pd.api.types.is_integer_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return column.to_numpy(dtype=object)


def _mixed(
    chunk: pd.DataFrame, bg: dict[str, np.ndarray], masks: np.ndarray, columns: list[str], B: int
) -> pd.DataFrame:
    """Every (row, step, background row) input: the row's values where masked, else the
    background row's; rows ordered by explained row, then step, then background row."""
    n, steps = len(chunk), len(masks)
    data = {}
    for j, name in enumerate(columns):
        own = _array(chunk[name])
        back = bg[name]
        if own.dtype != back.dtype:
            own, back = own.astype(object), back.astype(object)
        mine = np.repeat(np.repeat(own, steps), B)  # (n * steps * B,)
        theirs = np.tile(back, n * steps)
        where = np.tile(np.repeat(masks[:, j], B), n)
        data[name] = np.where(where, mine, theirs)
    return pd.DataFrame(data, columns=columns)
