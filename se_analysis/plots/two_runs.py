"""Figures of two Runs side by side: specificity of both, the shift per block, the difference per channel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["specificity_both", "shift_per_block", "difference_per_channel"]


def specificity_both(pair: pd.DataFrame) -> go.Figure:
    """Both Runs' class-specificity (η², solid) and its chance level (dotted) over depth (from ``specificity_pair``)."""
    fig = go.Figure()
    for (run, grp), color in zip(pair.groupby("run", sort=False), ("#d62728", "#1f77b4")):
        g = grp.sort_values("depth")
        fig.add_trace(go.Scatter(x=g["block"], y=g["specificity"], mode="lines+markers", name=f"{run}: η²",
                                 line=dict(color=color, width=2.5)))
        fig.add_trace(go.Scatter(x=g["block"], y=g["specificity_chance"], mode="lines", name=f"{run}: chance",
                                 line=dict(color=color, dash="dot", width=1)))
    fig.update_layout(title="Class-specificity over depth, both runs", xaxis_title="block", yaxis_title="η²",
                      yaxis_range=[0, 1])
    return fig


def shift_per_block(shift: pd.DataFrame) -> go.Figure:
    """Mean |difference of mean gates| per block (bars) and the share of channels that differ at FDR 5 % (line)."""
    s = shift.sort_values("depth")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=s["block"], y=s["mean_abs_diff"], name="mean |A - B| of mean gates",
                         marker_color="#9467bd", customdata=s["max_abs_diff"],
                         hovertemplate="%{x}: %{y:.4f} (largest %{customdata:.3f})<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=s["block"], y=s["share_significant"], mode="lines+markers", line=dict(color="#111111"),
                             name="share of channels differing (Welch, BH 5 %)"), secondary_y=True)
    fig.update_yaxes(title_text="mean |difference|", secondary_y=False)
    fig.update_yaxes(title_text="share of channels", range=[0, 1], tickvals=[0, 0.25, 0.5, 0.75, 1], showgrid=False,
                     secondary_y=True)
    fig.update_layout(title="How far the gates moved between the runs, per block", xaxis_title="block")
    return fig


def difference_per_channel(shift: pd.DataFrame, block: str) -> go.Figure:
    """A - B of the mean gate per channel at one block; significant channels coloured."""
    s = shift[shift["block"] == block].sort_values("channel")
    colors = np.where(s["significant"], np.where(s["diff"] > 0, "#d62728", "#1f77b4"), "#bbbbbb")
    fig = go.Figure(go.Bar(x=s["channel"], y=s["diff"], marker_color=colors, marker_line_width=0,
                           customdata=np.stack([s["mean_a"], s["mean_b"], s["p_adjusted"]], axis=1),
                           hovertemplate="channel %{x}: %{y:+.4f}<br>A %{customdata[0]:.3f}, B %{customdata[1]:.3f}"
                                         "<br>adjusted p %{customdata[2]:.2g}<extra></extra>"))
    fig.update_layout(title=f"{block}: mean gate of A minus B per channel (coloured: differ at FDR 5 %)",
                      xaxis_title="channel index", yaxis_title="A - B", bargap=0)
    return fig
