"""Numeric helpers, one copy each for the whole library.

* class probabilities from logits, in float64 and exact for any logits;
* bootstrap over images: resampled means and percentile intervals (for contrasts and ablations);
* Welch's t-test per channel with Benjamini-Hochberg correction (for the two-class contrast and two runs).
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

__all__ = ["separation_p", "log_softmax", "softmax", "bootstrap_means", "percentile_interval", "mean_interval",
           "benjamini_hochberg", "WelchTest", "welch_bh", "cohens_d", "cohens_d_interval"]

def log_softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities; no probability is clipped, so NLL stays exact for confident mistakes."""
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) probabilities."""
    return np.exp(log_softmax(logits))

_MAX_DRAWS = 4_000_000  # resampled values held at a time (32 MB): bounded at any number of images or channels


def bootstrap_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of the rows of ``x``: shape (n_boot, *x.shape[1:]).

    Each resample is its rows' counts, so its means are one matrix product of counts and values, not a copy of
    the resampled rows (a superclass of 20,000 images x 576 channels would copy 12 million values a resample).
    The draws are those of resampling row by row, chunk by chunk, whatever the chunks.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.full((n_boot, *x.shape[1:]), np.nan)
    flat = x.reshape(n, -1)
    step = max(1, min(n_boot, _MAX_DRAWS // (n + flat.shape[1])))  # counts and means held at a time stay bounded
    parts = [_counts(rng.integers(0, n, (min(step, n_boot - i), n)), n) @ flat / n for i in range(0, n_boot, step)]
    return np.concatenate(parts).reshape(n_boot, *x.shape[1:])


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(k, n) how often each of n rows is drawn in each of the k resamples ``idx`` (k, n)."""
    k = len(idx)
    return np.bincount((idx + n * np.arange(k)[:, None]).ravel(), minlength=k * n).reshape(k, n).astype(float)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` percentile interval of bootstrap samples (axis 0)."""
    return tuple(np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0))


def mean_interval(x: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """A bootstrap percentile interval of the mean of a 1-D sample (NaN, NaN when it is empty)."""
    if not len(x):
        return np.nan, np.nan
    lo, hi = percentile_interval(bootstrap_means(x, n_boot, np.random.default_rng(seed)), level)
    return float(lo), float(hi)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (monotone, capped at 1) over the finite entries of ``p``: NaN (not tested) stays NaN
    and does not count among the m hypotheses."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


class WelchTest(NamedTuple):
    """Per-column results of :func:`welch_bh`, each of shape (C,)."""

    t: np.ndarray  # Welch's t (a - b); +-inf where both sides are constant and differ; NaN where not tested
    p: np.ndarray  # two-sided p; 0 where both sides are constant and differ; NaN where not tested
    p_adjusted: np.ndarray  # Benjamini-Hochberg over the tested columns; NaN where not tested
    significant: np.ndarray  # p_adjusted < alpha (False where not tested)
    tested: np.ndarray  # bool: the column counts among the m hypotheses of the correction


def welch_bh(a: np.ndarray, b: np.ndarray, alpha: float = 0.05) -> WelchTest:
    """Welch's t-test of each column of ``a`` (n_a, C) against ``b`` (n_b, C), with Benjamini-Hochberg
    false-discovery-rate correction across the C columns.

    One treatment of constant columns, for every caller:

    * constant on both sides and equal (nothing varies, nothing differs): not tested. t and p are NaN,
      the column is left out of the correction (m = the number of tested columns) and is never significant;
    * constant on both sides and different (the two sides separate perfectly): t = +-inf, and p is the exact
      two-sided Mann-Whitney p of a complete separation, 2 / C(n_a + n_b, n_a), the smallest p any
      rank test can give with these n (Welch's limit as the spread goes to 0 would be p = 0 at any n,
      calling 2 images against 2 certain); tested;
    * constant on one side only: the ordinary Welch test (the other side's variance carries it); tested.

    A column with fewer than two values on a side has no Welch test: it is not tested either.
    "Constant" is exact (every value equal), so near-constant columns keep their ordinary test.
    """
    from scipy import stats as st

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"welch_bh takes two (n, C) arrays with the same C, not {a.shape} and {b.shape}")
    c = a.shape[1]
    if len(a) < 2 or len(b) < 2:
        nan = np.full(c, np.nan)
        return WelchTest(nan, nan.copy(), nan.copy(), np.zeros(c, bool), np.zeros(c, bool))
    both_constant = (a.max(0) == a.min(0)) & (b.max(0) == b.min(0))
    step = a[0] - b[0]  # exact for constant columns (their means could differ by rounding)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant and near-constant columns: handled below
        t, p = st.ttest_ind(a, b, axis=0, equal_var=False)
    t, p = np.asarray(t, dtype=np.float64), np.asarray(p, dtype=np.float64)
    differ = both_constant & (step != 0)
    t = np.where(both_constant, np.where(differ, np.copysign(np.inf, step), np.nan), t)
    p = np.where(both_constant, np.where(differ, separation_p(len(a), len(b)), np.nan), p)
    tested = np.isfinite(p)
    p_adj = benjamini_hochberg(p)
    return WelchTest(t, p, p_adj, np.nan_to_num(p_adj, nan=1.0) < alpha, tested)


def separation_p(n_a: int, n_b: int) -> float:
    """The exact two-sided Mann-Whitney p of two samples that separate completely: 2 / C(n_a + n_b, n_a).

    Computed in logs, so it stays finite (and tiny) for tens of thousands of images.
    """
    log_p = math.log(2) - (math.lgamma(n_a + n_b + 1) - math.lgamma(n_a + 1) - math.lgamma(n_b + 1))
    return min(1.0, math.exp(log_p))


def cohens_d(mean_a: np.ndarray, var_a: np.ndarray, n_a: int, mean_b: np.ndarray, var_b: np.ndarray, n_b: int,
             constant: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Cohen's d, (mean_a - mean_b) over the pooled standard deviation (variances with ddof 1), any shape.

    Where both sides are ``constant``, the pooled SD is 0: d is +-inf when they differ (``step``, the exact
    difference of the two constant values, gives the sign) and 0 when they are equal.
    """
    pooled = np.sqrt(((n_a - 1) * var_a + (n_b - 1) * var_b) / (n_a + n_b - 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (mean_a - mean_b) / np.where(constant, 1.0, pooled)
    return np.where(constant, np.where(step == 0, 0.0, np.copysign(np.inf, step)), d)


_MAX_VALUES = 4_000_000  # resampled values held at a time (32 MB)


def _resampled_moments(x: np.ndarray, n_boot: int, rng: np.random.Generator):
    """Mean, variance (ddof 1), constancy and first value of ``n_boot`` resamples of the rows of ``x`` (n, C).

    Each resample is its rows' counts (k, n), so its sums are matrix products of the counts with the
    centred values and their squares: (k, n) @ (n, C) instead of a (k, n, C) copy. A resample is constant
    exactly when its values are all equal; the few whose computed variance lies within the products'
    rounding bound of 0 are checked on their values themselves, so constancy (and its variance, 0) is exact.
    """
    n, c = x.shape
    step = max(1, min(n_boot, _MAX_VALUES // (n + c)))  # counts and sums held at a time; draws as row by row
    centred = x - x.mean(0)
    squares = centred ** 2
    parts = []
    for i in range(0, n_boot, step):
        k = min(step, n_boot - i)
        idx = rng.integers(0, n, (k, n))
        counts = _counts(idx, n)
        s1, s2 = counts @ centred, counts @ squares
        var = (s2 - s1 * s1 / n) / max(n - 1, 1) if n > 1 else np.full((k, c), np.nan)
        constant = np.full((k, c), n == 1)  # one value is constant
        rows, cols = np.nonzero(np.abs(var) <= 8 * (n + 2) * np.finfo(float).eps * s2 / max(n - 1, 1))
        if len(rows):
            values = x[idx[rows], cols[:, None]]  # (candidates, n): each candidate's own values
            constant[rows, cols] = same = values.max(1) == values.min(1)
            var[rows, cols] = np.where(same, 0.0, values.var(1, ddof=1)) if n > 1 else np.nan
        parts.append((s1 / n + x.mean(0), var, constant, x[idx[:, 0]]))
    return [np.concatenate(column) for column in zip(*parts)]


def cohens_d_interval(a: np.ndarray, b: np.ndarray, n_boot: int, rng: np.random.Generator,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """A bootstrap percentile interval of Cohen's d (:func:`cohens_d`) per column of ``a`` (n_a, C) against
    ``b`` (n_b, C): the rows of each side resampled with replacement, d recomputed on every resample.

    A resample in which both sides are constant has d = +-inf (or 0 when equal), so an end of the interval
    can be infinite: the interval of a channel that separates perfectly on every resample is (inf, inf).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, va, ca, fa = _resampled_moments(a, n_boot, rng)
    mb, vb, cb, fb = _resampled_moments(b, n_boot, rng)
    d = cohens_d(ma, va, len(a), mb, vb, len(b), ca & cb, fa - fb)
    big = 1e300  # infinities as huge finite values, so that interpolating between two of them is not NaN
    lo, hi = np.quantile(np.clip(d, -big, big), [(1 - level) / 2, (1 + level) / 2], axis=0)
    return tuple(np.where(np.abs(q) > 1e250, np.copysign(np.inf, q), q) for q in (lo, hi))
