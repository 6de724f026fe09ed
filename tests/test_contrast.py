"""The two-class contrast against scipy's Welch test, Cohen's d and BH computed here by their definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from se_analysis.analysis.contrast import benjamini_hochberg, contrast
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
    assert len(bars[0]["y"]) == 30
    run_dir = tmp_path / "run"
    assert main(["extract", "--data", "sample", "--out", str(run_dir), "--quiet"]) == 0
    assert main(["contrast", "--run", str(run_dir), "--a", "tench", "--b", "parachute", "--out",
                 str(tmp_path / "c.csv"), "--figure", str(tmp_path / "c.html")]) == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "c.csv")
    assert len(table) == 576 and (tmp_path / "c.html").exists()
