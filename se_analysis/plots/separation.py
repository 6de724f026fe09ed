"""Figures of classes separating: PCA small multiples and decodability over depth, one channel per class."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis.analysis.drilldown import rank_text
from se_analysis.plots.palette import OTHER, class_colors
from se_analysis.utils.text import plural

__all__ = ["pca_small_multiples", "decodability_curve", "channel_violin", "MAX_FIGURE_POINTS"]


def _evenly(rows: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` of ``rows``, evenly spaced (all of them when they fit)."""
    return rows if len(rows) <= k else rows[np.linspace(0, len(rows) - 1, k).round().astype(int)]


MAX_FIGURE_POINTS = 60_000  # scatter points in one PCA figure (about 4 MB sent to the browser)


def pca_small_multiples(table: pd.DataFrame, max_cols: int = 5, max_points: int = 5000,
                        colors: Mapping[str, str] | None = None, selection: Sequence[str] = ()) -> go.Figure:
    """One PCA scatter per block (depth order), points coloured by class (from :func:`separation.gate_pca`).

    Colours from :func:`~se_analysis.plots.palette.class_colors` (``colors``, else built from ``selection`` and
    the table's classes): one trace per coloured class, and past 20 classes the classes not chosen as one grey
    trace underneath ("other classes"), its hover naming each point's class. At most ``max_points`` points per
    panel (and at most :data:`MAX_FIGURE_POINTS` in the figure: 16 blocks of SE-ResNet-50 get 3,750 each): the
    coloured classes' first (an evenly spaced subset where they alone exceed it), the grey ones evenly spaced in
    what is left (at least half); the PCA used every image.
    """
    blocks = table.drop_duplicates("block").sort_values("depth")["block"].tolist()
    max_points = min(max_points, MAX_FIGURE_POINTS // max(len(blocks), 1))  # the whole figure stays under ~5 MB
    cols = min(max_cols, len(blocks))
    rows = math.ceil(len(blocks) / cols)
    shares = table.drop_duplicates("block").set_index("block")
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.03, vertical_spacing=0.12,
                        subplot_titles=[f"{b} ({shares.loc[b, 'pc1_share'] * 100:.0f}% + "
                                        f"{shares.loc[b, 'pc2_share'] * 100:.0f}%)" for b in blocks])
    first = table[table["block"] == blocks[0]] if blocks else table
    by_index = first.drop_duplicates("class").sort_values("class_index") if "class_index" in first else \
        first.drop_duplicates("class").sort_values("class")
    colors = colors or class_colors(selection, by_index["class"].tolist())
    shown = [c for c in colors if c in set(by_index["class"]) and colors[c] != OTHER]  # selection's order first
    for i, block in enumerate(blocks):
        sub = table[table["block"] == block]
        names = sub["class"].to_numpy()
        coloured = np.isin(names, shown)
        mine = _evenly(np.flatnonzero(coloured), max_points)
        rest = _evenly(np.flatnonzero(~coloured), max(max_points - len(mine), max_points // 2))
        where = dict(row=i // cols + 1, col=i % cols + 1)
        if len(rest):
            g = sub.iloc[rest]
            fig.add_trace(go.Scattergl(
                x=g["pc1"].to_numpy(np.float32), y=g["pc2"].to_numpy(np.float32), mode="markers",
                name=f"other classes ({len(set(names[~coloured]))})", legendgroup="(other)", showlegend=i == 0,
                marker=dict(size=3, color=OTHER, opacity=0.5), text=g["class"], customdata=g["image_id"],
                hovertemplate=f"%{{text}}<br>%{{customdata}}<extra>{block}</extra>"), **where)
        picked = sub.iloc[mine]
        groups = dict(tuple(picked.groupby("class", sort=False)))
        for name in shown:
            if name not in groups:
                continue
            grp = groups[name]
            fig.add_trace(go.Scattergl(
                x=grp["pc1"].to_numpy(np.float32), y=grp["pc2"].to_numpy(np.float32), mode="markers", name=name,
                legendgroup=name, showlegend=i == 0, marker=dict(size=4, color=colors[name], opacity=0.7),
                customdata=grp["image_id"], hovertemplate=f"{name}<br>%{{customdata}}<extra>{block}</extra>"), **where)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title="Each image's gate vector on its block's first two principal axes (share of variance)",
                      height=min(2000, 260 * rows + 120), legend=dict(itemsizing="constant"))
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
    n_perm = int(t["n_permutations"].iloc[0]) if "n_permutations" in t else None
    fig.add_trace(go.Scatter(x=x, y=t["permuted_p95"], mode="lines", line=dict(color="#888888", dash="dash"),
                             name="labels permuted (95th percentile" + (f" of {n_perm})" if n_perm else ")")))
    fig.add_trace(go.Scatter(x=x, y=t["chance"], mode="lines", line=dict(color="#111111", dash="dot"),
                             name=f"chance (1/{int(t['classes'].iloc[0])})"))
    title = "Can the class be read from the gates? Decodability over depth"
    if n_perm is not None:
        r = t.iloc[0]
        scored = int(r["n_permutation_images"])
        subset = (f"scored on {scored:,} of the {int(r['n_eval']):,} eval images (a fixed random subset; p compares "
                  "the observed classifier on the same images)" if scored < int(r["n_eval"])
                  else "scored on every eval image")
        left = int(r.get("classes_left_out", 0))
        title += (f"<br><sup>{int(r['classes']):,} classes, {int(r['n_reference']):,} reference / {int(r['n_eval']):,} "
                  f"eval images; {n_perm} label permutations, so p ≥ 1/{n_perm + 1}"
                  + (f"; {plural(left, 'class', 'classes')} with one image left out" if left else "")
                  + f"</sup><br><sup>permutations {subset}</sup>")  # two lines: one would run off a half-width figure
    fig.update_layout(title=title, xaxis_title="block", yaxis_title="accuracy", yaxis_range=[0, 1.02],
                      margin=dict(t=130) if n_perm is not None else None)
    return fig


def channel_violin(values: pd.DataFrame, rank: dict | None = None, colors: Mapping[str, str] | None = None,
                   selection: Sequence[str] = ()) -> go.Figure:
    """One channel's gate per class (from :func:`drilldown.channel_values`): a violin with its box, per class.

    Colours as in every figure (``colors``, else :func:`~se_analysis.plots.palette.class_colors` of
    ``selection`` and the classes); past 20 classes, the classes not chosen are pooled into one grey violin
    ("other classes"). ``rank``: :func:`drilldown.channel_rank`, ties named as ties.
    """
    order = values.drop_duplicates("class").sort_values("class_index" if "class_index" in values else "class")
    classes = order["class"].tolist()
    colors = colors or class_colors(selection, classes)
    shown = [c for c in colors if c in set(classes) and colors[c] != OTHER]
    others = [c for c in classes if c not in set(shown)]
    fig = go.Figure()
    groups = dict(tuple(values.groupby("class", sort=False)))
    pooled = values[values["class"].isin(others)] if others else None
    for name in shown + (["(other)"] if others else []):
        v = pooled if name == "(other)" else groups[name]
        label = f"other {len(others)} classes" if name == "(other)" else name
        fig.add_trace(go.Violin(y=v["value"].to_numpy(np.float32), name=label, box_visible=True, meanline_visible=True,
                                points="outliers", line_color=OTHER if name == "(other)" else colors[name],
                                customdata=v["image_id"], spanmode="hard",  # no density beyond the data (0-1)
                                hovertemplate=f"{label}<br>%{{customdata}}: %{{y:.3f}}<extra></extra>"))
    block, channel = values["block"].iloc[0], int(values["channel"].iloc[0])
    title = f"{block}, channel {channel}: its gate per class"
    if rank:
        title += f" (class-specificity η² {rank['specificity']:.3f}, {rank_text(rank)})"
    fig.update_layout(title=title, yaxis_title="gate value", showlegend=False, xaxis_title="class")
    return fig
