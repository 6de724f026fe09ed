"""Two Runs side by side: how the gates of the same model on two image sets, trained against random
weights, or two checkpoints differ, block by block and channel by channel.

Any two Runs whose gates have the same names and channel counts compare. Per channel: the mean
gate of each Run, their difference, Welch's t-test (the images of the two Runs as independent
samples) and Benjamini-Hochberg correction over the block's tested channels (the contrast's
:func:`~se_analysis.utils.numeric.welch_bh`: a channel constant and equal in both Runs is not tested
and does not count in the correction). Per block: the mean
|difference of mean gates| (the shift statistic), its largest value, and the share of channels
that differ at a 5 % false-discovery rate; and both Runs' class-specificity.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import block_stats
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import welch_bh
from se_analysis.utils.text import plural

__all__ = ["check_comparable", "gate_differences", "class_difference", "run_differences", "channel_shift",
           "block_shift", "specificity_pair"]


def gate_differences(a: Mapping[str, int], b: Mapping[str, int]) -> list[str]:
    """What differs between two Runs' gates, given as ``{name: channels}`` in forward order: a line for the
    names only A has, one for those only B has, one for the names both have with other channel counts.
    Empty when the gates are the same (such Runs compare on every block)."""
    only_a, only_b = [n for n in a if n not in b], [n for n in b if n not in a]
    counts = [f"{n} {a[n]} against {b[n]}" for n in a if n in b and a[n] != b[n]]
    lines = [f"only A has {_first(only_a)}" if only_a else "", f"only B has {_first(only_b)}" if only_b else "",
             f"other channel counts (A against B): {_first(counts)}" if counts else ""]
    return [line for line in lines if line]


def _first(items: Sequence[str], k: int = 5) -> str:
    """The first ``k`` items, and how many more (two models' 26 and 9 gates should not fill the page)."""
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


def class_difference(a: Sequence[str], b: Sequence[str]) -> str | None:
    """How two Runs' class names differ (their models' classes), or None when they are the same."""
    if list(a) == list(b):
        return None
    if len(a) != len(b):
        return f"A's model has {plural(len(a), 'class', 'classes')}, B's {len(b)}"
    other = [f"{x} against {y}" for x, y in zip(a, b) if x != y]
    return f"{plural(len(other), 'class', 'classes')} named otherwise (A against B): {', '.join(other[:5])}" + (
        f" and {len(other) - 5} more" if len(other) > 5 else "")


def run_differences(a: Run, b: Run) -> list[str]:
    """Everything that tells two Runs' models apart: :func:`gate_differences` and :func:`class_difference`."""
    gates = gate_differences({g.name: g.channels for g in a.gates}, {g.name: g.channels for g in b.gates})
    classes = class_difference(a.class_names, b.class_names)
    return gates + ([classes] if classes else [])


def check_comparable(a: Run, b: Run) -> list[str]:
    """The gate names both Runs share with the same channel count, or a ValueError saying why they do not
    compare: summary-only, or no such gate (the message names what differs, :func:`run_differences`)."""
    if not a.has_gate_arrays or not b.has_gate_arrays:
        raise ValueError("both runs need per-image gates (a summary-only run cannot be compared channel by channel)")
    ca, cb = {g.name: g.channels for g in a.gates}, {g.name: g.channels for g in b.gates}
    shared = [n for n in a.gate_names if n in cb and ca[n] == cb[n]]
    if not shared:
        raise ValueError("the runs share no gate with the same channel count: " + "; ".join(run_differences(a, b)))
    return shared


def channel_shift(a: Run, b: Run, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (block, channel): ``mean_a, mean_b, diff`` (a - b), Welch ``t, p``, BH ``p_adjusted``,
    ``significant``.

    The test is :func:`~se_analysis.utils.numeric.welch_bh`, per block: a channel constant and equal in
    both Runs is not tested (t, p, p_adjusted NaN; not significant) and is left out of that block's
    correction; constant in both with different values, it gets the exact Mann-Whitney p of a complete
    separation, 2 / C(n_A + n_B, n_A).
    """
    frames = []
    for block in check_comparable(a, b):
        va, vb = a.gate_values[block].astype(np.float64), b.gate_values[block].astype(np.float64)
        test = welch_bh(va, vb, alpha)
        frames.append(pd.DataFrame({
            "block": block, "depth": a.gate(block).depth, "channel": np.arange(va.shape[1]),
            "mean_a": va.mean(0), "mean_b": vb.mean(0), "diff": va.mean(0) - vb.mean(0), "t": test.t, "p": test.p,
            "p_adjusted": test.p_adjusted, "significant": test.significant}))
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
