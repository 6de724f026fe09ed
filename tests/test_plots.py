"""Figures: pure functions of tidy tables, with the traces and values the tables hold."""

from __future__ import annotations

import numpy as np

from se_analysis import plots
from se_analysis.analysis import stats
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
    box = plots.depth_box(stats.block_quantiles(run))
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
