"""The Compare-runs view: two Runs with the same gates side by side (the page, ``export --compare`` and ``compare``)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from se_analysis.analysis.two_runs import block_shift, channel_shift, specificity_pair
from se_analysis.plots.two_runs import difference_per_channel, shift_per_block, specificity_both
from se_analysis.runs.run import Run
from se_analysis.views.view import View

__all__ = ["two_runs_view"]


def two_runs_view(run_a: Run, run_b: Run, labels: tuple[str, str] = ("A", "B"), blocks: Sequence[str] | None = None,
                  tables: dict[str, pd.DataFrame] | None = None) -> View:
    """Run A against run B: mean-gate differences per channel, the shift per block, both specificity curves.

    Tables ``channel_shift, block_shift, specificity``; figures ``shift, specificity`` and
    ``difference_<block>`` for each of ``blocks`` (default: the deepest shared block). ``labels`` name
    the runs in the specificity figure. ``tables``: this view's tables when the caller has them already
    (the app caches them and draws another block's differences from them); ``labels`` are then theirs.

    Raises:
        ValueError: the runs share no gate, or one of them is summary-only.
    """
    if tables is None:
        shift = channel_shift(run_a, run_b)
        tables = {"channel_shift": shift, "block_shift": block_shift(shift),
                  "specificity": specificity_pair(run_a, run_b, labels)}
    shift, shifts = tables["channel_shift"], tables["block_shift"]
    names = list(blocks) if blocks is not None else [shifts["block"].iloc[-1]]
    figures = {"shift": shift_per_block(shifts), "specificity": specificity_both(tables["specificity"]),
               **{f"difference_{block}": difference_per_channel(shift, block) for block in names}}
    return View(figures, dict(tables))
