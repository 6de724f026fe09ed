"""Figures of classes separating: PCA small multiples and decodability over depth, one channel per class."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis.plots.palette import class_color

__all__ = ["pca_small_multiples", "decodability_curve", "channel_violin"]


def pca_small_multiples(table: pd.DataFrame, max_cols: int = 5, max_points: int = 5000) -> go.Figure:
    """One PCA scatter per block (depth order), points coloured by class (from :func:`separation.gate_pca`).

    Beyond ``max_points`` images per panel, an evenly spaced subset is drawn (the PCA used them all).
    """
    blocks = table.drop_duplicates("block").sort_values("depth")["block"].tolist()
    cols = min(max_cols, len(blocks))
    rows = math.ceil(len(blocks) / cols)
    shares = table.drop_duplicates("block").set_index("block")
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.03, vertical_spacing=0.12,
                        subplot_titles=[f"{b} ({shares.loc[b, 'pc1_share'] * 100:.0f}% + "
                                        f"{shares.loc[b, 'pc2_share'] * 100:.0f}%)" for b in blocks])
    classes = table.drop_duplicates("class")["class"].tolist()
    index = {c: i for i, c in enumerate(sorted(classes))}
    for i, block in enumerate(blocks):
        sub = table[table["block"] == block]
        step = max(1, math.ceil(len(sub) / max_points))
        sub = sub.iloc[::step]
        for name, grp in sub.groupby("class", sort=True):
            fig.add_trace(go.Scattergl(
                x=grp["pc1"], y=grp["pc2"], mode="markers", name=name, legendgroup=name, showlegend=i == 0,
                marker=dict(size=4, color=class_color(index[name]), opacity=0.7), customdata=grp["image_id"],
                hovertemplate=f"{name}<br>%{{customdata}}<extra>{block}</extra>"), row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title="Each image's gate vector on its block's first two principal axes (share of variance)",
                      height=260 * rows + 120, legend=dict(itemsizing="constant"))
    return fig


def decodability_curve(table: pd.DataFrame) -> go.Figure:
    """Nearest-class-mean accuracy per block with its bootstrap 95 % band, chance and the permutation baseline."""
    t = table.sort_values("depth")
    x = t["block"].tolist()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x + x[::-1], y=list(t["ci_high"]) + list(t["ci_low"])[::-1], fill="toself",
                             fillcolor="rgba(31,119,180,0.18)", line=dict(width=0), hoverinfo="skip",
                             name="95 % bootstrap interval"))
    fig.add_trace(go.Scatter(x=x, y=t["accuracy"], mode="lines+markers", name="nearest class mean (eval half)",
                             line=dict(color="#1f77b4"), customdata=t[["ci_low", "ci_high", "p_permutation"]],
                             hovertemplate="%{x}: %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                                           "<br>permutation p = %{customdata[2]:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=t["permuted_p95"], mode="lines", line=dict(color="#888888", dash="dash"),
                             name="labels permuted (95th percentile)"))
    fig.add_trace(go.Scatter(x=x, y=t["chance"], mode="lines", line=dict(color="#111111", dash="dot"),
                             name=f"chance (1/{int(t['classes'].iloc[0])})"))
    fig.update_layout(title="Can the class be read from the gates? Decodability over depth",
                      xaxis_title="block", yaxis_title="accuracy", yaxis_range=[0, 1.02])
    return fig


def channel_violin(values: pd.DataFrame, rank: dict | None = None) -> go.Figure:
    """One channel's gate per class (from :func:`drilldown.channel_values`): a violin with its box, per class."""
    classes = sorted(values["class"].unique().tolist())
    fig = go.Figure()
    for name in classes:
        v = values[values["class"] == name]
        index = int(v["class_index"].iloc[0]) if "class_index" in v else classes.index(name)
        fig.add_trace(go.Violin(y=v["value"], name=name, box_visible=True, meanline_visible=True, points="outliers",
                                line_color=class_color(index),  # the class's colour in every figure
                                customdata=v["image_id"], spanmode="hard",  # no density beyond the data (0-1)
                                hovertemplate=f"{name}<br>%{{customdata}}: %{{y:.3f}}<extra></extra>"))
    block, channel = values["block"].iloc[0], int(values["channel"].iloc[0])
    title = f"{block}, channel {channel}: its gate per class"
    if rank:
        title += f" (class-specificity η² {rank['specificity']:.3f}, rank {rank['rank']} of {rank['channels']})"
    fig.update_layout(title=title, yaxis_title="gate value", showlegend=False, xaxis_title="class")
    return fig
