"""TODO docstring."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from se_analysis.analysis import stats
from se_analysis.runs.run import Run

__all__ = ["channel_views"]


def channel_views(run: Run, block: str, channel: int, by: str = "label", k: int = 16
                  ) -> tuple[dict[str, go.Figure], dict[str, pd.DataFrame]]:
    """The One channel page's figure and tables for (block, channel)."""
    from se_analysis.analysis.drilldown import channel_rank, channel_values, top_images
    from se_analysis.plots.separation import channel_violin

    values = channel_values(run, block, channel, by)
    rank = channel_rank(stats.channel_stats(run, by=by, blocks=[block]), block, channel)
    name = f"{block}_ch{channel}"
    return ({f"channel_{name}": channel_violin(values, rank)},
            {f"top_images_{name}": top_images(run, block, channel, k), f"channel_values_{name}": values})
