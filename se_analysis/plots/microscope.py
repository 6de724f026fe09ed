"""Figures of the gate microscope: where in an image a gate opens (an explanation's map over the image)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis.microscope.explain import Explanation, overlay_map

__all__ = ["explain_figure", "explain_subtitle"]


def explain_subtitle(explanation: Explanation, model: str | None = None) -> str:
    """The facts under the title: the pre-activations, the map's sum, the gate, the reference and the model."""
    e = explanation
    if e.channel is not None:
        facts = (f"g(z) = {e.preactivation:.4g}, g(z0) = {e.reference_preactivation:.4g}, sum of the map = "
                 f"{e.sum_contributions:.4g} (= g(z) − g(z0)); gate {e.gate:.3f}")
    else:
        facts = (f"map = Σ_c |map of channel c|, sum {e.sum_contributions:.4g}; total change "
                 f"Σ_c |g_c(z) − g_c(z0)| = {e.preactivation:.4g}")
    return " · ".join(p for p in (facts, e.reference, f"model {model}" if model else None) if p)


def explain_figure(image: np.ndarray, explanation: Explanation, model: str | None = None,
                   opacity: float = 0.6) -> go.Figure:
    """The image, and the explanation's map drawn over it (bilinear, at the image's size).

    Args:
        image: (H, W, 3) uint8 RGB, the image as the network sees it (after its crop and resize).
        explanation: from :func:`~se_analysis.microscope.explain`.
        model: named under the title when given.
        opacity: of the map over the image.

    A channel's map is signed (red: the location opens the gate relative to the reference, blue:
    closes it; centred on 0); a whole block's map, ``Σ_c |map_c|``, is non-negative. The title's
    second line states the pre-activations, the map's sum and the reference.
    """
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    e = explanation
    heat = overlay_map(e.contributions, (h, w))
    what = f"{e.block} channel {e.channel}" if e.channel is not None else f"every gate of {e.block}"
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04,
                        subplot_titles=("the image, as the network sees it",
                                        f"contribution of each location ({e.contributions.shape[0]} × "
                                        f"{e.contributions.shape[1]} feature map)"))
    for col in (1, 2):
        fig.add_trace(go.Image(z=image, hoverinfo="skip"), row=1, col=col)
    signed = e.channel is not None
    top = float(np.abs(heat).max()) or 1.0
    fig.add_trace(go.Heatmap(
        z=heat, x=np.arange(w), y=np.arange(h), opacity=opacity, zsmooth="best",
        colorscale="RdBu_r" if signed else "Inferno", zmid=0 if signed else None,
        zmin=-top if signed else 0.0, zmax=top,
        colorbar=dict(title=dict(text="to g(z) − g(z0)" if signed else "Σ|to g_c|", side="right"), len=0.9),
        hovertemplate="x %{x}, y %{y}: %{z:.3g}<extra></extra>"), row=1, col=2)
    for col in (1, 2):
        fig.update_xaxes(visible=False, row=1, col=col)
        fig.update_yaxes(visible=False, scaleanchor=f"x{'' if col == 1 else col}", row=1, col=col)
    fig.update_layout(title=dict(text=f"Where in the image {what} opens", subtitle=dict(
        text=explain_subtitle(e, model), font=dict(size=12))), height=560, margin=dict(t=110, l=20, r=20, b=20))
    return fig
