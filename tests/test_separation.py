"""PCA over depth and class decodability, checked against SVD, a plain loop, and data built to separate."""

from __future__ import annotations

import numpy as np
import pytest

from se_analysis.analysis.separation import decodability, gate_pca, nearest_class_mean
from tests.conftest import make_run


def _separating_run():
    """Block SE_2_1 is noise; in SE_3_1 each class shifts its own channel by 3 (classes separate)."""
    run = make_run(n_per_class=(12, 12, 12, 12), channels=(6, 6), seed=5)
    y = run.images["label"].to_numpy()
    rng = np.random.default_rng(1)
    run.gate_values["SE_2_1"] = rng.normal(0, 1, (len(y), 6)).astype(np.float32)
    sep = rng.normal(0, 1, (len(y), 6))
    sep[np.arange(len(y)), y] += 3.0
    run.gate_values["SE_3_1"] = sep.astype(np.float32)
    return run


def test_pca_matches_svd_up_to_sign():
    run = _separating_run()
    t = gate_pca(run)
    for block in run.gate_names:
        v = run.gate_values[block].astype(np.float64)
        x = v - v.mean(0)
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        got = t[t["block"] == block]
        for i, col in enumerate(("pc1", "pc2")):
            np.testing.assert_allclose(np.abs(got[col]), np.abs(u[:, i] * s[i]), atol=1e-8)
        np.testing.assert_allclose(got["pc1_share"].iloc[0], s[0] ** 2 / (s ** 2).sum(), atol=1e-10)
    assert gate_pca(run).equals(t)  # deterministic, signs included


def test_nearest_class_mean_matches_a_loop():
    rng = np.random.default_rng(2)
    train, ty, test = rng.normal(size=(30, 4)), rng.integers(0, 3, 30), rng.normal(size=(10, 4))
    means = {c: train[ty == c].mean(0) for c in np.unique(ty)}
    expect = [min(means, key=lambda c: ((t - means[c]) ** 2).sum()) for t in test]
    assert nearest_class_mean(train, ty, test).tolist() == expect


def test_decodability_rises_where_classes_separate_and_not_by_chance():
    run = _separating_run()
    t = decodability(run, n_permutations=50, n_boot=200).set_index("block")
    assert t.loc["SE_3_1", "accuracy"] >= 0.9 and t.loc["SE_3_1", "p_permutation"] == pytest.approx(1 / 51)
    assert t.loc["SE_2_1", "ci_low"] <= 0.25 + 0.2 and t.loc["SE_2_1", "permuted_mean"] == pytest.approx(0.25, abs=0.08)
    assert (t["chance"] == 0.25).all() and (t["n_reference"] == 24).all() and (t["n_eval"] == 24).all()
    assert (t["ci_low"] <= t["accuracy"]).all() and (t["accuracy"] <= t["ci_high"]).all()
    # Accuracy by hand: class means of each class's first half, scored on its second half.
    y = run.images["label"].to_numpy()
    v = run.gate_values["SE_3_1"].astype(np.float64)
    first = np.concatenate([np.flatnonzero(y == c)[:6] for c in range(4)])
    second = np.setdiff1d(np.arange(len(y)), first)
    means = np.stack([v[first][y[first] == c].mean(0) for c in range(4)])
    pred = ((v[second][:, None, :] - means[None]) ** 2).sum(2).argmin(1)
    assert t.loc["SE_3_1", "accuracy"] == pytest.approx((pred == y[second]).mean())


def test_separation_figures():
    from se_analysis.plots.separation import decodability_curve, pca_small_multiples

    run = _separating_run()
    pca = pca_small_multiples(gate_pca(run))
    assert [a.text.split(" ")[0] for a in pca.layout.annotations] == ["SE_2_1", "SE_3_1"]
    assert len(pca.data) == 2 * 4 and sum(len(t.x) for t in pca.data) == 2 * len(run)
    dec = decodability_curve(decodability(run, n_permutations=10, n_boot=50))
    assert [t.name for t in dec.data][1] == "nearest class mean (eval half)" and list(dec.data[3].y) == [0.25, 0.25]


def test_permutations_at_once_equal_one_at_a_time():
    from se_analysis.analysis.separation import _permuted_accuracies

    rng = np.random.default_rng(3)
    train, ty, test, ey = rng.normal(size=(40, 5)), rng.integers(0, 4, 40), rng.normal(size=(15, 5)), rng.integers(0, 4, 15)
    perms = [rng.permutation(40) for _ in range(7)]
    expect = [(nearest_class_mean(train, ty[p], test) == ey).mean() for p in perms]
    np.testing.assert_allclose(_permuted_accuracies(train, ty, test, ey, perms), expect)


def test_permutation_baseline_on_a_subset_of_eval_images():
    run = _separating_run()
    full = decodability(run, n_permutations=20, n_boot=50).set_index("block")
    sub = decodability(run, n_permutations=20, n_boot=50, max_permutation_images=10).set_index("block")
    assert (sub["accuracy"] == full["accuracy"]).all()  # the observed accuracy always scores every eval image
    assert sub.loc["SE_3_1", "permuted_p95"] < 0.9 and sub.loc["SE_3_1", "p_permutation"] == pytest.approx(1 / 21)
