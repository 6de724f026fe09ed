"""Which channels at a block separate class A from class B: a per-channel two-class contrast.

For each channel of the block, over the images of each class: the mean gate of A and of B, their
difference A - B with a bootstrap 95 % interval (images resampled within each class), Cohen's d
(difference over the pooled standard deviation), and Welch's t-test with Benjamini-Hochberg
false-discovery-rate correction across the block's channels. One row per channel, ranked by |d|.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import GroupBy, class_groups, group_names
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import bootstrap_means, percentile_interval

__all__ = ["contrast", "benjamini_hochberg"]


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (monotone, capped at 1); NaN stays NaN."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok])]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def contrast(run: Run, block: str, class_a: str, class_b: str, by: GroupBy = "label", n_boot: int = 1000,
             seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Per-channel contrast of ``class_a`` against ``class_b`` at ``block``.

    Returns:
        Columns ``block, channel, class_a, class_b, n_a, n_b, mean_a, mean_b, diff, ci_low, ci_high,
        cohens_d, t, p, p_adjusted, significant, rank`` (rank 1 = largest |d|). Channels constant in
        both classes get d = 0 and p = NaN.

    Raises:
        ValueError: a class with fewer than two images, or the same class twice.
    """
    from scipy import stats as st

    if class_a == class_b:
        raise ValueError("choose two different classes")
    groups = class_groups(run, by)
    names = group_names(run, by)
    idx = {c: names.index(c) for c in (class_a, class_b) if c in names}
    if len(idx) < 2:
        raise ValueError(f"unknown class {class_a if class_a not in idx else class_b!r}")
    v = run.gate_values[block].astype(np.float64)
    a, b = v[groups == idx[class_a]], v[groups == idx[class_b]]
    for name, x in ((class_a, a), (class_b, b)):
        if len(x) < 2:
            raise ValueError(f"{name} has {len(x)} image{'s' if len(x) != 1 else ''} here; a contrast needs at least 2")
    diff = a.mean(0) - b.mean(0)
    pooled = np.sqrt(((len(a) - 1) * a.var(0, ddof=1) + (len(b) - 1) * b.var(0, ddof=1)) / (len(a) + len(b) - 2))
    constant = pooled <= 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(constant, 0.0, diff / np.where(constant, 1.0, pooled))
        t, p = st.ttest_ind(a, b, axis=0, equal_var=False)
    p = np.where(constant, np.nan, p)
    t = np.where(constant, 0.0, t)
    rng = np.random.default_rng(seed)
    lo, hi = percentile_interval(bootstrap_means(a, n_boot, rng) - bootstrap_means(b, n_boot, rng))
    p_adj = benjamini_hochberg(p)
    table = pd.DataFrame({
        "block": block, "channel": np.arange(v.shape[1]), "class_a": class_a, "class_b": class_b,
        "n_a": len(a), "n_b": len(b), "mean_a": a.mean(0), "mean_b": b.mean(0), "diff": diff,
        "ci_low": lo, "ci_high": hi, "cohens_d": d, "t": t, "p": p, "p_adjusted": p_adj,
        "significant": np.nan_to_num(p_adj, nan=1.0) < alpha,
    })
    table["rank"] = table["cohens_d"].abs().rank(ascending=False, method="first").astype(int)
    return table.sort_values("rank").reset_index(drop=True)
