"""One palette for every figure: a class keeps its colour from figure to figure and page to page.

Colours go by position in the user's current selection of classes (carried from page to page), not
by class index: the first chosen class is blue, the second orange, and so on through
:data:`DISTINCT`, ten colours at least 15 CIEDE2000 units apart (Tab10 with its grey, which the
unchosen classes use, replaced by navy), then :data:`MORE` (their lighter partners). Every figure
builds its colours with :func:`class_colors` from the same two things, the selection and the
classes present, so a class has one colour everywhere:

* the selection takes the first colours, in its order;
* where a figure's classes number at most :data:`MAX_COLOURED` (20), the classes not chosen take the
  next colours, in class-index order (the default's 10 classes get 10 distinct colours);
* past that, the classes not chosen are grey (:data:`OTHER`); the pooled class ``all`` is black.

Figures built from random weights get :func:`add_warning`.
"""

from __future__ import annotations

import math
from typing import Sequence

import plotly.graph_objects as go

__all__ = ["class_color", "class_colors", "DISTINCT", "MORE", "OTHER", "ALL_COLOUR", "MAX_COLOURED", "grid",
           "add_warning"]

DISTINCT = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
            "#000080"]  # Tab10 (plotly's D3) with navy for its grey
MORE = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
        "#6b6ecf"]  # Tab20's lighter partners
_PALETTE = DISTINCT + MORE
OTHER = "#c7c7c7"  # a class shown but not chosen, past MAX_COLOURED classes
ALL_COLOUR = "#111111"  # the pooled class "all"
MAX_COLOURED = 20


def class_colors(selection: Sequence[str] | None = None, classes: Sequence[str] = ()) -> dict[str, str]:
    """The colour of each class: by position in ``selection``, then (at most :data:`MAX_COLOURED` classes
    in all) the other ``classes`` in their order; grey for the rest. ``all`` is black.

    Args:
        selection: the user's chosen classes, in the order chosen (the app's shared choice).
        classes: every class the figures may show, in class-index order (e.g. ``stats.present_classes``).

    Past ``len(_PALETTE)`` chosen classes the colours repeat.
    """
    chosen = list(dict.fromkeys(selection or ()))
    rest = [c for c in classes if c not in set(chosen)]
    colours = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(chosen)}
    coloured_rest = len(chosen) + len(rest) <= MAX_COLOURED
    for i, name in enumerate(rest, start=len(chosen)):
        colours[name] = _PALETTE[i % len(_PALETTE)] if coloured_rest else OTHER
    colours["all"] = ALL_COLOUR
    return colours


def class_color(class_index: int) -> str:
    """A colour by class index (black for ``all``, index -1), for figures that have no selection.

    Figures of classes take theirs from :func:`class_colors` (by position in the selection) instead.
    """
    return ALL_COLOUR if class_index < 0 else _PALETTE[class_index % len(_PALETTE)]


def grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max_cols, max(n, 1))
    return math.ceil(max(n, 1) / cols), cols



def add_warning(fig: go.Figure, text: str) -> go.Figure:
    """Stamp a visible warning on a figure (e.g. built from random weights)."""
    # Under the title, as its subtitle, so that it never overlaps the title or the panels' titles.
    fig.update_layout(title_subtitle=dict(text=f"⚠ {text}", font=dict(color="#b00020", size=14)),
                      margin=dict(t=max(110, (fig.layout.margin.t or 0))))
    return fig
