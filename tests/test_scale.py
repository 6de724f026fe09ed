"""Issue 18 (1,000 classes): fast decodability against a brute-force reference, figures that fit a browser,
one colour per class, starting classes, classes with too few images, ties said as ties."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.class_choice import classes_with_images, starting_classes, top_classes
from se_analysis.analysis.drilldown import channel_rank, channel_values, rank_text
from se_analysis.analysis.separation import (
    _binary_mean_interval,
    decodability,
    gate_pca,
    nearest_class_mean,
    permutation_plan,
)
from se_analysis.plots.palette import OTHER, class_colors
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import mean_interval
from tests.conftest import make_run

MB = 5_000_000


# --- decodability: the fast implementation against a brute-force one --------------------------------------


def _brute_nearest(train: np.ndarray, ty: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Nearest class mean by loops: float64 means, every distance summed channel by channel."""
    classes = sorted(set(ty.tolist()))
    means = {c: train[ty == c].astype(np.float64).mean(0) for c in classes}
    out = []
    for x in test.astype(np.float64):
        dist = [float(((x - means[c]) ** 2).sum()) for c in classes]
        out.append(classes[int(np.argmin(dist))])
    return np.array(out)


def _brute_decodability(run: Run, n_permutations: int, seed: int = 0, **plan) -> pd.DataFrame:
    """The same table as decodability, by loops: classes with >= 2 images, the first half of each class (in run
    order) for the means, the rest scored; the permutations and scored subset of ``permutation_plan``."""
    y_all = run.images["label"].to_numpy()
    counts = np.bincount(y_all)
    rows = np.flatnonzero(counts[y_all] >= 2)
    y = y_all[rows]
    ref = np.zeros(len(y), bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        ref[members[:len(members) // 2]] = True
    perms, sub = permutation_plan(int(ref.sum()), int((~ref).sum()), len(np.unique(y)),
                                  [g.channels for g in run.gates], n_permutations, seed=seed, **plan)
    sub = np.arange(int((~ref).sum())) if sub is None else sub
    out = []
    for g in run.gates:
        v = run.gate_values[g.name][rows]
        train, test, ty, ey = v[ref], v[~ref], y[ref], y[~ref]
        right = _brute_nearest(train, ty, test) == ey
        permuted = np.array([(_brute_nearest(train, ty[p], test[sub]) == ey[sub]).mean() for p in perms])
        observed = right[sub].mean()
        out.append({"block": g.name, "accuracy": right.mean(), "permuted_mean": permuted.mean(),
                    "permuted_p95": np.quantile(permuted, 0.95),
                    "p_permutation": (1 + (permuted >= observed).sum()) / (1 + len(perms))})
    return pd.DataFrame(out)


def _signal_run(n_per_class, channels=(6, 40), seed=0, shift=0.15) -> Run:
    run = make_run(n_per_class=n_per_class, channels=channels, seed=seed)
    y = run.images["label"].to_numpy()
    rng = np.random.default_rng(seed + 1)
    for name, v in run.gate_values.items():  # a weak class signal: classes overlap, so mistakes happen
        lift = rng.random((len(n_per_class), v.shape[1])) < 0.3
        run.gate_values[name] = np.clip(v + shift * lift[y], 0, 1).astype(np.float32)
    return run


def test_fast_decodability_equals_a_brute_force_reference():
    run = _signal_run((9, 7, 5, 8, 2, 1, 6, 6, 4, 7, 3, 5), seed=3)
    fast = decodability(run, n_permutations=30, n_boot=200).set_index("block")
    slow = _brute_decodability(run, 30).set_index("block")
    assert 0 < fast.loc["SE_3_1", "accuracy"] < 1  # neither trivial nor hopeless: the test can fail
    for col in ("accuracy", "permuted_mean", "permuted_p95", "p_permutation"):
        np.testing.assert_array_equal(fast[col].to_numpy(), slow.loc[fast.index, col].to_numpy(), err_msg=col)
    assert (fast["classes"] == 11).all() and (fast["classes_left_out"] == 1).all()  # the class with one image
    assert (fast["n_permutations"] == 30).all() and (fast["n_permutation_images"] == fast["n_eval"]).all()


def test_permutation_baseline_on_a_subset_scores_the_observed_classifier_on_the_same_images():
    run = _signal_run((10,) * 8, channels=(6, 40), seed=4)
    fast = decodability(run, n_permutations=25, n_boot=100, max_permutation_images=11).set_index("block")
    slow = _brute_decodability(run, 25, max_permutation_images=11).set_index("block")
    assert (fast["n_permutation_images"] == 11).all()
    for col in ("accuracy", "permuted_mean", "permuted_p95", "p_permutation"):
        np.testing.assert_array_equal(fast[col].to_numpy(), slow.loc[fast.index, col].to_numpy(), err_msg=col)
    assert not np.allclose(fast["accuracy_permutation_images"], fast["accuracy"])  # a subset: its own accuracy


def test_near_ties_are_decided_as_float64_decides_them():
    """Two class means 1e-7 apart, where float32 distances cannot tell them apart: float64's answer."""
    rng = np.random.default_rng(0)
    base = rng.random(300)
    train = np.stack([base, base, base + 2e-7, base + 2e-7, rng.random(300), rng.random(300)]).astype(np.float32)
    ty = np.array([0, 0, 1, 1, 2, 2])
    test = (base + 1e-7 + rng.normal(0, 3e-7, (200, 300))).astype(np.float32)  # about halfway between the two
    expect = _brute_nearest(train, ty, test)
    assert set(expect.tolist()) == {0, 1}  # both near-tied classes win somewhere
    assert nearest_class_mean(train, ty, test).tolist() == expect.tolist()


def test_permutation_plan_at_10_and_1000_classes():
    layout = [16, 96, 240, 240, 120, 144, 288, 576, 576]
    perms, rows = permutation_plan(250, 250, 10, layout)
    assert len(perms) == 100 and rows is None  # the default's 500 images: nothing cut
    perms, rows = permutation_plan(25_000, 25_000, 1000, layout)  # ImageNet val: scoring as costly as refitting
    assert len(perms) == 19 and len(rows) == 625 and len(set(rows.tolist())) == 625
    assert 625 * 1000 == 25 * 25_000  # scored x classes = REFIT_COST x reference images
    few, sub = permutation_plan(25_000, 25_000, 10, layout)  # 50,000 images in 10 classes: refits dominate
    assert len(few) == 5e10 // ((25 * 25_000 + 1000 * 10) * sum(layout)) == 34 and len(sub) == 1000
    again = permutation_plan(25_000, 25_000, 1000, layout)
    assert all((a == b).all() for a, b in zip(perms, again[0])) and (rows == again[1]).all()  # seeded


def test_binomial_bootstrap_matches_resampling_within_its_error():
    right = (np.random.default_rng(1).random(400) < 0.3).astype(float)
    lo, hi = _binary_mean_interval(right, 4000, 0)
    rlo, rhi = mean_interval(right, 4000, 0)
    assert abs(lo - rlo) < 0.01 and abs(hi - rhi) < 0.01  # the 2.5 % / 97.5 % quantiles of 4000 draws
    p, n = right.mean(), len(right)
    assert lo == pytest.approx(p - 1.96 * np.sqrt(p * (1 - p) / n), abs=0.01)


def test_decodability_with_one_image_per_class_says_why():
    run = make_run(n_per_class=(1,) * 30, channels=(3, 5))
    with pytest.raises(ValueError, match=r"at least two images each \(30 classes with a single image here\)"):
        decodability(run)


# --- figures at 1,000 classes ---------------------------------------------------------------------------------


def _big_run(k: int = 1000, per_class: int = 3, channels=(16, 96, 576), seed: int = 0) -> Run:
    run = make_run(n_per_class=(per_class,) * k, channels=channels, seed=seed)
    run.manifest.update(model="tiny", data="synthetic")
    return run


def _fits(fig) -> None:
    size = len(fig.to_json())
    assert size < MB, size
    assert (fig.layout.height or 450) <= 2000, fig.layout.height


def test_every_standard_figure_at_1000_classes_fits_a_browser():
    from se_analysis.views.standard import standard_figures, standard_tables

    run = _big_run()
    tables = standard_tables(run)
    figs = standard_figures(run, tables=tables)
    assert {"paper_figure", "pca_over_depth", "decodability", "class_similarity_SE_4_1"} <= set(figs)
    for name, fig in figs.items():
        _fits(fig)
    cs = tables["channel_stats"]
    # Asked for every class, the heatmap and the similarity draw at most MAX_ROWS and say so.
    every = plots.class_heatmap(stats.heatmap_table(cs, "SE_4_1"))
    _fits(every)
    assert len(every.data[0].y) == plots.MAX_ROWS and "the first 60 of 1000 classes" in every.layout.title.text
    from se_analysis.analysis.similarity import class_similarity

    sim, order = class_similarity(cs, "SE_4_1", classes=top_classes(cs, 500))
    _fits(plots.similarity_heatmap(sim, order, total=1000))
    violin = plots.channel_violin(channel_values(run, "SE_4_1", 3), channel_rank(cs, "SE_4_1", 3),
                                  selection=["c5", "c7"])
    _fits(violin)
    assert [t.name for t in violin.data] == ["c5", "c7", "other 998 classes"]


def test_pca_at_1000_classes_colours_the_chosen_and_greys_the_rest():
    run = _big_run(per_class=2, channels=(16, 40))
    fig = plots.pca_small_multiples(gate_pca(run), selection=["c9", "c2"])
    _fits(fig)
    legend = [t for t in fig.data if t.showlegend]
    assert [t.name for t in legend] == ["other classes (998)", "c9", "c2"]
    assert legend[0].marker.color == OTHER and legend[1].marker.color != legend[2].marker.color != OTHER
    assert sum(len(t.x) for t in fig.data if t.xaxis == "x") == 2000  # every image of the first panel drawn


# --- one colour per class -----------------------------------------------------------------------------------


def _lab(colour: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB hex colour, by the CIE formulas."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    f = np.cbrt(xyz / np.array([0.95047, 1.0, 1.08883]))
    f = np.where(xyz / np.array([0.95047, 1.0, 1.08883]) > (6 / 29) ** 3, f,
                 xyz / np.array([0.95047, 1.0, 1.08883]) / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_default_s_ten_classes_get_ten_clearly_distinct_colours():
    """The embedded sample's 10 classes (parachute and cassette player were both pink): CIE76 ΔE > 25 between
    any two, and from the grey of the classes not chosen and the black of 'all'."""
    folder = Path(__file__).resolve().parent.parent / "data" / "imagenet" / "val_10x50"
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert len(classes) == 10
    colours = class_colors(classes[3:7], classes)  # whatever is chosen, the ten differ
    ten = [colours[c] for c in classes]
    for a, b in itertools.combinations(ten + [OTHER, colours["all"]], 2):
        assert np.linalg.norm(_lab(a) - _lab(b)) > 25, (a, b)
    assert [colours[c] for c in classes[3:7]] == list(plots.palette.DISTINCT[:4])  # by position in the selection


def test_a_class_has_one_colour_in_every_figure():
    run = make_run(n_per_class=(6, 6, 5, 6, 4, 6), channels=(4, 8), seed=1)
    cs = stats.channel_stats(run)
    selection = ["c4", "c1"]
    colours = class_colors(selection, stats.present_classes(cs))
    paper = plots.paper_figure(cs, run.gate_names, selection)  # colours by default from the selection
    band = plots.within_class_band(cs, "SE_3_1", selection, colors=colours)
    pca = plots.pca_small_multiples(gate_pca(run), selection=selection)
    violin = plots.channel_violin(channel_values(run, "SE_3_1", 0), selection=selection)
    heat = plots.class_heatmap(stats.heatmap_table(cs, "SE_3_1", ["c1", "c4", "c0"]), colors=colours)
    for name in selection:
        seen = {t.line.color for t in paper.data if t.name == name}
        seen |= {t.line.color for t in band.data if t.name == name}
        seen |= {t.marker.color for t in pca.data if t.name == name}
        seen |= {t.line.color for t in violin.data if t.name == name}
        seen |= {text.split("'color:")[1].split("'")[0] for text in heat.layout.yaxis.ticktext if f">{name}<" in text}
        assert seen == {colours[name]}, (name, seen)
    assert colours["c4"] != colours["c1"] and OTHER not in colours.values()  # 6 classes: all coloured
    many = class_colors(selection, [f"c{i}" for i in range(30)])
    assert many["c4"] == colours["c4"] and many["c0"] == OTHER  # past 20 classes, the rest grey


# --- which classes --------------------------------------------------------------------------------------------


def test_starting_classes_are_the_paper_s_four_on_imagenet_else_the_most_frequent():
    from se_analysis.data.imagenet import imagenet_wnids

    wnids = imagenet_wnids()
    names = [f"class {i}" for i in range(1000)]
    counts = np.ones(1000, int)
    counts[[1, 254, 404, 972]] = 2  # goldfish, pug, airliner, cliff
    counts[[7, 8]] = 5
    run = make_run(n_per_class=tuple(counts), channels=(3, 4))
    run.manifest["class_names"] = names
    cs = stats.channel_stats(run)
    assert starting_classes(cs, 4, names, wnids) == ["class 1", "class 254", "class 404", "class 972"]
    assert starting_classes(cs, 5, names, wnids)[-1] in ("class 7", "class 8")  # then the most frequent
    assert set(starting_classes(cs, 2)) == {"class 7", "class 8"}  # no WordNet ids: the most frequent
    counts[972] = 0  # no cliff: three of the paper's and the most frequent
    run = make_run(n_per_class=tuple(counts), channels=(3, 4))
    run.manifest["class_names"] = names
    got = starting_classes(stats.channel_stats(run), 4, names, wnids)
    assert got[:3] == ["class 1", "class 254", "class 404"] and got[3] in ("class 7", "class 8")


def _farthest_points_by_hand(cs, classes: list[str], k: int, block: str) -> list[str]:
    """The farthest-point rule written out plainly: every class's distance to each picked class, again each step."""
    at = cs[cs["block"] == block]
    vec = {c: at[at["class"] == c].sort_values("channel")["mean"].to_numpy(np.float64) for c in classes + ["all"]}
    picked = [max(classes, key=lambda c: np.linalg.norm(vec[c] - vec["all"]))]
    while len(picked) < k:
        rest = [c for c in classes if c not in picked]
        picked.append(max(rest, key=lambda c: min(np.linalg.norm(vec[c] - vec[p]) for p in picked)))
    return picked


def test_tied_classes_are_a_spread_not_the_first_in_index_order():
    """At ImageNet val's 50 images of every class all classes tie: the similarity's 60 rows are the chosen ones and
    then a farthest-point spread, not the next classes in index order."""
    counts = np.full(120, 2)
    counts[[5, 9]] = 3  # two more frequent classes come before every tied one
    run = make_run(n_per_class=tuple(counts), channels=(3, 6), seed=3)
    cs = stats.channel_stats(run)
    names = stats.present_classes(cs)
    got = top_classes(cs, 10, chosen=["c40"])
    assert got[:3] == ["c40", "c5", "c9"]
    tied = [c for c in names if c not in ("c40", "c5", "c9")]
    assert set(got[3:]) == set(_farthest_points_by_hand(cs, tied, 7, "SE_3_1"))
    assert got[3:] != [c for c in names if c not in got[:3]][:7]  # not the first in index order
    assert len(set(got)) == 10


def test_classes_with_at_least_two_images():
    cs = stats.channel_stats(make_run(n_per_class=(3, 1, 0, 2, 1), channels=(3, 4)))
    assert classes_with_images(cs, 2) == (["c0", "c3"], 2)


# --- ties and one image per class ---------------------------------------------------------------------------


def test_ranks_among_ties_are_said_as_ties():
    run = make_run(n_per_class=(1,) * 6, channels=(3, 12))  # one image per class: eta squared is 1 everywhere
    rank = channel_rank(stats.channel_stats(run), "SE_3_1", 4)
    assert (rank["rank"], rank["rank_last"], rank["tied"]) == (1, 12, 12)
    assert rank_text(rank) == "tied 1st–12th of 12"
    run = make_run(n_per_class=(5, 5, 5), channels=(3, 6), seed=2)
    run.gate_values["SE_3_1"][:, [1, 4]] = 0.5  # two constant channels: specificity 0, tied last
    cs = stats.channel_stats(run)
    assert rank_text(channel_rank(cs, "SE_3_1", 4)) == "tied 5th–6th of 6"
    spec = stats.channel_specificity(cs, "SE_3_1")["specificity"].to_numpy()
    best = int(np.argmax(spec))
    assert rank_text(channel_rank(cs, "SE_3_1", best)) == "rank 1 of 6"


def test_depth_with_one_image_per_class_says_eta_squared_cannot_measure():
    run = make_run(n_per_class=(1,) * 8, channels=(3, 5))
    bstats = stats.block_stats(run)
    assert (bstats["specificity"] == 1).all() and bstats["specificity_omega2"].isna().all()
    note = stats.specificity_note(bstats)
    assert "1 by construction" in note and "read omega" not in note and "1 images" not in note
    fig = plots.specificity_curve(bstats)
    assert "1 by construction" in fig.data[0].name and "cannot be measured" in fig.layout.annotations[0].text
    few = stats.block_stats(make_run(n_per_class=(2,) * 8, channels=(3, 5)))  # biased, omega squared defined
    fig = plots.specificity_curve(few)
    assert "read ω²" in fig.data[0].name and fig.data[1].line.width > fig.data[0].line.width
    assert np.isfinite(few["specificity_omega2"]).all()
