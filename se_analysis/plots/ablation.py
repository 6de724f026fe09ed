"""Figures of ablations: before and after on the same axes. Tidy tables in, plotly figures out."""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis.plots.palette import OTHER, class_colors

__all__ = ["per_class_accuracy", "gate_overlay", "downstream_shift", "sweep_bars", "cumulative_curve"]


def per_class_accuracy(per_class: pd.DataFrame) -> go.Figure:
    """Accuracy per class before (light) and after (dark) one ablation, side by side."""
    pc = per_class.sort_values("class_index")
    fig = go.Figure()
    fig.add_trace(go.Bar(x=pc["class"], y=pc["acc_before"], name="before", marker_color="#9ecae1"))
    fig.add_trace(go.Bar(x=pc["class"], y=pc["acc_after"], name="after", marker_color="#08519c"))
    fig.update_layout(barmode="group", title="Accuracy per class, before and after", yaxis_title="top-1 accuracy",
                      yaxis_range=[0, 1.02])
    return fig


def gate_overlay(cs: pd.DataFrame, replaced: pd.DataFrame, block: str, classes: Sequence[str],
                 colors: Mapping[str, str] | None = None) -> go.Figure:
    """Mean gate per channel at ``block``: original (solid) and the values put in its place (dashed).

    Args:
        cs: channel statistics of the un-ablated run (``stats.channel_stats``).
        replaced: the same columns for the replacement values (``block, channel, class, class_index, mean``).
        colors: each class's colour (:func:`~se_analysis.plots.palette.class_colors`; default: by position in
            ``classes``).
    """
    colors = colors or class_colors(classes)
    fig = go.Figure()
    for name in classes:
        for table, dash, suffix in ((cs, None, "original"), (replaced, "dash", "replaced")):
            line = table[(table["block"] == block) & (table["class"] == name)].sort_values("channel")
            if line.empty:
                continue
            fig.add_trace(go.Scatter(x=line["channel"], y=line["mean"], mode="lines", name=f"{name} ({suffix})",
                                     legendgroup=name, line=dict(color=colors.get(name, OTHER),
                                                                 dash=dash, width=1.4)))
    fig.update_layout(title=f"Gates at {block}: original (solid) and replacement (dashed)",
                      xaxis_title="channel index", yaxis_title="activation", yaxis_range=[0, 1.02])
    return fig


def downstream_shift(downstream: pd.DataFrame) -> go.Figure:
    """Mean |change| of every block's gates under the ablation; the ablated blocks are marked."""
    d = downstream.sort_values("depth")
    colors = d["role"].map({"ablated": "#d62728", "downstream": "#1f77b4", "upstream": "#c7c7c7"})
    fig = go.Figure(go.Bar(x=d["block"], y=d["mean_abs_change"], marker_color=colors.tolist(),
                           customdata=d["role"], hovertemplate="%{x}: %{y:.4f} (%{customdata})<extra></extra>"))
    fig.update_layout(title="How much each block's gates move (red: replaced; blue: downstream)",
                      xaxis_title="block", yaxis_title="mean |gate change|")
    return fig


def sweep_bars(overall: pd.DataFrame, block_stats: pd.DataFrame | None = None) -> go.Figure:
    """One-at-a-time sweep: accuracy drop and NLL rise per block, with the block's class-specificity."""
    s = overall.sort_values("depth")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    labelled = "top1_change" in s and s["top1_change"].notna().any()
    if labelled:
        err = None
        if "top1_change_low" in s:  # the drop's bootstrap 95 % interval over images
            err = dict(type="data", symmetric=False, array=(s["top1_change"] - s["top1_change_low"]) * 100,
                       arrayminus=(s["top1_change_high"] - s["top1_change"]) * 100, thickness=1.2, width=3)
        fig.add_trace(go.Bar(x=s["blocks"], y=-s["top1_change"] * 100, name="accuracy drop (points, 95 % CI)",
                             marker_color="#d62728", error_y=err), secondary_y=False)
        fig.add_trace(go.Bar(x=s["blocks"], y=s["nll_change"], name="NLL rise", marker_color="#ff9896"),
                      secondary_y=False)
    else:  # unlabelled images: what moved, not what it costs
        fig.add_trace(go.Bar(x=s["blocks"], y=s["flipped_share"] * 100, name="predictions flipped (%)",
                             marker_color="#d62728"), secondary_y=False)
        fig.add_trace(go.Bar(x=s["blocks"], y=s["kl_before_after"], name="KL(before ‖ after)", marker_color="#ff9896"),
                      secondary_y=False)
    if block_stats is not None:
        b = block_stats.sort_values("depth")
        fig.add_trace(go.Scatter(x=b["block"], y=b["specificity"], mode="lines+markers", name="class-specificity (η²)",
                                 line=dict(color="#111111")), secondary_y=True)
    fig.update_yaxes(title_text="accuracy drop (points) / NLL rise" if labelled else "flipped (%) / KL",
                     secondary_y=False)
    fig.update_yaxes(title_text="class-specificity", range=[0, 1], tickvals=[0, 0.25, 0.5, 0.75, 1],
                     showgrid=False, secondary_y=True)  # round ticks, not the left axis's grid lines
    mode = s["ablation"].iloc[0].split(" @ ")[0] if len(s) else ""
    fig.update_layout(title=f"One block at a time ({mode}): cost of losing input-dependence", barmode="group",
                      xaxis_title="ablated block")
    return fig


def cumulative_curve(summaries: Sequence[pd.DataFrame]) -> go.Figure:
    """Accuracy against the number of ablated blocks, for cumulative sweeps from the end and the start,
    each with its bootstrap 95 % band over images."""
    fig = go.Figure()
    labelled = bool(summaries) and "top1_after" in summaries[0] and summaries[0]["top1_after"].notna().any()
    column = "top1_after" if labelled else "flipped_share"
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for i, s in enumerate(summaries):
        s = s.sort_values("k")
        color = colors[i % len(colors)]
        if f"{column}_low" in s:  # bootstrap 95 % band over images: one image more or less is not a cliff
            fig.add_trace(go.Scatter(x=list(s["k"]) + list(s["k"])[::-1],
                                     y=list(s[f"{column}_high"]) + list(s[f"{column}_low"])[::-1], fill="toself",
                                     fillcolor=color, opacity=0.18, line=dict(width=0), hoverinfo="skip",
                                     name=f"{s['sweep'].iloc[0]} 95 % CI", showlegend=False))
        fig.add_trace(go.Scatter(x=s["k"], y=s[column], mode="lines+markers", name=s["sweep"].iloc[0],
                                 line=dict(color=color), customdata=s["blocks"],
                                 hovertemplate="k=%{x}: %{y:.3f}<br>%{customdata}<extra></extra>"))
    if summaries and labelled:
        base = summaries[0]["top1_before"].iloc[0]
        fig.add_hline(y=base, line_dash="dot", annotation_text=f"un-ablated {base:.3f}")
    fig.update_layout(title="Accuracy as more blocks lose their input-dependence" if labelled else
                      "Predictions flipped as more blocks lose their input-dependence (no labels)",
                      xaxis_title="blocks ablated (k)", yaxis_title="top-1 accuracy" if labelled else "share flipped")
    return fig


def fold_pareto(table: pd.DataFrame) -> go.Figure:
    """Accuracy against parameters and against CPU latency, one point per set of folded blocks."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=("top-1 vs parameters", "top-1 vs CPU latency"))
    text = [f"{k} folded: {b}" if b else "nothing folded" for k, b in zip(table["k"], table["blocks"].fillna(""))]
    for col, x in ((1, table["parameters"] / 1e6), (2, table["latency_ms"])):
        fig.add_trace(go.Scatter(x=x, y=table["top1"] * 100, mode="lines+markers+text", text=table["k"],
                                 textposition="top center", hovertext=text, hoverinfo="text+x+y",
                                 line=dict(color="#1f77b4"), showlegend=False), row=1, col=col)
    fig.update_xaxes(title_text="parameters (millions)", row=1, col=1)
    fig.update_xaxes(title_text="latency (ms per image, CPU)", row=1, col=2)
    fig.update_yaxes(title_text="top-1 (%)", row=1, col=1)
    fig.update_layout(title="Folding SE blocks greedily: what each set costs and saves (numbers: blocks folded)")
    return fig
