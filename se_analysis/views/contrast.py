"""The two-class contrast view: which channels at a block separate class A from class B (the page, ``contrast``
and ``export --contrast``)."""

from __future__ import annotations

import re

import pandas as pd

from se_analysis.analysis.contrast import contrast
from se_analysis.plots.gates import contrast_figure
from se_analysis.runs.run import Run
from se_analysis.views.view import View

__all__ = ["contrast_view", "contrast_name"]


def contrast_name(block: str, class_a: str, class_b: str) -> str:
    """The file name (without suffix) of a contrast's table and figure: ``contrast_<block>_<A>_vs_<B>``, with
    what a file name cannot hold (spaces, slashes as in ``T-shirt/top``, a folder's ``(n01443537)``) as one
    ``_`` between words and none at a name's end: ``contrast_SE_6_3_church_n03028079_vs_gas_pump_n03425413``."""
    def part(name: str) -> str:
        return re.sub(r"[^\w.-]+", "_", name).strip("_") or "_"
    return f"contrast_{part(block)}_{part(class_a)}_vs_{part(class_b)}"


def contrast_view(run: Run, block: str, class_a: str, class_b: str, by: str = "label", n_boot: int = 1000,
                  top: int = 30, table: pd.DataFrame | None = None, significant_only: bool = False) -> View:
    """Class A against class B at ``block``: table ``contrast`` (one row per channel, see
    :func:`~se_analysis.analysis.contrast.contrast`) and figure ``contrast`` (Cohen's d with its bootstrap
    interval for the ``top`` channels by rank: perfect separations first, then |d|; drawn in the order
    of d, with the model, n per class and the grouping on it). Facts ``name`` (the files' name,
    :func:`contrast_name`), and of the whole block ``channels``, ``significant`` and ``separates`` (counts).

    ``significant_only``: the figure's channels and the table's rows are the significant ones (the
    correction still counts every tested channel of the block). ``table``: this contrast's full table
    when the caller has it already (the app caches the bootstrap, so showing more or fewer channels
    only redraws).

    Raises:
        ValueError: a class with fewer than two images, an unknown class, or the same class twice.
    """
    if table is None:
        table = contrast(run, block, class_a, class_b, by=by, n_boot=n_boot)
    figure = contrast_figure(table, top, significant_only=significant_only, model=run.manifest.get("model"), by=by)
    shown = table[table["significant"]].reset_index(drop=True) if significant_only else table
    facts = {"name": contrast_name(block, class_a, class_b), "channels": len(table),
             "significant": int(table["significant"].sum()), "separates": int(table["separates"].sum())}
    return View({"contrast": figure}, {"contrast": shown}, facts=facts)
