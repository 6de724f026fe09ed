"""Figure builders: a tidy DataFrame in, a plotly Figure out. No I/O, no state.

Every class keeps one colour in every figure (:func:`class_color`); the pooled class ``all``
is drawn in black. Figures built from random weights get :func:`add_warning`.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.colors import qualitative

__all__ = ["class_color", "grid", "add_warning"]


_PALETTE = qualitative.D3 + qualitative.Dark24


def class_color(class_index: int) -> str:
    """The colour of a class in every figure (black for ``all``, index -1)."""
    return "#111111" if class_index < 0 else _PALETTE[class_index % len(_PALETTE)]


def grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols



def add_warning(fig: go.Figure, text: str) -> go.Figure:
    """Stamp a visible warning on a figure (e.g. built from random weights)."""
    # Under the title, as its subtitle, so that it never overlaps the title or the panels' titles.
    fig.update_layout(title_subtitle=dict(text=f"⚠ {text}", font=dict(color="#b00020", size=14)),
                      margin=dict(t=max(110, (fig.layout.margin.t or 0))))
    return fig
