"""Play through depth: one figure whose frames are the blocks, forward order, with play/pause and a slider.

A frame shows one block as its panel of the paper's Fig. 6 (:func:`~se_analysis.plots.gates.paper_figure`:
the mean gate per channel, a line per class) or, with ``spread``, of Fig. 7
(:func:`~se_analysis.plots.gates.within_class_band`: each class's mean ± 1 std). Built from a
:func:`~se_analysis.analysis.stats.channel_stats` table; no state, no Streamlit.

The slider and the buttons sit inside the figure's own area (under the plot, whose y domain leaves
them room), so they stay visible whatever margins the figure is later given
(:func:`~se_analysis.plots.screen.fit_to_screen` sets its own).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from se_analysis.analysis.stats import ALL, present_classes
from se_analysis.plots.palette import class_colors

__all__ = ["depth_animation"]

_PLOT_BOTTOM = 0.3  # of the figure's plot area: below it the x axis's ticks and title, then the slider


def _class_lines(sub: pd.DataFrame, wanted: Sequence[str], colors: dict[str, str], spread: bool,
                 block: str) -> list[go.Scatter]:
    """A block's traces: per class its line (and, with ``spread``, its ±1 std band first), the same number
    of traces for every block (a class without images there gets an empty line), as animation frames need."""
    out = []
    for name in wanted:
        line = sub[sub["class"] == name].sort_values("channel")
        x = line["channel"].tolist()
        if spread:
            upper = (line["mean"] + line["std"]).clip(upper=1).tolist()
            lower = (line["mean"] - line["std"]).clip(lower=0).tolist()
            out.append(go.Scatter(x=x + x[::-1], y=upper + lower[::-1], mode="lines", fill="toself",
                                  fillcolor=colors[name], opacity=0.18, line=dict(width=0), name=f"{name} ±1 std",
                                  legendgroup=name, showlegend=False, hoverinfo="skip"))
        out.append(go.Scatter(
            x=x, y=line["mean"].tolist(), mode="lines" if spread else "lines+markers", name=name, legendgroup=name,
            customdata=[block] * len(x), marker=dict(size=2.5),
            line=dict(color=colors[name], width=1.6 if name == ALL else 1.2, dash="dot" if name == ALL else None),
            hovertemplate=f"{name}<br>channel %{{x}}<br>mean gate %{{y:.3f}}<extra>{block}</extra>"))
    return out


def depth_animation(cs: pd.DataFrame, blocks: Sequence[str], classes: Sequence[str], include_all: bool = True,
                    spread: bool = False, frame_ms: int = 900, height: int = 560,
                    colors: Mapping[str, str] | None = None) -> go.Figure:
    """The mean gate per channel of each class, one animation frame per block in depth order.

    Args:
        cs: :func:`se_analysis.analysis.stats.channel_stats` output.
        blocks: the blocks, one frame each, played in depth order (whatever order they are given in).
        colors: each class's colour (default: :func:`~se_analysis.plots.palette.class_colors` of ``classes``,
            the same rule as every other figure).
        classes: class names to draw; ``all`` (every image) is added when ``include_all``.
        spread: each class's ±1 std band too (the paper's Fig. 7), instead of markers on the lines.
        frame_ms: how long each block stays on screen while playing.

    Returns:
        A figure showing the first block, with ``frames`` named by block (the x axis of each fits its
        channels; the y axis stays 0-1 so that depths compare), a play/pause button and a slider.
        A trace's ``customdata`` is its block (a click says which channel of which block).
    """
    depth = cs.drop_duplicates("block").set_index("block")["depth"]
    blocks = sorted(blocks, key=lambda b: depth.get(b, 0))
    if not blocks:
        raise ValueError("no block to play through")
    wanted = list(classes) + ([ALL] if include_all else [])
    colors = dict(colors or class_colors(classes, present_classes(cs)))  # as in every other figure
    channels = cs.groupby("block")["channel"].max()
    frames = [go.Frame(name=block, data=_class_lines(cs[cs["block"] == block], wanted, colors, spread, block),
                       layout=go.Layout(xaxis=dict(range=[-0.5, float(channels.get(block, 0)) + 0.5])))
              for block in blocks]
    play = dict(frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0), fromcurrent=True,
                mode="immediate")
    still = dict(frame=dict(duration=0, redraw=True), transition=dict(duration=0), mode="immediate")
    what = "mean ± 1 std" if spread else "mean"
    fig = go.Figure(data=frames[0].data, frames=frames)
    fig.update_layout(
        title=f"Gates through depth: {what} per channel, by class, one block at a time",
        height=height, legend_title_text="class", margin=dict(t=70, b=30),
        xaxis=dict(title="channel index", range=frames[0].layout.xaxis.range),
        yaxis=dict(title="activation", range=[0, 1.02], domain=[_PLOT_BOTTOM, 1]),
        updatemenus=[dict(type="buttons", direction="left", x=0, xanchor="left", y=0, yanchor="bottom",
                          pad=dict(r=10, t=0), showactive=False, buttons=[
                              dict(label="▶ Play", method="animate", args=[None, play]),
                              dict(label="❚❚ Pause", method="animate", args=[[None], still])])],
        sliders=[dict(active=0, x=0.22, len=0.78, y=0, yanchor="bottom", pad=dict(t=0, b=0, l=40),
                      currentvalue=dict(prefix="block ", visible=True, xanchor="left"),
                      steps=[dict(label=b, method="animate", args=[[b], still]) for b in blocks])],
    )
    return fig
