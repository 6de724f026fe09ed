"""Ablations checked against models patched by hand, and the suffix sweep against full forward passes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from se_analysis import ablation as ablate
from se_analysis.ablation import AblatedRun, Ablation, evaluate_ablations, replacement_values
from se_analysis.ablation.metrics import before_after
from se_analysis.data.dataset import ImageDataset
from se_analysis.data.image_sets import sample_set
from se_analysis.models.zoo import ZOO, load_model
from se_analysis.runs.extract import extract
from tests.conftest import make_run


@pytest.fixture
def setup(tiny_net, synthetic_sample):
    source = sample_set("all", synthetic_sample)
    run = extract(tiny_net, source, batch_size=32)
    x = torch.stack([ImageDataset(source.items, tiny_net.transform)[i][0] for i in range(len(source))])
    return tiny_net, source, run, x


def _se_modules(net):
    modules = dict(net.module.named_modules())
    return {g.name: modules[g.se_path] for g in net.gates}


def _patched_logits(net, x, patches):
    """Logits with SE blocks' forward replaced by hand: patches maps gate name -> f(features)."""
    se = _se_modules(net)
    saved = {name: se[name].forward for name in patches}
    try:
        for name, f in patches.items():
            se[name].forward = f
        with torch.no_grad():
            return net.module(x).numpy()
    finally:
        for name, f in saved.items():
            se[name].forward = f


@pytest.mark.parametrize("method", ["full", "suffix"])
def test_mean_equals_hand_patched_constant_gate(setup, method):
    net, source, run, x = setup
    block = "SE_3_1"
    mean = torch.from_numpy(run.gate_values[block].astype(np.float64).mean(0)).float()
    seen = {}
    se = _se_modules(net)[block]

    def capture(_m, inp, out) -> None:  # returns None: a forward hook that returns a value replaces the output
        seen["ratio"] = (out / inp[0]).detach()  # the last pass over the one batch is the ablated one

    handle = se.register_forward_hook(capture)
    try:
        (ab,) = evaluate_ablations(net, source, run, [Ablation((block,), "mean")], reference=run, method=method,
                                   batch_size=64)
    finally:
        handle.remove()
    expected = _patched_logits(net, x, {block: lambda f: f * mean.view(1, -1, 1, 1)})
    np.testing.assert_allclose(ab.logits, expected, atol=1e-5)
    if method == "full":  # the gate seen inside the block is the per-channel mean for every image
        ratio = seen["ratio"]
        finite = torch.isfinite(ratio) & (ratio.abs() < 10)
        per_channel = torch.where(finite, ratio, torch.nan).nanmean(dim=(2, 3))
        torch.testing.assert_close(per_channel, mean.expand_as(per_channel), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method", ["full", "suffix"])
def test_constant_one_everywhere_equals_removing_se(setup, method):
    net, source, run, x = setup
    (ab,) = evaluate_ablations(net, source, run, [Ablation(tuple(run.gate_names), "constant", 1.0)], method=method)
    expected = _patched_logits(net, x, {name: (lambda f: f) for name in run.gate_names})
    np.testing.assert_allclose(ab.logits, expected, atol=1e-5)
    assert not np.allclose(ab.logits, run.logits, atol=1e-3)


@pytest.mark.parametrize("kind", ablate.SWEEPS)
@pytest.mark.parametrize("mode", ["mean", "class-mean", "predicted-class-mean", "constant", "shuffle"])
def test_suffix_sweep_equals_naive_sweep(setup, kind, mode):
    net, source, run, _ = setup
    ablations = ablate.sweep_ablations(run.gate_names, kind, mode, constant=0.5)
    fast = evaluate_ablations(net, source, run, ablations, method="suffix", batch_size=25)
    naive = evaluate_ablations(net, source, run, ablations, method="full", batch_size=25)
    for a, b in zip(fast, naive):
        np.testing.assert_allclose(a.logits, b.logits, atol=1e-5)
        for name in run.gate_names:
            assert a.gate_shift[name] == pytest.approx(b.gate_shift[name], abs=1e-6)


@pytest.mark.parametrize("method", ["full", "suffix"])
def test_untouched_gates_do_not_move(setup, method):
    """Upstream gates are recomputed on the full path (not skipped by construction) and must not move."""
    net, source, run, _ = setup
    (ab,) = evaluate_ablations(net, source, run, [Ablation(("SE_3_1",), "constant", 0.0)], method=method)
    assert ab.gate_shift["SE_2_1"] == 0 and ab.gate_shift["SE_2_2"] == 0
    assert ab.gate_shift["SE_3_2"] > 0


def test_replacement_values_match_pandas():
    ev = make_run(seed=1)
    ref = make_run(n_per_class=(4, 0, 3, 5), seed=2)
    block = "SE_3_1"
    mean = replacement_values(Ablation((block,), "mean"), ev, ref)[block]
    np.testing.assert_allclose(mean, np.tile(ref.gate_values[block].mean(0), (len(ev), 1)), atol=1e-6)
    cm = replacement_values(Ablation((block,), "class-mean"), ev, ref)[block]
    means = pd.DataFrame(ref.gate_values[block]).groupby(ref.images["label"].to_numpy()).mean()
    for i, lab in enumerate(ev.images["label"]):
        expected = means.loc[lab].to_numpy() if lab in means.index else ref.gate_values[block].mean(0)  # class 1 absent
        np.testing.assert_allclose(cm[i], expected, atol=1e-6)
    pm = replacement_values(Ablation((block,), "predicted-class-mean"), ev, ref)[block]
    for i, p in enumerate(ev.images["pred"]):
        expected = means.loc[p].to_numpy() if p in means.index else ref.gate_values[block].mean(0)
        np.testing.assert_allclose(pm[i], expected, atol=1e-6)
    sh = replacement_values(Ablation((block,), "shuffle", seed=3), ev, ref)[block]
    src = [int(np.flatnonzero((ev.gate_values[block] == row).all(1))[0]) for row in sh]
    assert sorted(src) == list(range(len(ev))) and all(s != i for i, s in enumerate(src))


def test_compare_metrics_by_hand():
    run = make_run(n_per_class=(3, 3, 2, 2), seed=4)
    y = run.images["label"].to_numpy()
    new_logits = run.logits.copy()
    new_logits[0] = 0
    new_logits[0, (run.logits[0].argmax() + 1) % 4] = 5.0  # image 0 changes its prediction
    res = before_after(run, [AblatedRun(Ablation(("SE_2_1",), "mean"), new_logits, {"SE_2_1": 0.1, "SE_3_1": 0.2})])
    s = res.overall.iloc[0]
    p0, p1 = run.logits.argmax(1), new_logits.argmax(1)
    assert s["top1_before"] == pytest.approx((p0 == y).mean())
    assert s["top1_after"] == pytest.approx((p1 == y).mean())
    logp = new_logits - np.log(np.exp(new_logits).sum(1, keepdims=True))
    assert s["nll_after"] == pytest.approx(-logp[np.arange(len(y)), y].mean(), rel=1e-6)
    assert s["flipped_share"] == pytest.approx(1 / len(y))
    assert list(res.flips["index"]) == [0]
    assert res.confusion["change"].sum() == 0 and res.confusion["change"].abs().sum() == 2
    pc = res.per_class.set_index("class_index")
    assert pc.loc[0, "acc_after"] == pytest.approx((p1[y == 0] == 0).mean())
    assert dict(zip(res.downstream["block"], res.downstream["role"])) == {"SE_2_1": "ablated", "SE_3_1": "downstream"}


def test_bad_ablations_are_clear_errors():
    with pytest.raises(ValueError, match="unknown mode"):
        Ablation(("SE_2_1",), "median")
    with pytest.raises(ValueError, match="at least one block"):
        Ablation((), "mean")
    with pytest.raises(ValueError, match="class-mean needs labelled images"):
        replacement_values(Ablation(("SE_2_1",), "class-mean"), make_run(labels=False))


def test_cli_ablate_and_sweep(tmp_path, capsys):
    from se_analysis.cli import main

    run_dir = tmp_path / "run"
    assert main(["extract", "--data", "sample", "--split", "eval", "--out", str(run_dir), "--quiet"]) == 0
    assert main(["ablate", "--run", str(run_dir), "--blocks", "SE_4_2,SE_4_3", "--mode", "mean",
                 "--out", str(tmp_path / "abl.csv")]) == 0
    out = capsys.readouterr().out
    assert "reference half" in out and "top-1" in out
    summary = pd.read_csv(tmp_path / "abl.csv")
    assert summary["blocks"].iloc[0] == "SE_4_2,SE_4_3"
    assert (tmp_path / "abl_flips.csv").exists() and (tmp_path / "abl_per_class.csv").exists()
    assert main(["sweep", "--run", str(run_dir), "--kind", "cumulative-from-end", "--mode", "constant",
                 "--out", str(tmp_path / "sweep.parquet")]) == 0
    sw = pd.read_parquet(tmp_path / "sweep.parquet")
    from se_analysis.runs.run import Run

    last = Run.load(run_dir).gate_names[-1]  # cumulative from the end starts at the deepest gate
    assert list(sw["k"]) == list(range(1, 10)) and sw["blocks"].iloc[0] == last == "SE_6_3"
    assert main(["ablate", "--run", str(run_dir), "--blocks", "SE_9_9", "--out", str(tmp_path / "x.csv")]) == 2


def test_the_slow_path_says_why(setup, caplog):
    """A model fx cannot trace falls back to full passes, and the result and the log say why."""
    import logging

    net, source, run, _ = setup

    class Untraceable(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if x.sum() > float("inf"):  # data-dependent control flow: torch.fx cannot trace it
                return x
            return self.inner(x)

    from dataclasses import replace

    wrapped = replace(net, module=Untraceable(net.module), _gates=None)
    with caplog.at_level(logging.INFO, logger="se_analysis"):
        (ab,) = evaluate_ablations(wrapped, source, run, [Ablation((run.gate_names[-1],), "mean")], reference=run)
    assert ab.method == "full" and "torch.fx cannot trace Untraceable" in ab.fallback
    assert any("full forward passes" in r.message for r in caplog.records)
    (fast,) = evaluate_ablations(net, source, run, [Ablation((run.gate_names[-1],), "mean")], reference=run)
    assert fast.method == "suffix" and fast.fallback == ""
    np.testing.assert_allclose(ab.logits, fast.logits, atol=1e-5)


@pytest.mark.parametrize("name", list(ZOO))
def test_suffix_equals_full_passes_bit_for_bit_on_every_zoo_architecture(name):
    """Re-evaluating only what lies downstream of the replaced gate gives exactly the full forward pass."""
    from torchvision.transforms import v2 as T

    from se_analysis.data.image_sets import uploads
    from se_analysis.runs.extract import extract

    net = load_model(name, pretrained=False)
    if len(net.class_names) == 1000:  # small RGB inputs keep the big networks quick
        net.transform = T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True)])
    rng = np.random.default_rng(0)
    files = []
    for i in range(3):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="PNG")
        files.append((f"{i}.png", buf.getvalue()))
    source = uploads(files, class_names=net.class_names)
    run = extract(net, source, batch_size=3)
    ablations = [Ablation((g,), "mean") for g in (run.gate_names[0], run.gate_names[len(run.gate_names) // 2])]
    full = evaluate_ablations(net, source, run, ablations, reference=run, method="full", batch_size=3)
    fast = evaluate_ablations(net, source, run, ablations, reference=run, method="suffix", batch_size=3)
    assert [a.method for a in fast] == ["suffix", "suffix"]
    for a, b in zip(full, fast):
        np.testing.assert_array_equal(a.logits, b.logits)


def test_halves_of_an_all_run_equal_extracting_each_half(tiny_net, synthetic_sample):
    """The Ablation page's first open takes both halves from the 'all' run's rows instead of two new passes."""
    from se_analysis.ablation import ablation_inputs
    from se_analysis.data.image_sets import sample_set
    from se_analysis.runs.extract import extract

    whole = extract(tiny_net, sample_set("all", synthetic_sample), batch_size=7)
    ev_source, evaluated, reference, _ = ablation_inputs(tiny_net, whole)
    for split, got in (("eval", evaluated), ("reference", reference)):
        alone = extract(tiny_net, sample_set(split, synthetic_sample), batch_size=5)
        assert got.images["image_id"].tolist() == alone.images["image_id"].tolist()
        assert got.images["index"].tolist() == list(range(len(alone)))
        assert got.manifest["data_spec"]["split"] == split and len(got) == 30
        np.testing.assert_allclose(got.logits, alone.logits, atol=1e-5)
        for name in alone.gate_names:
            np.testing.assert_allclose(got.gate_values[name], alone.gate_values[name], atol=1e-6)
    assert {it.id for it in ev_source.items} == set(evaluated.images["image_id"])


def test_ablation_intervals_are_bootstrap_percentiles_over_images():
    """top1_change's interval resamples the same images before and after (paired); checked against a plain loop."""
    run = make_run(n_per_class=(20, 20, 20, 20), seed=4)
    rng = np.random.default_rng(9)
    new_logits = run.logits + rng.normal(0, 1.0, run.logits.shape).astype(np.float32)
    row = before_after(run, [AblatedRun(Ablation(("SE_2_1",), "mean"), new_logits)]).overall.iloc[0]
    y = run.images["label"].to_numpy()
    d = (new_logits.argmax(1) == y).astype(float) - (run.logits.argmax(1) == y).astype(float)
    loop_rng = np.random.default_rng(0)
    means = [d[loop_rng.integers(0, len(d), len(d))].mean() for _ in range(1000)]  # row by row, as drawn in one go
    lo, hi = np.quantile(means, [0.025, 0.975])
    assert row["top1_change_low"] == pytest.approx(lo) and row["top1_change_high"] == pytest.approx(hi)
    assert row["top1_change_low"] <= row["top1_change"] <= row["top1_change_high"]


def _class_folders(root, counts: dict[str, int]):
    """Class folders of distinct 28x28 gray PNGs (``counts``: folder -> images), file names in order."""
    rng = np.random.default_rng(1)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_labelled_folder_takes_its_means_from_a_disjoint_half_of_each_class(tmp_path, capsys):
    """Issue 20: folder ablations took their means from the evaluated images themselves. A labelled folder now
    keeps the first half of each class (file order) for the means and evaluates the other half, like the sample
    set; an unlabelled folder, or --own-means, still uses the images themselves, and says so."""
    from se_analysis.ablation import ablation_inputs
    from se_analysis.cli import main
    from se_analysis.data.image_sets import image_folder
    from se_analysis.runs.run import Run

    net = load_model("fmnist-se-resnet")
    folder = _class_folders(tmp_path / "imgs", {"Coat": 4, "Sandal": 5, "misc": 2})
    run = extract(net, image_folder(folder, net.class_names), batch_size=4)
    source, evaluated, reference, text = ablation_inputs(net, run)
    # By hand: half of each class, rounded down, in file order; misc/ (unlabelled) is split the same way.
    assert reference.images["image_id"].tolist() == ["Coat/0.png", "Coat/1.png", "Sandal/0.png", "Sandal/1.png",
                                                     "misc/0.png"]
    assert evaluated.images["image_id"].tolist() == ["Coat/2.png", "Coat/3.png", "Sandal/2.png", "Sandal/3.png",
                                                     "Sandal/4.png", "misc/1.png"]
    assert sorted(it.id for it in source.items) == sorted(evaluated.images["image_id"])
    assert "reference half of each class" in text and "(5 images" in text and "(6 images)" in text
    # The means of a mean ablation are those of the reference rows, read from the whole run here.
    rows = run.images["image_id"].isin(reference.images["image_id"]).to_numpy()
    block = run.gate_names[-1]
    values = replacement_values(Ablation((block,), "mean"), evaluated, reference)[block]
    np.testing.assert_allclose(values, np.tile(run.gate_values[block][rows].mean(0), (6, 1)), rtol=1e-6)
    ev_rows = run.images["image_id"].isin(evaluated.images["image_id"]).to_numpy()
    np.testing.assert_array_equal(evaluated.logits, run.logits[ev_rows])

    own = ablation_inputs(net, run, own_means=True)
    assert own[1] is run and own[2] is run and "themselves" in own[3]
    unlabelled = _class_folders(tmp_path / "flat", {"misc": 3})  # its one folder names no class: no labels
    plain = extract(net, image_folder(unlabelled, net.class_names), batch_size=4)
    _, ev, ref, said = ablation_inputs(net, plain)
    assert ev is plain and ref is plain and "themselves" in said and "no labels" in said

    run.save(tmp_path / "run")
    assert main(["ablate", "--run", str(tmp_path / "run"), "--blocks", "-1", "--out", str(tmp_path / "a.csv")]) == 0
    out = capsys.readouterr().out
    assert "reference: means from the reference half of each class of this folder (5 images" in out
    assert "on 6 images" in out
    assert main(["ablate", "--run", str(tmp_path / "run"), "--blocks", "-1", "--own-means",
                 "--out", str(tmp_path / "b.csv")]) == 0
    out = capsys.readouterr().out
    assert "means from the 11 evaluated images themselves" in out and "on 11 images" in out
    assert len(Run.load(tmp_path / "run")) == 11
