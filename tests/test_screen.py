"""Figures fitted to a screen (presentation mode): height, fonts, titles, every category labelled."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from se_analysis import plots


def test_a_tall_figure_is_capped_and_a_short_one_keeps_its_height():
    tall = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout=dict(height=900))
    short = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout=dict(height=300))
    assert plots.fit_to_screen(tall, 555).layout.height == 555
    assert plots.fit_to_screen(short, 555).layout.height == 300
    assert plots.fit_to_screen(go.Figure(), 400).layout.height == 400  # plotly's 450 by default
    assert tall.layout.height == 900  # the figure given is not changed (its downloads stay as built)


def test_panel_titles_are_larger_than_the_ticks_and_the_page_title_is_not_repeated():
    fig = make_subplots(rows=2, cols=3, subplot_titles=[f"SE_{i}" for i in range(6)])
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1]), row=1, col=1)
    fig.add_hline(y=0.5, annotation_text="a line's note")  # not a panel title: left as it is
    fig.update_layout(title="Mean excitation per channel, by class", height=680)
    out = plots.fit_to_screen(fig, 555, font_size=18, drop_title="Mean excitation per channel, by class")
    titles = [a for a in out.layout.annotations if a.text.startswith("SE_")]
    assert len(titles) == 6 and all(a.font.size == 20 for a in titles)
    assert [a.font.size for a in out.layout.annotations if a.text == "a line's note"] == [None]
    assert out.layout.font.size == 18 and not out.layout.title.text
    kept = plots.fit_to_screen(fig, 555, drop_title="Another page")
    assert kept.layout.title.text == "Mean excitation per channel, by class"


def test_a_long_title_is_wrapped_and_its_sup_line_kept_whole():
    title = ("SE_6_3: the channels that separate English springer (A) from garbage truck (B) at the deepest block"
             "<br><sup>model default · n = 50 and 50 · grouped by true label</sup>")
    out = plots.fit_to_screen(go.Figure(layout=dict(title=title)), 555, width=1100)
    lines = out.layout.title.text.split("<br>")
    assert len(lines) == 3 and lines[-1] == "<sup>model default · n = 50 and 50 · grouped by true label</sup>"
    assert all(len(line) <= 90 for line in lines[:2])
    assert out.layout.margin.t > 3 * 22  # the margin holds the three lines


def test_a_warning_alone_becomes_the_title():
    fig = plots.add_warning(go.Figure(layout=dict(title="Page")), "random weights")
    out = plots.fit_to_screen(fig, 555, drop_title="Page")
    assert out.layout.title.text == "⚠ random weights" and not out.layout.title.subtitle.text


def test_every_category_is_labelled():
    bars = go.Figure(go.Bar(x=list(range(30)), y=[f"ch {i}" for i in range(30)], orientation="h"),
                     layout=dict(height=700))
    out = plots.fit_to_screen(bars, 555, font_size=18)
    assert out.layout.yaxis.dtick == 1 and out.layout.yaxis.tickmode == "linear"
    assert 9 <= out.layout.yaxis.tickfont.size < 18  # 30 bars in ~450 px: smaller labels, each one drawn
    assert out.layout.xaxis.dtick is None  # numbers: plotly's own ticks
    violins = go.Figure([go.Violin(y=[0.1, 0.2], name=n) for n in ("tench", "church", "golf ball")])
    assert plots.fit_to_screen(violins, 400).layout.xaxis.tickfont.size == 18  # three names: full size
    many = go.Figure(go.Bar(x=list(range(100)), y=[f"ch {i}" for i in range(100)], orientation="h"))
    assert plots.fit_to_screen(many, 555).layout.yaxis.dtick is None  # too many to label each: plotly's k-th
