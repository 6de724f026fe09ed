"""Figures fitted to a screen (presentation mode): capped height, projector fonts, every category labelled.

A figure keeps its own height when that fits (a builder sizes a grid of panels from its number of
rows); a taller one is capped at the room the screen leaves it, so its rows shrink to fit. Ticks and
axis titles get ``font_size``, subplot titles two pixels more (plotly draws them at 16 px whatever
the figure's font), and the figure's title is wrapped to the screen's width, or left out where it
repeats the page's own title.
"""

from __future__ import annotations

import re
import textwrap

import plotly.graph_objects as go

__all__ = ["fit_to_screen"]

_CHAR_WIDTH = 0.5  # of the font size: the mean width of a character of plotly's sans-serif (measured: 0.45)
_PAD = 12  # px above the title
_SMALLEST_LABEL = 9  # px: a category's tick label at least this large, or not every category labelled
_BOTTOM = 70  # px under a plot for its x tick labels and axis title (automargin adds more where they need it)


def fit_to_screen(fig: go.Figure, height: int, width: int = 1100, font_size: int = 18,
                  drop_title: str | None = None) -> go.Figure:
    """A copy of ``fig`` that fits a ``width`` x ``height`` px box, with fonts for a projector.

    Args:
        fig: any figure (not modified).
        height: the most px the figure may take; a figure with a smaller height keeps it.
        width: the figure's width on the screen, to wrap its title.
        font_size: ticks, axis titles and legend; subplot titles get 2 px more, the title 4 px more.
        drop_title: the page's title: a figure title equal to it is left out (a warning stamped as the
            title's subtitle then takes its place).

    Every category axis labels each of its categories, at a smaller tick font where they are many (down to
    9 px; beyond that, e.g. 100 bars in 400 px, plotly labels every k-th).
    """
    out = go.Figure(fig)
    h = min(int(fig.layout.height or 450), int(height))
    title = out.layout.title.text or ""
    subtitle = out.layout.title.subtitle.text if out.layout.title.subtitle else None
    title_size = font_size + 4
    if drop_title is not None and title.strip().lower() == drop_title.strip().lower():
        title = ""
    title_font = dict(size=title_size)
    if not title and subtitle:  # the warning alone, as the title
        title, subtitle = subtitle, None
        title_font = dict(size=font_size, color=out.layout.title.subtitle.font.color)
    panels = any(_is_subplot_title(a) for a in out.layout.annotations)
    lines = _wrap(title, int(width * 0.9 / (_CHAR_WIDTH * title_size))) if title else []
    subtitle_lines = _wrap(subtitle, int(width * 0.9 / (_CHAR_WIDTH * font_size))) if subtitle else []
    subtitle = "<br>".join(subtitle_lines) or None  # wrapped too: a long subtitle (the facts of a figure) stays whole
    # The title hangs from the top (plotly lifts a title of several lines by 15 px: the pad puts it back), and
    # the top margin holds its lines (1.3 of its size apart), its subtitle and the panels' titles.
    top = (_PAD + int(0.9 * title_size + 1.3 * title_size * (len(lines) - 1)) + 14 if lines else 10) \
        + (int(1.5 * font_size + 1.3 * font_size * (len(subtitle_lines) - 1)) if subtitle else 0) \
        + (2 * font_size if panels else 0)
    out.update_layout(height=h, template="plotly_white", font=dict(size=font_size),
                      title=dict(text="<br>".join(lines) or None, font=title_font, yref="container", y=1, yanchor="top",
                                 pad=dict(t=_PAD + (15 if len(lines) > 1 else 0))),
                      margin=dict(t=top, b=_BOTTOM, l=60, r=30))
    out.update_layout(title_subtitle=dict(text=subtitle, font=dict(size=font_size)) if subtitle else dict(text=None))
    out.update_xaxes(automargin=True)
    out.update_yaxes(automargin=True)
    for a in out.layout.annotations:
        if _is_subplot_title(a):
            a.font.size = font_size + 2
    for name, n in _categories(out).items():
        axis = out.layout[name]
        span = (axis.domain[1] - axis.domain[0]) if axis.domain else 1.0
        length = (h - top - _BOTTOM if name.startswith("y") else width - 150) * span
        size = min(font_size, int(length / max(n, 1) * 0.85))
        if size >= _SMALLEST_LABEL:  # else too many to label each: plotly labels every k-th
            axis.update(tickmode="linear", tick0=0, dtick=1, tickfont_size=size)
    return out


def _wrap(title: str, chars: int) -> list[str]:
    """A title's lines, each at most ``chars`` characters (a ``<sup>`` line, in smaller type, more); lines
    broken by ``<br>`` stay broken, and a line with other markup stays whole."""
    out = []
    for segment in re.split(r"<br\s*/?>", title):
        m = re.fullmatch(r"\s*<(sup|sub)>(.*)</\1>\s*", segment, flags=re.S)
        tag, inner = (m.group(1), m.group(2)) if m else (None, segment)
        if re.search(r"<[^>]+>", inner):
            out.append(segment)
            continue
        for line in textwrap.wrap(inner, int(chars / 0.7) if tag else chars, break_long_words=False) or [""]:
            out.append(f"<{tag}>{line}</{tag}>" if tag else line)
    return out


def _is_subplot_title(a) -> bool:
    """Whether an annotation is one of make_subplots' titles (paper coordinates, centred above a panel)."""
    return (a.xref == "paper" and a.yref == "paper" and a.showarrow is False and a.xanchor == "center"
            and a.yanchor == "bottom")


def _categories(fig: go.Figure) -> dict[str, int]:
    """The layout names of the category axes (``xaxis``, ``yaxis2``, ...) and their number of categories.

    An axis is of categories when its traces place points by text (bar, scatter, heatmap, box), or by
    their names (box and violin traces without positions along it).
    """
    found: dict[str, set] = {}
    for tr in fig.data:
        vertical = getattr(tr, "orientation", None) != "h"
        for letter in ("x", "y"):
            ref = getattr(tr, f"{letter}axis", None) or letter
            values = getattr(tr, letter, None)
            if values is None and tr.type in ("box", "violin") and (letter == "x") == vertical and tr.name:
                values = [tr.name]
            if values is None or not len(values) or not all(isinstance(v, str) for v in list(values)[:50]):
                continue
            name = f"{letter}axis{ref[1:]}"
            if fig.layout[name].tickmode == "array" or fig.layout[name].type not in (None, "category"):
                continue
            found.setdefault(name, set()).update(values)
    return {name: len(v) for name, v in found.items()}
