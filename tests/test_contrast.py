"""The two-class contrast against scipy's Welch test, Cohen's d and BH computed here by their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from se_analysis.analysis.contrast import contrast
from se_analysis.analysis.two_runs import channel_shift
from se_analysis.utils.numeric import benjamini_hochberg, cohens_d_interval, welch_bh
from tests.conftest import make_run


def test_contrast_matches_its_definitions():
    run = make_run(n_per_class=(12, 15, 0, 9), channels=(6, 4), seed=2)
    table = contrast(run, "SE_2_1", "c0", "c1", n_boot=2000).sort_values("channel")
    v, y = run.gate_values["SE_2_1"].astype(np.float64), run.images["label"].to_numpy()
    a, b = v[y == 0], v[y == 1]
    pooled = np.sqrt(((len(a) - 1) * a.var(0, ddof=1) + (len(b) - 1) * b.var(0, ddof=1)) / (len(a) + len(b) - 2))
    np.testing.assert_allclose(table["diff"], a.mean(0) - b.mean(0))
    np.testing.assert_allclose(table["cohens_d"], (a.mean(0) - b.mean(0)) / pooled)
    for c in range(v.shape[1]):
        assert table["p"].iloc[c] == pytest.approx(st.ttest_ind(a[:, c], b[:, c], equal_var=False).pvalue)
    # The bootstrap interval holds the difference, and its width is about 2 x 1.96 standard errors.
    se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
    assert ((table["ci_low"] <= table["diff"]) & (table["diff"] <= table["ci_high"])).all()
    np.testing.assert_allclose(table["ci_high"] - table["ci_low"], 2 * 1.96 * se, rtol=0.25)
    assert sorted(table["rank"]) == list(range(1, 7))
    assert abs(table.set_index("rank").loc[1, "cohens_d"]) == np.abs(table["cohens_d"]).max()


def test_benjamini_hochberg_by_its_step_up_definition():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.01, 5), rng.uniform(0, 1, 20), [np.nan]])
    adj = benjamini_hochberg(p)
    m = 25
    for i in range(m):  # adjusted p_i = min over j with p_j >= p_i of p_j * m / rank_j
        ranks = {j: 1 + sum(p[k] < p[j] for k in range(m)) for j in range(m)}
        expected = min(min(p[j] * m / ranks[j] for j in range(m) if p[j] >= p[i]), 1.0)
        assert adj[i] == pytest.approx(expected)
    assert np.isnan(adj[-1])


def _step_up(p: np.ndarray) -> np.ndarray:
    """BH by its definition over the finite entries: adjusted p_i = min over p_j >= p_i of p_j * m / rank_j
    (tied p share the largest rank of their tie, as R's p.adjust does)."""
    ok = [i for i in range(len(p)) if np.isfinite(p[i])]
    m = len(ok)
    out = np.full(len(p), np.nan)
    for i in ok:
        out[i] = min(min(p[j] * m / sum(p[k] <= p[j] for k in ok) for j in ok if p[j] >= p[i]), 1.0)
    return out


def _with_channels(run, block, rows_a, rows_b, channels):
    """``run`` with the given channels of ``block`` set per class: {channel: (values on A, values on B)}."""
    v = run.gate_values[block].copy()
    for c, (on_a, on_b) in channels.items():
        v[rows_a, c], v[rows_b, c] = on_a, on_b
    run.gate_values[block] = v
    return run


def test_perfectly_separating_channels_rank_first_with_infinite_d():
    run = make_run(n_per_class=(6, 5, 0, 4), channels=(8, 4), seed=3)
    y = run.images["label"].to_numpy()
    rows_a, rows_b = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    run = _with_channels(run, "SE_2_1", rows_a, rows_b, {
        2: (0.0, 1.0),   # a hard-sigmoid gate shut on every image of A, open on every image of B
        5: (1.0, 0.25),  # the same the other way round, a smaller step
        6: (0.5, 0.5),   # constant and equal: nothing to test
        1: (np.linspace(0.6, 0.9, 6), np.linspace(0.1, 0.4, 5)),  # separates, but varies: finite d
    })
    table = contrast(run, "SE_2_1", "c0", "c1", n_boot=200).set_index("channel")
    assert table.loc[2, "cohens_d"] == -np.inf and table.loc[5, "cohens_d"] == np.inf
    assert bool(table.loc[2, "separates"]) and bool(table.loc[5, "separates"]) and bool(table.loc[1, "separates"])
    # A complete separation of 6 against 5 images: the exact Mann-Whitney p (scipy, on any untied values that
    # separate the same way), the smallest p a rank test can give here, and significant.
    exact = st.mannwhitneyu(np.arange(6.0), np.arange(6.0, 11.0), method="exact").pvalue
    assert table.loc[2, "p"] == pytest.approx(exact) and table.loc[5, "p"] == pytest.approx(exact)
    assert exact == pytest.approx(2 / 462) and bool(table.loc[2, "significant"])
    # Channel 1 by hand: means 0.75 and 0.25, d = 0.5 over the pooled SD of the two evenly spaced samples.
    sd_a, sd_b = np.std(np.linspace(0.6, 0.9, 6), ddof=1), np.std(np.linspace(0.1, 0.4, 5), ddof=1)
    assert table.loc[1, "cohens_d"] == pytest.approx(0.5 / np.sqrt((5 * sd_a**2 + 4 * sd_b**2) / 9))
    # The separating channels come first (the infinite ones, then channel 1), whatever the |d| of the rest.
    first = table.sort_values("rank").index[:3].tolist()
    assert sorted(first[:2]) == [2, 5] and first[2] == 1
    assert not table.loc[~table["separates"], "rank"].lt(4).any()
    # Constant and equal: d 0, not tested, not significant, and not one of the m hypotheses of the correction.
    assert table.loc[6, "cohens_d"] == 0.0 and np.isnan(table.loc[6, "p"]) and not table.loc[6, "significant"]
    v = run.gate_values["SE_2_1"].astype(np.float64)
    p = np.array([{2: exact, 5: exact, 6: np.nan}.get(c) if c in (2, 5, 6) else
                  st.ttest_ind(v[rows_a, c], v[rows_b, c], equal_var=False).pvalue for c in range(8)])
    np.testing.assert_allclose(table.sort_index()["p_adjusted"], _step_up(p))


def test_contrast_and_run_comparison_test_alike():
    """The same images as two classes of one Run and as two Runs give the same Welch p and BH correction."""
    from se_analysis.runs.run import Run

    run = make_run(n_per_class=(6, 5), channels=(5, 3), seed=4)
    y = run.images["label"].to_numpy()
    run = _with_channels(run, "SE_2_1", np.flatnonzero(y == 0), np.flatnonzero(y == 1),
                         {0: (0.0, 1.0), 3: (0.5, 0.5)})
    a, b = (Run(images=run.images[y == k].reset_index(drop=True),
                gate_values={n: g[y == k] for n, g in run.gate_values.items()}, logits=run.logits[y == k],
                manifest=run.manifest) for k in (0, 1))
    shift = channel_shift(a, b).query("block == 'SE_2_1'").set_index("channel")
    table = contrast(run, "SE_2_1", "c0", "c1", n_boot=50).set_index("channel").sort_index()
    for col in ("t", "p", "p_adjusted", "significant"):
        np.testing.assert_array_equal(table[col].to_numpy(), shift[col].to_numpy())
    assert shift.loc[0, "p"] == pytest.approx(st.mannwhitneyu(np.arange(6.0), np.arange(6.0, 11.0), method="exact").pvalue)
    assert np.isnan(shift.loc[3, "p"])


def test_welch_bh_treats_constant_columns_once():
    a = np.array([[0.0, 0.5, 0.0, 0.1], [0.0, 0.5, 0.0, 0.3], [0.0, 0.5, 0.0, 0.2]])
    b = np.array([[1.0, 0.5, 0.2, 0.6], [1.0, 0.5, 0.4, 0.9], [1.0, 0.5, 0.3, 0.7]])
    w = welch_bh(a, b)
    # Both constant, different: 3 against 3 separate completely, exact Mann-Whitney p = 2 / C(6, 3) = 0.1,
    # so with these few images it is not significant, however clean the step.
    assert w.t[0] == -np.inf and w.p[0] == pytest.approx(st.mannwhitneyu([0, 1, 2], [3, 4, 5], method="exact").pvalue)
    assert w.p[0] == pytest.approx(0.1) and not w.significant[0]
    assert np.isnan(w.t[1]) and np.isnan(w.p[1]) and not w.tested[1] and not w.significant[1]  # both constant, equal
    # One side constant: the ordinary Welch test, by hand: t = -0.3 / sqrt(0.01 / 3), df = n_b - 1 = 2.
    assert w.t[2] == pytest.approx(-0.3 / np.sqrt(0.01 / 3))
    assert w.p[2] == pytest.approx(2 * st.t.sf(abs(w.t[2]), 2))
    assert w.tested.tolist() == [True, False, True, True]
    np.testing.assert_allclose(w.p_adjusted, _step_up(w.p))  # m = 3: the untested column does not count
    with pytest.raises(ValueError, match="same C"):
        welch_bh(a, b[:, :3])


def test_separation_on_the_default_s_500_images(tmp_path):
    """Issue 20: SE_6_3 channels 279 and 426 are 0 on every image predicted German short-haired pointer and 1
    on every image predicted vault; they were ranked 538 and 551 with d = 0 and p = NaN."""
    from se_analysis.data.image_sets import sample_set
    from se_analysis.models.zoo import load_model
    from se_analysis.runs.extract import extract

    run = extract(load_model("default"), sample_set("all"), batch_size=125)
    table = contrast(run, "SE_6_3", "German short-haired pointer", "vault", by="pred", n_boot=100)
    rows = table.set_index("channel").loc[[279, 426]]
    v = run.gate_values["SE_6_3"]
    a, b = run.images["pred_name"] == "German short-haired pointer", run.images["pred_name"] == "vault"
    assert (v[a][:, [279, 426]] == 0).all() and (v[b][:, [279, 426]] == 1).all()  # the case, checked on the data
    assert (rows["cohens_d"] == -np.inf).all() and rows["separates"].all()
    assert sorted(rows["rank"]) == [1, 2]
    # Their p: the exact Mann-Whitney p of a complete separation of these few images (4 against 3 here),
    # so however clean the step, a handful of images cannot make it significant on its own.
    n_a, n_b = int(a.sum()), int(b.sum())
    exact = st.mannwhitneyu(np.arange(n_a), np.arange(n_a, n_a + n_b), method="exact").pvalue
    np.testing.assert_allclose(rows["p"], exact)
    assert not rows["significant"].any() if exact > 0.05 else rows["significant"].all()


def test_contrast_refuses_plainly():
    run = make_run(n_per_class=(5, 1, 0, 4))
    with pytest.raises(ValueError, match="c1 has 1 image here"):
        contrast(run, "SE_2_1", "c0", "c1")
    with pytest.raises(ValueError, match="two different classes"):
        contrast(run, "SE_2_1", "c0", "c0")


def test_two_clicks_from_the_paper_figure_to_the_contrast_and_the_cli(tmp_path):
    from streamlit.testing.v1 import AppTest

    from se_analysis.cli import main
    from tests.test_app import APP, PAGES, no_errors, traces

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.button(key="run_button").click().run()
    at.switch_page(str(PAGES / "paper.py")).run()
    at.multiselect(key="paper_classes").set_value(["tench", "parachute"]).run()
    at.button(key="to_contrast").click().run()  # the second click (the first is the page link)
    no_errors(at)
    assert [at.selectbox(key=k).value for k in ("contrast_block", "contrast_a", "contrast_b")] == \
        ["SE_6_3", "tench", "parachute"]
    (bars,) = traces(at)
    assert sum(len(t["y"]) for t in bars if t["y"] and t["y"][0] is not None) == 30  # not the hatching's legend key
    run_dir = tmp_path / "run"
    assert main(["extract", "--data", "sample", "--out", str(run_dir), "--quiet"]) == 0
    assert main(["contrast", "--run", str(run_dir), "--a", "tench", "--b", "parachute", "--out",
                 str(tmp_path / "c.csv"), "--figure", str(tmp_path / "c.html")]) == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "c.csv")
    assert len(table) == 576 and (tmp_path / "c.html").exists()


def test_the_figure_and_the_cli_show_perfect_separation(tmp_path, capsys):
    from se_analysis.cli import main
    from se_analysis.plots.gates import contrast_figure

    run = make_run(n_per_class=(6, 5, 0, 4), channels=(8, 4), seed=3)
    y = run.images["label"].to_numpy()
    run = _with_channels(run, "SE_2_1", np.flatnonzero(y == 0), np.flatnonzero(y == 1), {2: (0.0, 1.0)})
    table = contrast(run, "SE_2_1", "c0", "c1", n_boot=50)
    bars = [b for b in contrast_figure(table, top=5).data if b.y and b.y[0] is not None]  # not the legend's key
    hatched = {label for b in bars if b.marker.pattern.shape == "/" for label in b.y}
    shown = table.nsmallest(5, "rank")
    assert hatched == {f"ch {c}" for c in shown.loc[shown["separates"], "channel"]} and "ch 2" in hatched
    run.save(tmp_path / "run")
    assert main(["contrast", "--run", str(tmp_path / "run"), "--block", "SE_2_1", "--a", "c0", "--b", "c1",
                 "--n-boot", "50", "--out", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "separates" in out.splitlines()[0] and "-inf" in out.splitlines()[1]
    assert f"{int(table['separates'].sum())} separate the classes perfectly" in out


def test_cohens_d_interval_is_a_bootstrap_of_d():
    """Issue 20, item 13: d's own bootstrap 95 % interval. With 300 images a class it is about d +- 1.96 times
    d's large-sample standard error sqrt(1/n_a + 1/n_b + d^2 / (2 (n_a + n_b))) (Hedges and Olkin)."""
    rng = np.random.default_rng(7)
    n_a, n_b = 300, 250
    a = rng.normal(0.5, 0.1, (n_a, 4))
    b = rng.normal([0.5, 0.47, 0.4, 0.3], 0.1, (n_b, 4))
    a[:, 3], b[:, 3] = 0.0, 1.0  # constant and different on each side: d = -inf on every resample
    lo, hi = cohens_d_interval(a, b, 2000, np.random.default_rng(0))
    pooled = np.sqrt(((n_a - 1) * a.var(0, ddof=1) + (n_b - 1) * b.var(0, ddof=1)) / (n_a + n_b - 2))
    d = (a.mean(0) - b.mean(0))[:3] / pooled[:3]
    se = np.sqrt(1 / n_a + 1 / n_b + d**2 / (2 * (n_a + n_b)))
    assert ((lo[:3] < d) & (d < hi[:3])).all()
    np.testing.assert_allclose(hi[:3] - lo[:3], 2 * 1.96 * se, rtol=0.15)
    assert (np.abs((lo[:3] + hi[:3]) / 2 - d) < 0.3 * se).all()  # centred on d
    assert lo[3] == hi[3] == -np.inf
    # one side constant: finite (the other side's spread carries the pooled SD)
    lo, hi = cohens_d_interval(np.zeros((20, 1)), rng.uniform(0.2, 0.6, (20, 1)), 500, np.random.default_rng(1))
    assert np.isfinite(lo).all() and np.isfinite(hi).all() and hi[0] < 0


def test_contrast_table_carries_d_and_its_interval():
    run = make_run(n_per_class=(12, 15, 0, 9), channels=(6, 4), seed=2)
    table = contrast(run, "SE_2_1", "c0", "c1", n_boot=500)
    assert ((table["d_low"] <= table["cohens_d"]) & (table["cohens_d"] <= table["d_high"])).all()


def test_a_contrast_s_file_name_has_one_underscore_between_words():
    from se_analysis.views.contrast import contrast_name

    assert contrast_name("SE_6_3", "church (n03028079)", "gas pump (n03425413)") == \
        "contrast_SE_6_3_church_n03028079_vs_gas_pump_n03425413"
    assert contrast_name("SE_2_1", "T-shirt/top", "c1") == "contrast_SE_2_1_T-shirt_top_vs_c1"
    assert contrast_name("SE_2_1", "(?)", "c1") == "contrast_SE_2_1___vs_c1"  # nothing left: one placeholder


def test_cli_names_the_contrast_files_and_keeps_only_the_significant(tmp_path, capsys):
    """Issue 20, item 13: a folder --out gets contrast_<block>_<A>_vs_<B>.<csv|html>, as the app's downloads;
    --significant-only keeps the channels that differ (the correction still counts the block's channels)."""
    from se_analysis.cli import main

    run = make_run(n_per_class=(10, 12, 0, 4), channels=(8, 4), seed=3)
    y = run.images["label"].to_numpy()
    run = _with_channels(run, "SE_2_1", np.flatnonzero(y == 0), np.flatnonzero(y == 1),
                         {2: (0.0, 1.0), 4: (np.linspace(0.6, 0.9, 10), np.linspace(0.1, 0.5, 12))})
    run.manifest["class_names"] = ["T-shirt/top", "c1", "c2", "c3"]  # a slash, as in Fashion-MNIST
    run.save(tmp_path / "run")
    assert main(["contrast", "--run", str(tmp_path / "run"), "--block", "SE_2_1", "--a", "T-shirt/top", "--b", "c1",
                 "--n-boot", "50", "--significant-only", "--formats", "html", "--out", str(tmp_path / "out")]) == 0
    name = "contrast_SE_2_1_T-shirt_top_vs_c1"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{name}.csv", f"{name}.html"]
    shown = pd.read_csv(tmp_path / "out" / f"{name}.csv")
    full = contrast(run, "SE_2_1", "T-shirt/top", "c1", n_boot=50)
    assert set(shown["channel"]) == set(full.loc[full["significant"], "channel"]) and {2, 4} <= set(shown["channel"])
    assert shown["p_adjusted"].tolist() == pytest.approx(full.loc[full["significant"], "p_adjusted"].tolist())
    assert f"{int(full['significant'].sum())} of 8 channels differ" in capsys.readouterr().out


def test_resampled_moments_from_counts_equal_those_of_the_resampled_rows():
    """The counts-times-values products against the resampled rows themselves (the plain way, the same draws):
    means and variances to rounding, constancy exactly, including columns that are constant, and a two-valued
    column on three rows, whose resamples are often constant."""
    from se_analysis.utils import numeric

    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(0.5, 0.1, 3), np.full(3, 0.7), [0.25, 0.25, 0.5], np.full(3, 1e-3)])
    got = numeric._resampled_moments(x, 300, np.random.default_rng(9))
    draws = np.random.default_rng(9).integers(0, 3, (300, 3))
    s = x[draws]
    np.testing.assert_allclose(got[0], s.mean(1), atol=1e-15)
    np.testing.assert_allclose(got[1], s.var(1, ddof=1), atol=1e-15)
    np.testing.assert_array_equal(got[2], s.max(1) == s.min(1))
    np.testing.assert_array_equal(got[3], s[:, 0])
    assert got[2][:, 2].any() and not got[2][:, 2].all() and got[2][:, 1].all()
    assert (got[1][got[2]] == 0).all()
    one = numeric._resampled_moments(np.array([[0.3, 0.9]]), 5, np.random.default_rng(0))
    assert one[2].all() and np.isnan(one[1]).all()  # a single image: every resample is constant, no variance


def test_bootstrap_means_from_counts_equal_the_means_of_the_resampled_rows():
    from se_analysis.utils.numeric import bootstrap_means

    x = np.random.default_rng(4).normal(size=(37, 5))
    got = bootstrap_means(x, 250, np.random.default_rng(2))
    draws = np.random.default_rng(2).integers(0, 37, (250, 37))  # drawn in one go, as row after row
    np.testing.assert_allclose(got, x[draws].mean(1), atol=1e-14)
    one_d = bootstrap_means(x[:, 0], 40, np.random.default_rng(2))
    np.testing.assert_allclose(one_d, x[:, 0][draws[:40]].mean(1), atol=1e-14)
