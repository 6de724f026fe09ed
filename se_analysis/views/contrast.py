"""The two-class contrast view: which channels at a block separate class A from class B (the page and ``contrast``)."""

from __future__ import annotations

import pandas as pd

from se_analysis.analysis.contrast import contrast
from se_analysis.plots.gates import contrast_figure
from se_analysis.runs.run import Run
from se_analysis.views.view import View

__all__ = ["contrast_view"]


def contrast_view(run: Run, block: str, class_a: str, class_b: str, by: str = "label", n_boot: int = 1000,
                  top: int = 30, table: pd.DataFrame | None = None) -> View:
    """Class A against class B at ``block``: table ``contrast`` (one row per channel, see
    :func:`~se_analysis.analysis.contrast.contrast`) and figure ``contrast`` (its ``top`` channels by |d|).

    ``table``: this contrast's table when the caller has it already (the app caches the bootstrap, so
    showing more or fewer channels only redraws).

    Raises:
        ValueError: a class with fewer than two images, an unknown class, or the same class twice.
    """
    if table is None:
        table = contrast(run, block, class_a, class_b, by=by, n_boot=n_boot)
    return View({"contrast": contrast_figure(table, top)}, {"contrast": table})
