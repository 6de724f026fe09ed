"""Which channels at a block separate class A from class B: a per-channel two-class contrast.

For each channel of the block, over the images of each class: the mean gate of A and of B, their
difference A - B with a bootstrap 95 % interval (images resampled within each class), Cohen's d
(difference over the pooled standard deviation), whether the channel separates the two classes
perfectly, and Welch's t-test with Benjamini-Hochberg false-discovery-rate correction across the
block's tested channels (:func:`~se_analysis.utils.numeric.welch_bh`). One row per channel: the
channels that separate perfectly first, then by |d|.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import GroupBy, class_groups, group_names
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import (
    bootstrap_means,
    cohens_d,
    cohens_d_interval,
    percentile_interval,
    welch_bh,
)
from se_analysis.utils.text import plural

__all__ = ["contrast"]


def contrast(run: Run, block: str, class_a: str, class_b: str, by: GroupBy = "label", n_boot: int = 1000,
             seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Per-channel contrast of ``class_a`` against ``class_b`` at ``block``.

    A channel *separates* the classes when every image of one class has a higher gate than every
    image of the other (a threshold between them classifies all of them). Cohen's d is the difference
    over the pooled standard deviation: +-inf where both classes are constant and differ (a gate at 0
    on every image of A and at 1 on every image of B), 0 where both are constant and equal.

    The test is :func:`~se_analysis.utils.numeric.welch_bh`, the same as the run comparison's: a
    channel constant and equal in both classes is not tested (``t``, ``p`` and ``p_adjusted`` NaN,
    never significant) and does not count in the Benjamini-Hochberg correction, whose m is the
    number of the block's other channels; a channel constant in both classes with different values
    gets the exact Mann-Whitney p of a complete separation, 2 / C(n_A + n_B, n_A) (so 4 images against 3
    give 0.057: a clean step on a handful of images is not significant by itself).

    Returns:
        Columns ``block, channel, class_a, class_b, n_a, n_b, mean_a, mean_b, diff, ci_low, ci_high,
        cohens_d, d_low, d_high, separates, t, p, p_adjusted, significant, rank``, sorted by rank: rank 1
        first, the channels that separate perfectly ahead of the rest, each group by |d|. ``d_low, d_high``
        is d's bootstrap 95 % percentile interval (:func:`~se_analysis.utils.numeric.cohens_d_interval`:
        each class's images resampled, d recomputed); an end is infinite where resamples separate
        perfectly.

    Raises:
        ValueError: a class with fewer than two images, or the same class twice.
    """
    if class_a == class_b:
        raise ValueError("choose two different classes")
    groups = class_groups(run, by)
    names = group_names(run, by)
    idx = {c: names.index(c) for c in (class_a, class_b) if c in names}
    if len(idx) < 2:
        raise ValueError(f"unknown class {class_a if class_a not in idx else class_b!r}")
    v = run.gate_values[block]  # only the two classes' rows are read (a memory-mapped block of 50,000 stays on disk)
    a, b = (np.asarray(v[np.flatnonzero(groups == idx[c])], np.float64) for c in (class_a, class_b))
    for name, x in ((class_a, a), (class_b, b)):
        if len(x) < 2:
            raise ValueError(f"{name} has {plural(len(x), 'image')} here; a contrast needs at least 2")
    diff = a.mean(0) - b.mean(0)
    both_constant = (a.max(0) == a.min(0)) & (b.max(0) == b.min(0))  # exact: the pooled SD is 0
    step = a[0] - b[0]  # the exact difference where both are constant
    d = cohens_d(a.mean(0), a.var(0, ddof=1), len(a), b.mean(0), b.var(0, ddof=1), len(b), both_constant, step)
    separates = (a.min(0) > b.max(0)) | (b.min(0) > a.max(0))
    test = welch_bh(a, b, alpha)
    rng = np.random.default_rng(seed)
    lo, hi = percentile_interval(bootstrap_means(a, n_boot, rng) - bootstrap_means(b, n_boot, rng))
    d_low, d_high = cohens_d_interval(a, b, n_boot, rng)
    table = pd.DataFrame({
        "block": block, "channel": np.arange(v.shape[1]), "class_a": class_a, "class_b": class_b,
        "n_a": len(a), "n_b": len(b), "mean_a": a.mean(0), "mean_b": b.mean(0), "diff": diff,
        "ci_low": lo, "ci_high": hi, "cohens_d": d, "d_low": d_low, "d_high": d_high,
        "separates": separates, "t": test.t, "p": test.p,
        "p_adjusted": test.p_adjusted, "significant": test.significant,
    })
    order = np.lexsort((table["channel"], -np.abs(d), ~separates))  # separating first, then |d|, then channel
    table["rank"] = 0
    table.loc[order, "rank"] = np.arange(1, len(table) + 1)
    return table.sort_values("rank").reset_index(drop=True)
