"""TODO docstring."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from se_analysis.runs.run import Run

__all__ = ["compare_views"]


def compare_views(run: Run, other: Run) -> tuple[dict[str, go.Figure], dict[str, pd.DataFrame]]:
    """The Compare page's figures and tables, this run as A and ``other`` as B."""
    from se_analysis.analysis.two_runs import (
        block_shift,
        channel_shift,
        specificity_pair,
    )
    from se_analysis.plots.two_runs import (
        difference_per_channel,
        shift_per_block,
        specificity_both,
    )

    shift = channel_shift(run, other)
    blocks = block_shift(shift)
    pair = specificity_pair(run, other)
    deepest = blocks["block"].iloc[-1]
    return ({"compare_shift": shift_per_block(blocks), "compare_specificity": specificity_both(pair),
             f"compare_difference_{deepest}": difference_per_channel(shift, deepest)},
            {"compare_channel_shift": shift, "compare_block_shift": blocks, "compare_specificity": pair})
