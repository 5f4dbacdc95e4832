"""Drift: new data against a model version's reference statistics, feature by feature.

Each feature gets effect sizes that do not grow with the sample (PSI, the Wasserstein
distance in reference standard deviations, the Jensen-Shannon distance, the change of the
missing rate, the share of categories training never saw) and, for small samples, a test
(Kolmogorov-Smirnov for numbers, chi-squared for categories). Which one decides is the
feature's `method`:

- numeric, n <= `small_sample`: KS test, drifted when p < `p_value`;
- numeric, larger: Wasserstein distance (of the central 98 %) / reference std >= `wasserstein`;
- categorical, n <= `small_sample`: chi-squared test, drifted when p < `p_value`;
- categorical, larger: Jensen-Shannon distance >= `jensen_shannon`.

A p-value test on a million rows flags differences too small to matter; an effect size
does not, which is why large samples are judged by effect size. A feature also drifts when
its missing rate moves by `missing_rate` or more, or unseen categories make up
`new_categories` of its rows. The dataset drifts when the drifted features' share,
weighted by permutation importance when known, reaches `dataset_share`.

Numbers are computed from Arrow arrays and the reference's bins and quantiles only, so a
million rows by fifty features take seconds, and the training data is never reloaded. Counts
(PSI, missing rates, categories) use every row; a numeric column's order statistics (its
quantiles for the Wasserstein distance, its KS statistic) come from a seeded sample of
`ORDERED_ROWS` values when it has more: their sampling error (about 1/sqrt(200,000) in
probability) is far below any threshold, and sorting a million values per column is not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from loopml.monitor.reference import OTHER, bin_shares
from loopml.spec import Drift

_EPS = 1e-4  # shares are floored here before logs (PSI, Jensen-Shannon)
ORDERED_ROWS = 200_000  # values of a column sorted for its quantiles and KS statistic
TAIL = 0.01  # the Wasserstein distance leaves out the quantiles below this and above 1 - it


@dataclass
class FeatureDrift:
    """One feature's drift: the deciding method and score, the verdict, and the effect sizes."""

    name: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    rows: int
    psi: float
    missing_rate: float
    missing_rate_reference: float
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for --json and the store)."""
        return asdict(self)


def feature_drift(
    name: str,
    reference: dict[str, Any],
    current: Any,
    settings: Drift,
    *,
    ordered_rows: int = ORDERED_ROWS,
) -> FeatureDrift:
    """Drift of one column (`current`: an Arrow or NumPy array) against its reference;
    a numeric column's order statistics come from at most `ordered_rows` of its values."""
    if reference["kind"] == "numeric":
        result = _numeric(name, reference, current, settings, ordered_rows)
    else:
        result = _categorical(name, reference, current, settings)
    if result.method != "too few rows":  # marked, not deciding: see `monitor.drift.psi`
        result.details["psi_shift"] = bool(result.psi >= settings.psi)
    return result


def dataset_drift(
    features: list[FeatureDrift], importance: dict[str, float], settings: Drift
) -> dict[str, Any]:
    """The share of drifted features (importance-weighted when known) and the verdict."""
    judged = [f for f in features if f.method != "too few rows"]
    if not judged:
        return {"drifted": False, "share": 0.0, "weighted": False, "drifted_features": []}
    weights = np.array([max(importance.get(f.name, 0.0), 0.0) for f in judged])
    weighted = bool(weights.sum() > 0)
    if not weighted:
        weights = np.ones(len(judged))
    flags = np.array([f.drifted for f in judged], dtype=float)
    share = float((weights * flags).sum() / weights.sum())
    return {
        "drifted": share >= settings.dataset_share,
        "share": share,
        "weighted": weighted,
        "threshold": settings.dataset_share,
        "drifted_features": [f.name for f in judged if f.drifted],
    }


def _numeric(
    name: str, reference: dict[str, Any], current: Any, settings: Drift, ordered_rows: int
) -> FeatureDrift:
    values = _floats(current)
    present = values[~np.isnan(values)]
    missing = 1.0 - len(present) / len(values) if len(values) else 0.0
    base = {
        "name": name,
        "kind": "numeric",
        "rows": len(values),
        "missing_rate": missing,
        "missing_rate_reference": reference["missing_rate"],
    }
    if len(present) < settings.min_rows or "quantiles" not in reference:
        return _not_judged(base)
    edges = np.asarray(reference["edges"])
    psi = _psi(np.asarray(reference["shares"]), bin_shares(present, edges))
    grid = np.linspace(0, 1, len(reference["quantiles"]))
    ref_q = np.asarray(reference["quantiles"])
    ordered = _ordered_sample(present, ordered_rows)
    cur_q = _quantiles(ordered, grid)
    scale = reference.get("std") or float(np.ptp(ref_q)) or 1.0
    wasserstein = _central_wasserstein(ref_q, cur_q, grid) / scale
    # KS statistic: both ECDFs at the reference quantiles (right-continuous, ties as steps).
    levels = (np.searchsorted(ref_q, ref_q, side="right") - 1) / (len(ref_q) - 1)
    cur_levels = np.searchsorted(ordered, ref_q, side="right") / len(ordered)
    ks = float(np.max(np.abs(cur_levels - levels)))
    n_ref = _present_count(reference)
    ks_p = _ks_p_value(ks, n_ref, len(ordered))
    if len(present) <= settings.small_sample:
        method, score, threshold = "ks", ks_p, settings.p_value
        drifted = ks_p < settings.p_value
    else:
        method, score, threshold = "wasserstein", wasserstein, settings.wasserstein
        drifted = wasserstein >= settings.wasserstein
    drifted = drifted or abs(missing - reference["missing_rate"]) >= settings.missing_rate
    details = {
        "wasserstein": wasserstein,
        "ks": ks,
        "ks_p_value": ks_p,
        "mean": float(present.mean()),
        "ordered_rows": len(ordered),
    }
    return FeatureDrift(
        **base,
        method=method,
        score=score,
        threshold=threshold,
        drifted=bool(drifted),
        psi=psi,
        details=details,
    )


def _categorical(
    name: str, reference: dict[str, Any], current: Any, settings: Drift
) -> FeatureDrift:
    counts, missing_count, total = _category_counts(current)
    present = total - missing_count
    missing = missing_count / total if total else 0.0
    base = {
        "name": name,
        "kind": "categorical",
        "rows": total,
        "missing_rate": missing,
        "missing_rate_reference": reference["missing_rate"],
    }
    if present < settings.min_rows:
        return _not_judged(base)
    known = [k for k in reference["shares"] if k != OTHER]
    ref = np.array([reference["shares"][k] for k in known] + [reference["shares"].get(OTHER, 0.0)])
    seen = set(known)
    cur_known = np.array([counts.get(k, 0) for k in known], dtype=float)
    rest = present - cur_known.sum()
    cur = np.append(cur_known, rest) / present
    # Categories beyond the recorded ones were "other" in training: unseen only if none were.
    new = [k for k in counts if k not in seen] if OTHER not in reference["shares"] else []
    new_share = sum(counts[k] for k in new) / present
    psi = _psi(ref, cur)
    n_ref = _present_count(reference)
    js = _jensen_shannon(ref, cur, n_ref, present)
    chi_p = _chi2_p_value(ref, cur * present)
    if present <= settings.small_sample:
        method, score, threshold = "chi2", chi_p, settings.p_value
        drifted = chi_p < settings.p_value
    else:
        method, score, threshold = "jensen_shannon", js, settings.jensen_shannon
        drifted = js >= settings.jensen_shannon
    drifted = (
        drifted
        or abs(missing - reference["missing_rate"]) >= settings.missing_rate
        or new_share >= settings.new_categories
    )
    top_new = sorted(new, key=lambda k: -counts[k])[:10]
    details = {
        "jensen_shannon": js,
        "chi2_p_value": chi_p,
        "new_categories": top_new,
        "new_category_share": new_share,
    }
    return FeatureDrift(
        **base,
        method=method,
        score=score,
        threshold=threshold,
        drifted=bool(drifted),
        psi=psi,
        details=details,
    )


def _central_wasserstein(ref_q: np.ndarray, cur_q: np.ndarray, grid: np.ndarray) -> float:
    """The Wasserstein distance between the central parts of two distributions: the mean
    |quantile difference| over levels `TAIL` to 1 - `TAIL` (trapezoid rule).

    The extreme quantiles are left out because a window's minimum and maximum are ruled by
    chance: in a zero-inflated or heavy-tailed column (rain, amounts) the window's maximum
    alone can move the mean by a tenth of a standard deviation, so every small window of
    unchanged data would "drift". A shift of the bulk moves every central quantile; a change
    confined to the outer tails is still seen by PSI and the KS statistic.
    """
    inside = (grid >= TAIL - 1e-12) & (grid <= 1 - TAIL + 1e-12)
    levels, gaps = grid[inside], np.abs(cur_q - ref_q)[inside]
    return float(np.trapezoid(gaps, levels) / (levels[-1] - levels[0]))


def _not_judged(base: dict[str, Any]) -> FeatureDrift:
    return FeatureDrift(
        **base, method="too few rows", score=0.0, threshold=0.0, drifted=False, psi=0.0, details={}
    )


def _ordered_sample(present: np.ndarray, limit: int) -> np.ndarray:
    """`present` sorted, or a sorted seeded sample of `limit` of its values."""
    if len(present) > limit:
        present = present[np.random.default_rng(0).integers(0, len(present), limit)]
    return np.sort(present)


def _quantiles(ordered: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """np.quantile(..., method="linear") of sorted values, without sorting them again."""
    position = grid * (len(ordered) - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _present_count(reference: dict[str, Any]) -> int:
    """How many training values the reference statistics of a column were made from."""
    return int(reference["count"] * (1 - reference["missing_rate"]))


def _floats(values: Any) -> np.ndarray:
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        import pyarrow as pa
        import pyarrow.compute as pc

        chunked = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
        if not (pa.types.is_integer(chunked.type) or pa.types.is_floating(chunked.type)):
            chunked = pc.cast(chunked, pa.float64(), safe=False)
        return pc.cast(chunked, pa.float64()).to_numpy()
    return np.asarray(values, dtype=np.float64)


def _category_counts(values: Any) -> tuple[dict[str, int], int, int]:
    """(count per category, missing count, total) of an Arrow or NumPy column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, np.ndarray):
        from loopml.features.frames import category_texts

        values = pa.array(category_texts(values.astype(object)), pa.string(), from_pandas=True)
    chunked = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    if not pa.types.is_string(chunked.type) and not pa.types.is_large_string(chunked.type):
        chunked = pc.cast(chunked, pa.string())
    table = pc.value_counts(chunked)
    counts = {
        str(v): int(c)
        for v, c in zip(
            table.field("values").to_pylist(), table.field("counts").to_pylist(), strict=True
        )
        if v is not None
    }
    return counts, int(chunked.null_count), len(chunked)


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    r = np.clip(reference, _EPS, None)
    c = np.clip(current, _EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _jensen_shannon(reference: np.ndarray, current: np.ndarray, n_ref: int, n_cur: int) -> float:
    """The Jensen-Shannon distance (base 2: 0 same, 1 disjoint), less its sampling noise.

    Two samples of one distribution over k categories differ by chance: their divergence
    averages (k - 1)(1/n_ref + 1/n_cur) / (8 ln 2) bits. That is subtracted, so a column with
    many categories does not look drifted just because the window is small.
    """
    r = reference / max(reference.sum(), _EPS)
    c = current / max(current.sum(), _EPS)
    m = (r + c) / 2

    def kl(p: np.ndarray) -> float:
        mask = p > 0
        return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))

    divergence = (kl(r) + kl(c)) / 2
    k = int(np.count_nonzero(m))
    noise = (k - 1) * (1 / max(n_ref, 1) + 1 / max(n_cur, 1)) / (8 * np.log(2))
    return float(np.sqrt(max(divergence - noise, 0.0)))


def _ks_p_value(statistic: float, n_ref: int, n_cur: int) -> float:
    from scipy.special import kolmogorov  # kstwobign.sf, without importing scipy.stats

    if n_ref <= 0 or n_cur <= 0:
        return 1.0
    n = n_ref * n_cur / (n_ref + n_cur)
    return float(kolmogorov(statistic * np.sqrt(n)))


def _chi2_p_value(reference_shares: np.ndarray, observed: np.ndarray) -> float:
    from scipy.special import chdtrc  # chi2.sf, without importing scipy.stats

    expected = np.clip(reference_shares, _EPS, None)
    expected = expected / expected.sum() * observed.sum()
    keep = expected > 0
    statistic = float(np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep]))
    dof = max(int(keep.sum()) - 1, 1)
    return float(chdtrc(dof, statistic))
