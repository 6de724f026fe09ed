"""Figure builders: a tidy DataFrame in, a plotly Figure out. No I/O, no state.

Every class keeps one colour in every figure (:func:`class_color`); the pooled class ``all``
is drawn in black. Figures built from random weights get :func:`add_warning`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis.analysis.stats import ALL
from se_analysis.plots.palette import class_color, grid

__all__ = ["paper_figure", "depth_box", "specificity_curve", "class_heatmap", "within_class_band", "image_gates_figure", "contrast_figure", "similarity_heatmap"]


def paper_figure(cs: pd.DataFrame, blocks: Sequence[str], classes: Sequence[str], include_all: bool = True,
                 height_per_row: int = 300, autoscale: bool = False) -> go.Figure:
    """The paper's Fig. 6: mean gate value per channel index, one line per class, a panel per block.

    Args:
        cs: :func:`se_analysis.analysis.stats.channel_stats` output.
        blocks: the blocks to show, one panel each, in depth order (whatever order they are given in).
        classes: class names to draw; ``all`` (every image) is added when ``include_all``.
        autoscale: each panel's y axis fits its data (class differences of 0.01 show), instead of 0-1.
    """
    depth = cs.drop_duplicates("block").set_index("block")["depth"]
    blocks = sorted(blocks, key=lambda b: depth.get(b, 0))
    rows, cols = grid(len(blocks))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(blocks), shared_yaxes=not autoscale,
                        horizontal_spacing=0.04, vertical_spacing=min(0.25, 0.5 / rows))
    wanted = list(classes) + ([ALL] if include_all else [])
    for i, block in enumerate(blocks):
        r, c = divmod(i, cols)
        sub = cs[cs["block"] == block]
        for name in wanted:
            line = sub[sub["class"] == name].sort_values("channel")
            if line.empty:
                continue
            idx = int(line["class_index"].iloc[0])
            fig.add_trace(go.Scatter(
                x=line["channel"], y=line["mean"], mode="lines+markers", name=name, legendgroup=name,
                showlegend=i == 0, customdata=[block] * len(line),  # a click says which panel's channel it was
                marker=dict(size=2.5), selected=dict(marker=dict(size=8)), unselected=dict(marker=dict(opacity=1)),
                line=dict(color=class_color(idx), width=1.2 if name != ALL else 1.6, dash="dot" if name == ALL else None),
                hovertemplate=f"{name}<br>channel %{{x}}<br>mean gate %{{y:.3f}}<extra>{block}</extra>",
            ), row=r + 1, col=c + 1)
        fig.update_xaxes(title_text="channel index", row=r + 1, col=c + 1)
    if autoscale:
        fig.update_yaxes(autorange=True)
        fig.update_yaxes(title_text="activation", col=1)
    else:
        fig.update_yaxes(title_text="activation", range=[0, 1.02], col=1)
    fig.update_layout(height=(height_per_row + 40) * rows, title="Mean excitation per channel, by class",
                      legend_title_text="class", margin=dict(t=80))
    return fig


def depth_box(quantiles: pd.DataFrame) -> go.Figure:
    """Distribution of gate values per block over depth: boxes from 5/25/50/75/95% quantiles."""
    q = quantiles.sort_values("depth")
    fig = go.Figure(go.Box(
        x=q["block"], q1=q["q25"], median=q["median"], q3=q["q75"], lowerfence=q["q05"], upperfence=q["q95"],
        mean=q["mean"], name="gate values", marker_color="#1f77b4", boxpoints=False,
    ))
    fig.update_layout(title="Gate values per block (whiskers: 5% and 95%)", xaxis_title="block (forward order)",
                      yaxis_title="gate value", yaxis_range=[0, 1.02])
    return fig


def specificity_curve(bstats: pd.DataFrame) -> go.Figure:
    """Class-specificity and saturation of each block, over depth."""
    s = bstats.sort_values("depth")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s["block"], y=s["specificity"], mode="lines+markers", name="class-specificity (η²)",
                             line=dict(color="#d62728", width=2.5)))
    if "specificity_chance" in s:
        fig.add_trace(go.Scatter(x=s["block"], y=s["specificity_omega2"], mode="lines+markers",
                                 name="bias-corrected (ω²)", line=dict(color="#9467bd", width=1.5)))
        fig.add_trace(go.Scatter(x=s["block"], y=s["specificity_chance"], mode="lines",
                                 name="η² by chance, (K-1)/(N-1)", line=dict(color="#d62728", dash="dot", width=1)))
    fig.add_trace(go.Scatter(x=s["block"], y=s["saturation_high"], mode="lines+markers", name="share of gates > 0.9",
                             line=dict(color="#2ca02c", dash="dash")))
    fig.add_trace(go.Scatter(x=s["block"], y=s["saturation_low"], mode="lines+markers", name="share of gates < 0.1",
                             line=dict(color="#7f7f7f", dash="dot")))
    fig.update_layout(title="Class-specificity and saturation over depth", xaxis_title="block (forward order)",
                      yaxis_title="share", yaxis_range=[0, 1])
    return fig


def class_heatmap(table: pd.DataFrame, centred: bool = False) -> go.Figure:
    """Class x channel heatmap from :func:`stats.heatmap_table` (mean gates, or centred on each channel's mean)."""
    block = table["block"].iloc[0] if len(table) else ""
    z = table.pivot(index="row", columns="column", values="value").sort_index().sort_index(axis=1)
    classes = table.drop_duplicates("row").sort_values("row")["class"].tolist()
    channels = table.drop_duplicates("column").sort_values("column")["channel"].tolist()
    sorted_by_spec = channels != sorted(channels)
    if centred:
        lim = float(np.nanmax(np.abs(z.to_numpy()))) if z.size else 1.0
        scale = dict(zmid=0, zmin=-lim, zmax=lim, colorscale="RdBu_r", colorbar=dict(title="class mean<br>- all mean"))
    else:
        scale = dict(zmin=0, zmax=1, colorscale="Viridis", colorbar=dict(title="mean gate"))
    fig = go.Figure(go.Heatmap(
        z=z.to_numpy(), x=list(range(len(channels))), y=classes, customdata=np.tile(channels, (len(classes), 1)), **scale,
        hoverinfo="skip"))
    # Heatmaps cannot be selected: an invisible marker on every cell carries the hover text and the click.
    cols, rows = np.meshgrid(np.arange(len(channels)), np.arange(len(classes)))
    zz = z.to_numpy()
    fig.add_trace(go.Scattergl(  # WebGL: thousands of cells stay cheap to draw
        x=cols.ravel(), y=[classes[r] for r in rows.ravel()], mode="markers", showlegend=False,
        marker=dict(size=10, opacity=0), selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        customdata=np.asarray(channels)[cols.ravel()], text=[f"{v:.3f}" for v in zz.ravel()],
        hovertemplate="class %{y}<br>channel %{customdata}<br>value %{text}<extra></extra>"))
    what = "minus the all-image mean, " if centred else ""
    fig.update_layout(title=f"Mean gate per class and channel at {block} ({what}"
                            f"{'channels by specificity' if sorted_by_spec else 'channels in index order'})",
                      xaxis_title="channel, most class-specific first" if sorted_by_spec else "channel index",
                      yaxis_title="class", height=max(300, 28 * len(classes) + 150))
    if not sorted_by_spec:
        fig.update_xaxes(tickmode="array", tickvals=list(range(0, len(channels), max(1, len(channels) // 12))),
                         ticktext=[str(channels[i]) for i in range(0, len(channels), max(1, len(channels) // 12))])
    return fig


def within_class_band(cs: pd.DataFrame, block: str, classes: Sequence[str]) -> go.Figure:
    """Within-class mean and ±1 std per channel at one block (the paper's Fig. 7)."""
    fig = go.Figure()
    sub = cs[cs["block"] == block]
    for name in classes:
        line = sub[sub["class"] == name].sort_values("channel")
        if line.empty:
            continue
        color = class_color(int(line["class_index"].iloc[0]))
        x = line["channel"].tolist()
        upper = (line["mean"] + line["std"]).clip(upper=1).tolist()
        lower = (line["mean"] - line["std"]).clip(lower=0).tolist()
        fig.add_trace(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], fill="toself", fillcolor=color, opacity=0.18,
                                 line=dict(width=0), name=f"{name} ±1 std", legendgroup=name, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=line["mean"], mode="lines", name=name, legendgroup=name,
                                 line=dict(color=color, width=1.5)))
    fig.update_layout(title=f"Within-class mean and std of gates at {block}", xaxis_title="channel index",
                      yaxis_title="activation", yaxis_range=[0, 1.02])
    return fig


def image_gates_figure(df: pd.DataFrame, block: str, title: str | None = None) -> go.Figure:
    """One image's gates (bars) against its class mean (line) at one block."""
    sub = df[df["block"] == block].sort_values("channel")
    cls = sub["class"].iloc[0] if len(sub) else ""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=sub["channel"], y=sub["value"], name="this image", marker_color="#1f77b4"))
    fig.add_trace(go.Scatter(x=sub["channel"], y=sub["class_mean"], mode="lines", name=f"mean of class {cls}",
                             line=dict(color="#111111", width=1.5)))
    fig.update_layout(title=title or f"Gates of one image at {block} against its class mean",
                      xaxis_title="channel index", yaxis_title="gate value", yaxis_range=[0, 1.02], bargap=0.1)
    return fig


def contrast_figure(table: pd.DataFrame, top: int = 30) -> go.Figure:
    """The ``top`` channels by |Cohen's d|: difference of mean gates A - B with its bootstrap 95 % interval."""
    t = table.nsmallest(top, "rank").iloc[::-1]
    a, b = t["class_a"].iloc[0], t["class_b"].iloc[0]
    colors = np.where(t["significant"], np.where(t["diff"] > 0, "#d62728", "#1f77b4"), "#bbbbbb")
    fig = go.Figure(go.Bar(
        x=t["diff"], y=[f"ch {c}" for c in t["channel"]], orientation="h", marker_color=colors,
        error_x=dict(type="data", symmetric=False, array=t["ci_high"] - t["diff"], arrayminus=t["diff"] - t["ci_low"]),
        customdata=np.stack([t["cohens_d"], t["p_adjusted"], t["mean_a"], t["mean_b"]], axis=1),
        hovertemplate="%{y}: A-B %{x:.3f}<br>d %{customdata[0]:.2f}, FDR p %{customdata[1]:.2g}"
                      "<br>A %{customdata[2]:.3f}, B %{customdata[3]:.3f}<extra></extra>"))
    n_sig = int(table["significant"].sum())
    fig.update_layout(title=f"{t['block'].iloc[0]}: channels that separate {a} (A) from {b} (B), top {len(t)} by |d| "
                            f"({n_sig} of {len(table)} significant at FDR 5 %, coloured)",
                      xaxis_title="mean gate A - B (bootstrap 95 % interval)", yaxis_title="channel",
                      height=max(400, 18 * len(t) + 160))
    return fig


def similarity_heatmap(table: pd.DataFrame, order: Sequence[str]) -> go.Figure:
    """Class x class similarity of mean gate vectors, in clustering order."""
    z = table.pivot(index="class_a", columns="class_b", values="similarity").reindex(index=order, columns=order)
    metric, block = table["metric"].iloc[0], table["block"].iloc[0]
    off = z.to_numpy()[~np.eye(len(order), dtype=bool)] if len(order) > 1 else np.array([1.0])
    fig = go.Figure(go.Heatmap(z=z.to_numpy(), x=list(order), y=list(order), colorscale="Viridis",
                               zmin=float(np.nanmin(off)), zmax=1.0, colorbar=dict(title=metric),
                               hovertemplate="%{y} · %{x}<br>" + metric + " %{z:.4f}<extra></extra>"))
    fig.update_layout(title=f"Which classes {block} treats alike: {metric} of mean gate vectors (clustered order)",
                      height=max(350, 30 * len(order) + 180), yaxis_autorange="reversed")
    return fig
