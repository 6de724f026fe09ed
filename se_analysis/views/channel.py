"""The One-channel view: the images that open and close one gate, its values per class, its specificity rank
(the page, ``export --channel`` and ``top-images``)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from se_analysis.analysis import stats
from se_analysis.analysis.drilldown import channel_rank, channel_values, contact_sheet, top_images
from se_analysis.plots.separation import channel_violin
from se_analysis.runs.run import Run
from se_analysis.views.view import View

__all__ = ["channel_view"]


def channel_view(run: Run, block: str, channel: int, by: str = "label", k: int = 16,
                 cs: pd.DataFrame | None = None, selection: Sequence[str] = ()) -> View:
    """One channel of one block, up close.

    Tables ``top_images`` (the ``k`` images at each end) and ``channel_values`` (every image's gate
    with its class); figure ``channel`` (the values per class); picture ``contact_sheet`` (the top and
    bottom images); facts ``rank`` (:func:`~se_analysis.analysis.drilldown.channel_rank`).
    ``cs``: the run's channel statistics for ``by`` when the caller has them (the app caches them);
    else they are computed for this block only. ``selection``: the chosen classes, which the figure colours
    as every figure does (:func:`~se_analysis.plots.palette.class_colors`).

    Raises:
        ValueError: an unknown block or channel, or a run without per-image gates.
    """
    values = channel_values(run, block, channel, by)
    rank = channel_rank(cs if cs is not None else stats.channel_stats(run, by=by, blocks=[block]), block, channel)
    table = top_images(run, block, channel, k)
    return View({"channel": channel_violin(values, rank, selection=selection)}, {"top_images": table, "channel_values": values},
                {"contact_sheet": contact_sheet(table)}, {"rank": rank})
