"""Two Runs side by side, against scipy's Welch test, BH by its definition and plain means."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from se_analysis.analysis.two_runs import (
    block_shift,
    channel_shift,
    check_comparable,
    gate_differences,
    specificity_pair,
)
from se_analysis.plots.two_runs import difference_per_channel, shift_per_block, specificity_both
from tests.conftest import make_run


def test_channel_shift_against_scipy_and_plain_means():
    from scipy import stats as st

    a, b = make_run(seed=1), make_run(seed=2)
    b.gate_values["SE_3_1"] = b.gate_values["SE_3_1"] + np.array([0.5, 0, 0, 0, 0], np.float32)  # channel 0 moves
    shift = channel_shift(a, b)
    at = shift[shift["block"] == "SE_3_1"].set_index("channel")
    va, vb = a.gate_values["SE_3_1"].astype(np.float64), b.gate_values["SE_3_1"].astype(np.float64)
    np.testing.assert_allclose(at["diff"], va.mean(0) - vb.mean(0), atol=1e-12)
    t, p = st.ttest_ind(va, vb, axis=0, equal_var=False)
    np.testing.assert_allclose(at["p"], p)
    m = len(p)
    order = np.argsort(p)
    bh = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    np.testing.assert_allclose(at["p_adjusted"].to_numpy()[order], np.minimum(bh, 1))
    assert bool(at.loc[0, "significant"])
    blocks = block_shift(shift).set_index("block")
    assert blocks.loc["SE_3_1", "mean_abs_diff"] == pytest.approx(np.abs(va.mean(0) - vb.mean(0)).mean())
    assert list(blocks.index) == ["SE_2_1", "SE_3_1"]


def test_runs_that_do_not_compare_say_why():
    a = make_run()
    other = make_run(channels=(4, 6))
    with pytest.raises(ValueError, match="share no gate"):
        check_comparable(a, other)
    with pytest.raises(ValueError, match="summary-only"):
        check_comparable(a, replace(a, gate_values={}))


def test_compare_figures_and_cli(tmp_path):
    from se_analysis.cli import main

    a, b = make_run(seed=1), make_run(seed=2, labels=False)
    pair = specificity_pair(a, b, ("trained", "random"))
    fig = specificity_both(pair)
    assert [t.name for t in fig.data] == ["trained: η²", "trained: chance", "random: η²", "random: chance"]
    shift = channel_shift(a, b)
    assert len(shift_per_block(block_shift(shift)).data) == 2
    assert len(difference_per_channel(shift, "SE_3_1").data[0].x) == 5
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert main(["compare", "--run", str(tmp_path / "a"), "--run", str(tmp_path / "b"), "--out", str(tmp_path / "o"),
                 "--formats", "html"]) == 0
    for name in ("channel_shift.csv", "block_shift.csv", "specificity_both.csv", "shift_per_block.html",
                 "specificity_both.html", "difference_SE_3_1.html"):
        assert (tmp_path / "o" / name).exists(), name


def test_what_differs_between_two_runs_is_said_exactly():
    """Issue 20, item 11: 'share no gate: SE_2_1, ... against SE_2_1, ...' where the names were the same and the
    channel counts were not; the message now names the counts (and other names, and other classes)."""
    from se_analysis.analysis.two_runs import class_difference, gate_differences

    a, other = make_run(channels=(3, 5)), make_run(channels=(4, 6))
    with pytest.raises(ValueError) as e:
        check_comparable(a, other)
    assert str(e.value) == ("the runs share no gate with the same channel count: other channel counts "
                            "(A against B): SE_2_1 3 against 4, SE_3_1 5 against 6")
    assert gate_differences({"SE_2_1": 3, "SE_3_1": 5}, {"SE_2_1": 3, "SE_3_1": 5}) == []
    assert gate_differences({"SE_2_1": 16, "SE_4_1": 96, "SE_4_2": 240}, {"SE_2_1": 16, "SE_2_2": 24, "SE_4_1": 64}) \
        == ["only A has SE_4_2", "only B has SE_2_2", "other channel counts (A against B): SE_4_1 96 against 64"]
    assert class_difference(["a", "b"], ["a", "b"]) is None
    assert class_difference(["a", "b"], ["a", "c"]) == "1 class named otherwise (A against B): b against c"
    assert class_difference(["a"] * 10, ["a"] * 1000) == "A's model has 10 classes, B's 1000"
    renamed = replace(other, manifest={**other.manifest, "class_names": ["x", "c1", "c2", "c3"]})
    with pytest.raises(ValueError, match="; 1 class named otherwise \\(A against B\\): c0 against x$"):
        check_comparable(a, renamed)


def test_what_differs_names_at_most_five_of_each_kind():
    """A model with 26 gates against one with 9 (the Compare page's message): five named, the rest counted."""
    a = {f"SE_{i}": 8 for i in range(26)}
    b = {f"SE_{i}": 16 for i in range(9)}
    only_a, counts = gate_differences(a, b)
    assert only_a == "only A has SE_9, SE_10, SE_11, SE_12, SE_13 and 12 more"  # 26 - 9 = 17 only in A
    assert counts == "other channel counts (A against B): SE_0 8 against 16, SE_1 8 against 16, SE_2 8 against 16, " \
                     "SE_3 8 against 16, SE_4 8 against 16 and 4 more"
