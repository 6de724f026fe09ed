"""Statistics checked against independent computations (pandas groupby, the variance decomposition)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from se_analysis.analysis import stats
from se_analysis.analysis.quantiles import block_quantiles
from se_analysis.runs.run import Run
from tests.conftest import make_run


def test_channel_stats_match_pandas_groupby():
    run = make_run()
    cs = stats.channel_stats(run)
    assert list(cs.columns) == ["block", "depth", "channel", "class", "class_index", "mean", "std", "n"]
    for block, values in run.gate_values.items():
        long = pd.DataFrame(values).assign(label=run.images["label"].to_numpy()).melt(id_vars="label",
                                                                                       var_name="channel")
        expected = long.groupby(["label", "channel"])["value"].agg(["mean", lambda v: v.std(ddof=0), "size"])
        got = cs[(cs["block"] == block) & (cs["class_index"] >= 0)].set_index(["class_index", "channel"])
        assert len(got) == len(expected)
        for (lab, ch), row in expected.iterrows():
            g = got.loc[(lab, ch)]
            assert g["mean"] == pytest.approx(row["mean"], abs=1e-6)
            assert g["std"] == pytest.approx(row["<lambda_0>"], abs=1e-6)
            assert g["n"] == row["size"]
        pooled = cs[(cs["block"] == block) & (cs["class"] == stats.ALL)]
        np.testing.assert_allclose(pooled["mean"], values.mean(0), atol=1e-6)
    assert "c2" not in set(cs["class"])  # the empty class has no rows, not NaN rows


def test_specificity_equals_one_minus_within_over_total():
    run = make_run(seed=3)
    groups = run.images["label"].to_numpy()
    for block, v in run.gate_values.items():
        got = stats.specificity(v, groups, 4)
        df = pd.DataFrame(v.astype(np.float64)).assign(g=groups)
        within = df.groupby("g").transform(lambda s: s - s.mean()).pow(2).sum()
        total = (df.drop(columns="g") - df.drop(columns="g").mean()).pow(2).sum()
        np.testing.assert_allclose(got, (1 - within / total).to_numpy(), atol=1e-10)


def test_specificity_extremes():
    groups = np.repeat(np.arange(3), 4)
    by_class = np.repeat(np.array([[0.1, 0.9], [0.5, 0.2], [0.8, 0.4]]), 4, axis=0)
    np.testing.assert_allclose(stats.specificity(by_class, groups, 3), [1.0, 1.0])
    same_per_class = np.tile(np.array([[0.1], [0.4], [0.7], [0.9]]), (3, 1))
    np.testing.assert_allclose(stats.specificity(same_per_class, groups, 3), [0.0], atol=1e-12)
    # A constant channel gives every class the same gate: specificity 0, never NaN or rounding noise.
    assert stats.specificity(np.full((12, 1), 0.5), groups, 3)[0] == 0.0
    noise = np.full((12, 1), 0.5) + np.repeat([0.0, 1e-9, -1e-9], 4)[:, None]
    assert stats.specificity(noise, groups, 3)[0] == 0.0


def test_specificity_docstring_states_what_it_returns():
    """Its examples run: a constant channel is 0 (the docstring once said NaN), no labelled image NaN."""
    import doctest

    doc = stats.specificity.__doc__
    assert "NaN where the total is 0" not in doc and ">>>" in doc
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(stats.specificity, globs={"np": np, "specificity": stats.specificity}):
        runner.run(test)
    assert tuple(runner.summarize(verbose=False)) == (0, 3)  # no failure among its three lines
    groups = np.repeat(np.arange(3), 4)  # and the same, computed here: zero total variance gives 0.0
    assert stats.specificity(np.full((12, 3), 0.25), groups, 3).tolist() == [0.0, 0.0, 0.0]


def test_block_summary_saturation_and_shape():
    run = make_run()
    summary = stats.block_stats(run)
    assert list(summary["block"]) == list(run.gate_values)
    for _, row in summary.iterrows():
        v = run.gate_values[row["block"]]
        assert row["saturation_high"] == pytest.approx((v > 0.9).mean())
        assert row["saturation_low"] == pytest.approx((v < 0.1).mean())
        assert row["mean"] == pytest.approx(v.mean(), abs=1e-6)
        assert 0 <= row["specificity"] <= 1


def test_unlabelled_runs_group_by_prediction():
    run = make_run(labels=False)
    cs = stats.channel_stats(run, by="label")
    counts = cs[(cs["block"] == "SE_2_1") & (cs["channel"] == 0) & (cs["class_index"] >= 0)].set_index("class_index")["n"]
    expected = run.images["pred"].value_counts()
    assert counts.sort_index().to_dict() == expected.sort_index().to_dict()


def test_quantiles_and_image_gates():
    run = make_run()
    q = block_quantiles(run)
    v = run.gate_values["SE_3_1"].ravel()
    row = q.set_index("block").loc["SE_3_1"]
    assert row["median"] == pytest.approx(np.median(v))
    assert row["q05"] == pytest.approx(np.quantile(v, 0.05))
    ig = stats.image_gates(run, 3)
    sub = ig[ig["block"] == "SE_3_1"]
    np.testing.assert_allclose(sub["value"], run.gate_values["SE_3_1"][3], atol=1e-7)
    same = run.images["label"].to_numpy() == run.images["label"].iloc[3]
    np.testing.assert_allclose(sub["class_mean"], run.gate_values["SE_3_1"][same].mean(0), atol=1e-6)


def test_paper_blocks_for_resnet50_layout():
    from se_analysis.gates.blocks import block_presets, paper_blocks
    from se_analysis.gates.find import Gate

    gates = [Gate(f"SE_{s}_{b}", "p", "p", 8, d, s, b)
             for d, (s, b) in enumerate((s, b) for s, n in zip(range(2, 6), (3, 4, 6, 3)) for b in range(1, n + 1))]
    assert paper_blocks(gates[::-1]) == ["SE_2_3", "SE_3_4", "SE_4_6", "SE_5_1", "SE_5_2", "SE_5_3"]
    presets = block_presets(gates)
    assert presets["last stage"] == ["SE_5_1", "SE_5_2", "SE_5_3"] and presets["deepest block"] == ["SE_5_3"]
    assert presets["stage 3"] == ["SE_3_1", "SE_3_2", "SE_3_3", "SE_3_4"] and len(presets["all blocks"]) == 16


def test_summary_only_extraction_gives_the_same_tables(tiny_net, synthetic_sample, tmp_path):
    from se_analysis.data.image_sets import sample_set
    from se_analysis.runs.extract import extract
    from se_analysis.runs.moments import HIST_BINS

    source = sample_set("all", synthetic_sample)
    full = extract(tiny_net, source, batch_size=7)
    lean = extract(tiny_net, source, batch_size=7, summary_only=True)
    lean.save(tmp_path / "lean")
    lean = Run.load(tmp_path / "lean")
    assert not lean.gate_values and not lean.has_gate_arrays and set(lean.moments) == {"label", "pred"}
    for by in ("label", "pred"):
        a, b = stats.channel_stats(full, by=by), stats.channel_stats(lean, by=by)
        pd.testing.assert_frame_equal(a, b, atol=1e-9, check_dtype=False)
        pd.testing.assert_frame_equal(stats.block_stats(full, by=by), stats.block_stats(lean, by=by),
                                      atol=1e-9, check_dtype=False)
    qb = block_quantiles(lean)  # from the histogram: the inverted CDF, to one bin
    for _, row in qb.iterrows():
        v = full.gate_values[row["block"]].astype(np.float64).ravel()
        expected = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95], method="inverted_cdf")
        np.testing.assert_allclose(row[["q05", "q25", "median", "q75", "q95"]].to_numpy(float), expected,
                                   atol=1 / HIST_BINS)


def test_summaries_merge_like_one_pass():
    from se_analysis.runs.moments import GateMoments

    run = make_run(n_per_class=(9, 4, 6, 5), seed=8)
    y = run.images["label"].to_numpy()
    whole = GateMoments.from_arrays(run.gate_values, y, 4, chunk=100)
    parts = GateMoments.from_arrays({k: v[:11] for k, v in run.gate_values.items()}, y[:11], 4, chunk=3)
    parts.merge(GateMoments.from_arrays({k: v[11:] for k, v in run.gate_values.items()}, y[11:], 4, chunk=5))
    for b in run.gate_values:
        np.testing.assert_allclose(parts.mean[b], whole.mean[b], atol=1e-12)
        np.testing.assert_allclose(parts.m2[b], whole.m2[b], atol=1e-12)
        np.testing.assert_allclose(parts.specificity(b), whole.specificity(b), atol=1e-12)
        assert parts.n_high[b] == whole.n_high[b] and (parts.hist[b] == whole.hist[b]).all()


def test_folders_that_are_not_classes_become_groups(tmp_path, tiny_net):
    """Folder names unknown to the model are kept as groups: channel stats per folder equal plain per-folder means."""
    from PIL import Image

    from se_analysis.analysis.contrast import contrast
    from se_analysis.data.image_sets import image_folder
    from se_analysis.runs.extract import extract

    rng = np.random.default_rng(0)
    for name, n in (("cats", 4), ("dogs", 3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    run = extract(tiny_net, image_folder(tmp_path, tiny_net.class_names), batch_size=4)
    assert not run.has_labels and stats.folder_names(run) == ["cats", "dogs"]
    cs = stats.channel_stats(run, by="folder")
    assert stats.present_classes(cs) == ["cats", "dogs"]
    block = run.gate_names[-1]
    v = run.gate_values[block].astype(np.float64)
    dogs = run.images["image_id"].str.startswith("dogs/").to_numpy()
    got = cs[(cs["block"] == block) & (cs["class"] == "dogs")].sort_values("channel")
    np.testing.assert_allclose(got["mean"], v[dogs].mean(0), atol=1e-6)
    assert (got["n"] == 3).all()
    table = contrast(run, block, "cats", "dogs", by="folder", n_boot=50)
    np.testing.assert_allclose(table.sort_values("channel")["diff"], v[~dogs].mean(0) - v[dogs].mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="class folders"):
        stats.channel_stats(make_run(), by="folder")


def test_input_warnings_name_colour_photos_for_a_grayscale_model(tmp_path):
    from PIL import Image

    from se_analysis.data.image_sets import image_folder
    from se_analysis.data.suitability import input_warnings

    rng = np.random.default_rng(1)
    for name, mode in (("photos", "RGB"), ("gray", "L")):
        (tmp_path / name).mkdir()
        for i in range(3):
            shape = (300, 400, 3) if mode == "RGB" else (28, 28)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(tmp_path / name / f"{i}.png")
    fmnist = {"grayscale": True, "size": [28, 28]}
    imagenet = {"size": [224, 224]}
    photos = image_folder(tmp_path / "photos")
    gray = image_folder(tmp_path / "gray")
    warn = input_warnings(photos, fmnist)
    assert len(warn) == 2 and "3 of 3" in warn[0] and "factor of 11" in warn[1]  # 300 px / 28 px
    assert input_warnings(gray, fmnist) == []
    warn = input_warnings(gray, imagenet)
    assert "grayscale" in warn[0] and "factor of 8" in warn[1]  # 224 / 28
    assert input_warnings(photos, imagenet) == []  # 300 px against 224: within a factor of 4
