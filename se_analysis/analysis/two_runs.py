"""Two Runs side by side: how the gates of the same model on two image sets, trained against random
weights, or two checkpoints differ, block by block and channel by channel.

Any two Runs whose gates have the same names and channel counts compare. Per channel: the mean
gate of each Run, their difference, Welch's t-test (the images of the two Runs as independent
samples) and Benjamini-Hochberg correction over all channels of the block. Per block: the mean
|difference of mean gates| (the shift statistic), its largest value, and the share of channels
that differ at a 5 % false-discovery rate; and both Runs' class-specificity.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from se_analysis.analysis.contrast import benjamini_hochberg
from se_analysis.analysis.stats import block_stats
from se_analysis.runs.run import Run

__all__ = ["check_comparable", "channel_shift", "block_shift", "specificity_pair"]


def check_comparable(a: Run, b: Run) -> list[str]:
    """The gate names both Runs share (same channels), or a ValueError saying why they do not compare."""
    if not a.has_gate_arrays or not b.has_gate_arrays:
        raise ValueError("both runs need per-image gates (a summary-only run cannot be compared channel by channel)")
    ca, cb = {g.name: g.channels for g in a.gates}, {g.name: g.channels for g in b.gates}
    shared = [n for n in a.gate_names if n in cb and ca[n] == cb[n]]
    if not shared:
        raise ValueError(f"the runs share no gate: {', '.join(a.gate_names[:3])}… against {', '.join(b.gate_names[:3])}…")
    return shared


def channel_shift(a: Run, b: Run, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (block, channel): ``mean_a, mean_b, diff`` (a - b), Welch ``t, p``, BH ``p_adjusted``, ``significant``."""
    from scipy import stats as st

    frames = []
    for block in check_comparable(a, b):
        va, vb = a.gate_values[block].astype(np.float64), b.gate_values[block].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # near-constant channels: handled just below
            t, p = st.ttest_ind(va, vb, axis=0, equal_var=False)
        constant = (va.std(0) <= 1e-12) & (vb.std(0) <= 1e-12)
        p = np.where(constant, np.where(np.abs(va.mean(0) - vb.mean(0)) > 1e-12, 0.0, np.nan), p)
        p_adj = benjamini_hochberg(p)
        frames.append(pd.DataFrame({
            "block": block, "depth": a.gate(block).depth, "channel": np.arange(va.shape[1]),
            "mean_a": va.mean(0), "mean_b": vb.mean(0), "diff": va.mean(0) - vb.mean(0), "t": t, "p": p,
            "p_adjusted": p_adj, "significant": np.nan_to_num(p_adj, nan=1.0) < alpha}))
    return pd.concat(frames, ignore_index=True)


def block_shift(shift: pd.DataFrame) -> pd.DataFrame:
    """Per block: ``mean_abs_diff`` (the shift statistic), ``max_abs_diff``, ``share_significant``, ``channels``."""
    g = shift.assign(abs_diff=shift["diff"].abs()).groupby(["block", "depth"], sort=False)
    out = g.agg(mean_abs_diff=("abs_diff", "mean"), max_abs_diff=("abs_diff", "max"),
                share_significant=("significant", "mean"), channels=("channel", "size")).reset_index()
    return out.sort_values("depth").reset_index(drop=True)


def specificity_pair(a: Run, b: Run, labels: tuple[str, str] = ("A", "B")) -> pd.DataFrame:
    """Both Runs' block stats stacked, with a ``run`` column (``labels``), for one specificity plot."""
    by_a = "label" if a.has_labels else "pred"
    by_b = "label" if b.has_labels else "pred"
    return pd.concat([block_stats(a, by=by_a).assign(run=labels[0]), block_stats(b, by=by_b).assign(run=labels[1])],
                     ignore_index=True)
