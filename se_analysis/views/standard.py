"""The standard views of one Run: the figures and tables the app shows for it, and an ablation's figures
(the report, ``export`` and the app's report button build them here)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.class_choice import run_starting_classes, top_classes
from se_analysis.analysis.quantiles import block_quantiles
from se_analysis.analysis.separation import stored_decodability, stored_gate_pca
from se_analysis.analysis.similarity import class_similarity
from se_analysis.gates.blocks import paper_blocks
from se_analysis.plots import ablation as plots_ablation
from se_analysis.plots.palette import MAX_COLOURED, class_colors
from se_analysis.plots.separation import decodability_curve, pca_small_multiples
from se_analysis.runs.run import Run

__all__ = ["ablation_figures", "standard_figures", "standard_tables"]


def standard_figures(run: Run, classes: Sequence[str] | None = None, blocks: Sequence[str] | None = None,
                     by: str = "label", tables: dict[str, pd.DataFrame] | None = None) -> dict[str, go.Figure]:
    """The figures the app shows for a run, with the app's defaults where no choice is given.

    ``tables``: :func:`standard_tables` of the same run and grouping, when the caller has them
    already (they are computed here otherwise, once).
    """
    tables = tables if tables is not None else standard_tables(run, by=by)
    cs, bstats = tables["channel_stats"], tables["block_stats"]
    present = stats.present_classes(cs)
    chosen = list(classes) if classes else run_starting_classes(run, cs)
    colors = class_colors(chosen, present)  # one colour per class in every figure
    chosen_blocks = list(blocks) if blocks else paper_blocks(run.gates)
    last = run.gate_names[-1]
    figs = {
        "paper_figure": plots.paper_figure(cs, chosen_blocks, chosen, colors=colors),
        "specificity": plots.specificity_curve(bstats),
        "depth_box": plots.depth_box(tables["block_quantiles"]),
        "within_class": plots.within_class_band(cs, last, chosen[:2], colors=colors),
    }
    # Up to 20 classes, every class has a row; past that, the chosen ones (the heatmap) or the chosen ones and
    # then the most frequent (class similarity, at most plots.MAX_ROWS).
    rows = present if len(present) <= MAX_COLOURED else chosen
    for block in chosen_blocks:
        figs[f"class_heatmap_{block}"] = plots.class_heatmap(stats.heatmap_table(cs, block, rows), colors=colors)
    compared = present if len(present) <= MAX_COLOURED else top_classes(cs, plots.MAX_ROWS, chosen)
    sim, order = class_similarity(cs, last, classes=compared)
    figs[f"class_similarity_{last}"] = plots.similarity_heatmap(sim, order, colors=colors, total=len(present))
    if run.has_gate_arrays:
        if "decodability" in tables:  # absent with fewer than two classes: nothing to decode
            figs["decodability"] = decodability_curve(tables["decodability"])
        figs["pca_over_depth"] = pca_small_multiples(stored_gate_pca(run, by=by), colors=colors)
    if not run.manifest.get("pretrained", True):
        for fig in figs.values():
            plots.add_warning(fig, "random weights: not a trained network")
    return figs


def standard_tables(run: Run, by: str = "label") -> dict[str, pd.DataFrame]:
    """The tidy tables behind the standard figures, plus the images table."""
    tables = {"images": run.images, "channel_stats": stats.channel_stats(run, by=by),
              "block_stats": stats.block_stats(run, by=by), "block_quantiles": block_quantiles(run),
              "skipped": run.skipped}
    if run.has_gate_arrays:
        try:
            tables["decodability"] = stored_decodability(run, by=by)
        except ValueError:
            pass
    return tables


def ablation_figures(tables: dict[str, pd.DataFrame]) -> dict[str, go.Figure]:
    """Figures of one ablation's tables (``AblationResult.tables()``); per-class accuracy only when there is one
    (images without labels have none: their ablation is measured by flips, confidence and KL)."""
    figs = {"ablation_per_class": plots_ablation.per_class_accuracy(tables["per_class"])} \
        if len(tables["per_class"]) else {}
    return {**figs, "ablation_downstream": plots_ablation.downstream_shift(tables["downstream"])}
