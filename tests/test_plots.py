"""Figures: pure functions of tidy tables, with the traces and values the tables hold."""

from __future__ import annotations

import numpy as np
import pytest

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.quantiles import block_quantiles
from tests.conftest import make_run


def test_paper_figure_has_one_line_per_class_and_panel():
    run = make_run()
    cs = stats.channel_stats(run)
    fig = plots.paper_figure(cs, ["SE_2_1", "SE_3_1"], ["c0", "c1"], include_all=True)
    assert len(fig.data) == 2 * 3
    names = [t.name for t in fig.data]
    assert names == ["c0", "c1", "all"] * 2
    c1_block3 = fig.data[4]
    expected = run.gate_values["SE_3_1"][run.images["label"].to_numpy() == 1].mean(0)
    np.testing.assert_allclose(np.array(c1_block3.y), expected, atol=1e-6)
    assert fig.data[0].line.color == plots.class_color(0) == fig.data[3].line.color
    assert [a.text for a in fig.layout.annotations] == ["SE_2_1", "SE_3_1"]


def test_class_colour_is_stable_and_all_is_black():
    assert plots.class_color(3) == plots.class_color(3) != plots.class_color(4)
    assert plots.class_color(-1) == "#111111"


def test_depth_figures():
    run = make_run()
    summary = stats.block_stats(run)
    fig = plots.specificity_curve(summary)
    assert len(fig.data) == 5 and list(fig.data[0].x) == ["SE_2_1", "SE_3_1"]
    np.testing.assert_allclose(fig.data[0].y, summary["specificity"])
    labels = run.images["label"].to_numpy()
    k, n = len(np.unique(labels)), len(labels)
    chance = next(t for t in fig.data if "chance" in t.name)
    np.testing.assert_allclose(chance.y, (k - 1) / (n - 1))  # eta squared's expectation under no class effect
    box = plots.depth_box(block_quantiles(run))
    assert box.data[0].type == "box" and len(box.data[0].x) == 2


def test_heatmap_and_band_and_image():
    run = make_run()
    cs = stats.channel_stats(run)
    hm = plots.class_heatmap(stats.heatmap_table(cs, "SE_3_1"))
    z = np.array(hm.data[0].z)
    assert z.shape == (3, 5)  # three classes have images, five channels
    v, y = run.gate_values["SE_3_1"].astype(np.float64), run.images["label"].to_numpy()
    np.testing.assert_allclose(z[1], v[y == 1].mean(0), atol=1e-6)
    # Centred on the all-image mean, sorted by specificity, restricted to two classes in the asked order.
    t = stats.heatmap_table(cs, "SE_3_1", classes=["c3", "c0"], centre=True, sort="specificity")
    hm = plots.class_heatmap(t, centred=True)
    z = np.array(hm.data[0].z)
    assert list(hm.data[0].y) == ["c3", "c0"] and z.shape == (2, 5)
    eta = np.array([((np.bincount(y, minlength=4) * (np.array([v[y == k, c].mean() if (y == k).any() else 0
                                                                for k in range(4)]) - v[:, c].mean()) ** 2).sum()
                     / ((v[:, c] - v[:, c].mean()) ** 2).sum()) for c in range(5)])  # eta squared by its definition
    order = np.argsort(-eta, kind="stable")
    assert list(hm.data[0].customdata[0]) == order.tolist()
    np.testing.assert_allclose(z[0], (v[y == 3].mean(0) - v.mean(0))[order], atol=1e-6)
    np.testing.assert_allclose(stats.channel_specificity(cs, "SE_3_1")["specificity"], eta, atol=1e-9)
    band = plots.within_class_band(cs, "SE_2_1", ["c0", "c3"])
    assert len(band.data) == 4
    img = plots.image_gates_figure(stats.image_gates(run, 0), "SE_2_1")
    assert [t.type for t in img.data] == ["bar", "scatter"]


def test_warning_is_stamped():
    fig = plots.add_warning(plots.specificity_curve(stats.block_stats(make_run())), "random weights")
    assert "random weights" in fig.layout.title.subtitle.text and fig.layout.title.text  # under the title, not on it


def test_paper_figure_panels_follow_depth_and_can_autoscale():
    run = make_run()
    cs = stats.channel_stats(run)
    fig = plots.paper_figure(cs, ["SE_3_1", "SE_2_1"], ["c0"])  # picked deepest first
    assert [a.text for a in fig.layout.annotations][:2] == ["SE_2_1", "SE_3_1"]
    assert list(fig.layout.yaxis.range) == [0, 1.02]
    fitted = plots.paper_figure(cs, ["SE_2_1"], ["c0"], autoscale=True)
    assert fitted.layout.yaxis.range is None and fitted.layout.yaxis.autorange is True


def test_channel_violin_hovers_image_ids_and_stops_at_the_data():
    """Issue 20, item 9: customdata and spanmode were inside a comment (no image id on hover, violins below 0)."""
    from se_analysis.analysis.drilldown import channel_values

    run = make_run()
    fig = plots.channel_violin(channel_values(run, "SE_3_1", 2))
    y = run.images["label"].to_numpy()
    assert [t.name for t in fig.data] == ["c0", "c1", "c3"]
    for trace, k in zip(fig.data, (0, 1, 3)):
        assert trace.spanmode == "hard"  # the density ends at the smallest and largest gate: never below 0
        assert list(trace.customdata) == [f"i{i}" for i in np.flatnonzero(y == k)]  # make_run's image ids
        np.testing.assert_allclose(trace.y, run.gate_values["SE_3_1"][y == k, 2])
        assert "%{customdata}" in trace.hovertemplate


def _contrast_run():
    """A run whose SE_2_1 has a channel 0 on every c0 image and 1 on every c1 image (d = -inf), one the other way
    (+inf), two clearly shifted channels and the rest noise."""
    from se_analysis.analysis.contrast import contrast

    run = make_run(n_per_class=(20, 16, 0, 4), channels=(24, 5), seed=5)
    y = run.images["label"].to_numpy()
    v = run.gate_values["SE_2_1"]
    v[y == 0, 3], v[y == 1, 3] = 0.0, 1.0
    v[y == 0, 8], v[y == 1, 8] = 0.9, 0.2
    v[y == 0, 5] += 0.5
    v[y == 1, 11] += 0.4
    return run, contrast(run, "SE_2_1", "c0", "c1", n_boot=200)


def _bars(fig):
    """(channel, x, error plus, error minus, trace) of every bar, bottom to top as the y axis orders them."""
    order = list(fig.layout.yaxis.categoryarray)
    bars = [(int(c[0]), x, p, m, t) for t in fig.data if t.customdata is not None
            for c, x, p, m in zip(t.customdata, t.x, t.error_x.array, t.error_x.arrayminus)]
    return sorted(bars, key=lambda b: order.index(f"ch {b[0]}"))


def test_contrast_figure_draws_d_with_its_interval_in_order():
    """Issue 20, item 13: bars are d (not A - B), in the order of d, each with d's bootstrap interval; infinite d
    at the axis edge, labelled; a legend says which class is higher; model and n per class on the figure."""
    run, table = _contrast_run()
    fig = plots.contrast_figure(table, 12, model="tiny", by="label")
    bars = _bars(fig)
    t = table.set_index("channel")
    assert sorted(b[0] for b in bars) == sorted(table.nsmallest(12, "rank")["channel"])  # the first 12 by rank
    xs = [b[1] for b in bars]
    assert xs == sorted(xs)  # bottom to top: most negative d to most positive
    edge = fig.layout.xaxis.range[1] / 1.02
    # d by its definition, for the finite ones; the whiskers reach d's interval
    v, y = run.gate_values["SE_2_1"].astype(np.float64), run.images["label"].to_numpy()
    a, b = v[y == 0], v[y == 1]
    pooled = np.sqrt((19 * a.var(0, ddof=1) + 15 * b.var(0, ddof=1)) / 34)
    for channel, x, plus, minus, trace in bars:
        if channel in (3, 8):
            continue
        assert x == pytest.approx((a[:, channel].mean() - b[:, channel].mean()) / pooled[channel])
        assert x + plus == pytest.approx(min(t.loc[channel, "d_high"], edge))
        assert x - minus == pytest.approx(max(t.loc[channel, "d_low"], -edge))
    inf = {b[0]: b for b in bars if b[0] in (3, 8)}
    assert inf[3][1] == -edge and inf[8][1] == edge  # at the axis edges
    for channel in (3, 8):
        trace = inf[channel][4]
        i = [int(c[0]) for c in trace.customdata].index(channel)
        assert trace.text[i].startswith("separates perfectly")
    assert bars[0][0] == 3 and bars[-1][0] == 8
    names = {tr.name: tr.marker.color for tr in fig.data if tr.showlegend is not False}
    assert names["c0 (A) higher, significant"] == "#d62728" and names["c1 (B) higher, significant"] == "#1f77b4"
    red = [b[0] for b in bars if b[4].marker.color == "#d62728"]
    assert 8 in red and 5 in red and 3 not in red and 11 not in red
    title = fig.layout.title.text
    assert "model tiny" in title and "c0: n = 20" in title and "c1: n = 16" in title and "true label" in title
    assert "Cohen's d" in fig.layout.xaxis.title.text


def test_contrast_figure_shows_only_the_significant_on_demand():
    _, table = _contrast_run()
    fig = plots.contrast_figure(table, 30, significant_only=True)
    shown = {b[0] for b in _bars(fig)}
    assert shown == set(table.loc[table["significant"], "channel"]) and {3, 5, 8, 11} <= shown
    assert all("not significant" not in t.name for t in fig.data)
    none = table.assign(significant=False)
    empty = plots.contrast_figure(none, 30, significant_only=True)
    assert not _bars(empty) and "No channel differs" in empty.layout.annotations[0].text
