"""Numeric helpers, one copy each for the whole library.

* class probabilities from logits, in float64 and exact for any logits;
* bootstrap over images: resampled means and percentile intervals (for contrasts and ablations).
"""

from __future__ import annotations

import numpy as np

__all__ = ["log_softmax", "softmax", "bootstrap_means", "percentile_interval", "mean_interval"]

def log_softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities; no probability is clipped, so NLL stays exact for confident mistakes."""
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) probabilities."""
    return np.exp(log_softmax(logits))

_MAX_DRAWS = 4_000_000  # indices drawn at a time: memory stays bounded at any number of images


def bootstrap_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of the rows of ``x``: shape (n_boot, *x.shape[1:])."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.full((n_boot, *x.shape[1:]), np.nan)
    step = max(1, min(n_boot, _MAX_DRAWS // n))
    return np.concatenate([x[rng.integers(0, n, (min(step, n_boot - i), n))].mean(1) for i in range(0, n_boot, step)])


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The central ``level`` percentile interval of bootstrap samples (axis 0)."""
    return tuple(np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0))


def mean_interval(x: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """A bootstrap percentile interval of the mean of a 1-D sample (NaN, NaN when it is empty)."""
    if not len(x):
        return np.nan, np.nan
    lo, hi = percentile_interval(bootstrap_means(x, n_boot, np.random.default_rng(seed)), level)
    return float(lo), float(hi)
