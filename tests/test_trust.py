"""Numbers a user can trust: each defect found by recomputing results independently, with the
expected value computed here by a second method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from se_analysis import ablation as ablate
from se_analysis.ablation import AblatedRun, Ablation
from se_analysis.analysis import stats
from se_analysis.data.image_sets import image_folder
from se_analysis.models.bundled.fmnist.idx import CLASS_NAMES
from se_analysis.runs.moments import GateMoments
from tests.conftest import make_run


def test_labels_csv_keeps_known_labels_and_reports_unknown_rows_and_missing_files(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("file,label\na.png,Trouser\nb.png,Bag\nc.png,Spaceship\nd.png,Coat\n")
    source = image_folder(tmp_path, list(CLASS_NAMES))
    labels = {it.id: it.label for it in source.items}
    assert labels == {"a.png": CLASS_NAMES.index("Trouser"), "b.png": CLASS_NAMES.index("Bag"), "c.png": None}
    assert "c.png ('Spaceship')" in source.note
    assert (str(tmp_path / "d.png"), "listed in labels.csv but not found") in source.skipped


def test_nll_is_exact_for_confidently_wrong_predictions():
    run = make_run(n_per_class=(3, 3), channels=(2,))
    logits = np.zeros((6, 2), np.float32)
    logits[:, 0], logits[:, 1] = 0.0, np.where(run.images["label"] == 0, 40.0, -40.0)  # p(true) ~ e^-40
    ablated = AblatedRun(Ablation(("SE_2_1",), "constant", 1.0), logits)
    summary = ablate.before_after(run, [ablated]).overall.iloc[0]
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits, dtype=torch.float64),
                                                 torch.tensor(run.images["label"].to_numpy())).item()
    assert expected > 20 and summary["nll_after"] == pytest.approx(expected, rel=1e-12)


def test_block_summary_counts_at_the_thresholds_it_is_given():
    run = make_run()
    for high, low in ((0.9, 0.1), (0.7, 0.3), (0.55, 0.45)):
        summary = stats.block_stats(run, high=high, low=low).set_index("block")
        for block, v in run.gate_values.items():
            assert summary.loc[block, "saturation_high"] == pytest.approx((v > high).mean())
            assert summary.loc[block, "saturation_low"] == pytest.approx((v < low).mean())


def test_summary_only_runs_refuse_other_thresholds_plainly():
    run = make_run()
    s = GateMoments.from_arrays(run.gate_values, run.images["label"].to_numpy(), 4)
    from dataclasses import replace

    lean = replace(run, gate_values={}, moments={"label": s})
    lean.manifest = {**run.manifest, "summary_only": True}
    assert len(stats.block_stats(lean)) == 2
    with pytest.raises(ValueError, match="kept only summaries"):
        stats.block_stats(lean, high=0.8)


def test_nan_gates_are_counted_never_binned():
    v = np.array([[0.95, np.nan], [0.05, 0.5], [np.inf, 0.5]])
    s = GateMoments({"b": 2}, 1)
    s.update({"b": v}, np.zeros(3, int))
    assert s.n_nonfinite["b"] == 2 and s.hist["b"].sum() == 4
    assert s.n_high["b"] == 1 and s.n_low["b"] == 1  # 0.95 and 0.05, among the 4 finite values


def test_non_finite_checkpoints_are_refused(tmp_path):
    from safetensors.torch import save_file

    from se_analysis.models.checkpoints import CheckpointError, load_checkpoint
    from se_analysis.models.zoo import load_model

    net = load_model("fmnist-se-resnet", pretrained=False)
    state = {k: v.clone().contiguous() for k, v in net.module.state_dict().items()}
    state["fc.weight"][0, 0] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(CheckpointError, match="NaN or infinite weights in 1 tensors \\(fc.weight\\)"):
        load_checkpoint(net, tmp_path / "nan.safetensors")


def test_eta_squared_bias_and_its_correction_on_pure_noise():
    """1000 classes x 2 images of noise: eta squared ~ (K-1)/(N-1) = 0.50, omega squared ~ 0."""
    rng = np.random.default_rng(0)
    k, per = 1000, 2
    values = rng.normal(size=(k * per, 64))
    groups = np.repeat(np.arange(k), per)
    s = GateMoments.from_arrays({"b": values}, groups, k)
    # By hand: between / total sums of squares per channel.
    means = values.reshape(k, per, 64).mean(1)
    between = per * ((means - values.mean(0)) ** 2).sum(0)
    eta2 = between / ((values - values.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(s.specificity("b"), eta2, rtol=1e-9)
    assert s.chance_specificity() == pytest.approx((k - 1) / (k * per - 1))
    assert abs(eta2.mean() - 0.5) < 0.02 and abs(s.specificity_omega2("b").mean()) < 0.03


_SAVER = """
import sys, numpy as np
sys.path.insert(0, sys.argv[3])
from tests.conftest import make_run
run = make_run(seed=int(sys.argv[2]))
for _ in range(25):
    run.save(sys.argv[1])
print("ok")
"""


def test_two_processes_saving_one_run_key_leave_one_complete_run(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from se_analysis.runs.run import Run

    target = tmp_path / "runs" / "samekey"
    root = str(Path(__file__).resolve().parent.parent)
    procs = [subprocess.Popen([sys.executable, "-c", _SAVER, str(target), str(seed), root], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-800:] for o in outs]
    run = Run.load(target)
    candidates = [make_run(seed=s) for s in (1, 2)]
    assert any(np.array_equal(run.logits, c.logits) and all(np.array_equal(run.gate_values[k], c.gate_values[k]) for k in c.gate_values)
               for c in candidates)
    assert sorted(p.name for p in target.parent.iterdir()) == ["samekey"]  # no half-written or moved-aside folders


class _SkipsItsSE(torch.nn.Module):
    """An SE block whose gate is clobbered in place after use, and a second one never called."""

    def __init__(self) -> None:
        super().__init__()
        from se_analysis.models.bundled.fmnist.se_resnet import SEBlock

        self.used, self.unused = SEBlock(8), SEBlock(8)

    def forward(self, x):
        z = x.mean((2, 3), keepdim=True)
        s = self.used.gate(self.used.fc2(self.used.relu(self.used.fc1(z))))
        out = x * s
        s.zero_()  # an in-place op after the gate: the recorded value must not change
        return out.mean((2, 3))


def test_hooks_copy_values_name_silent_gates_and_refuse_data_parallel():
    from se_analysis.gates.find import GateNotFiredError
    from se_analysis.gates.hooks import record

    torch.manual_seed(0)
    model = _SkipsItsSE().eval()
    x = torch.randn(3, 8, 4, 4)
    with torch.no_grad(), record(model) as rec:
        model(x)
        with pytest.raises(GateNotFiredError, match=r"SE_\w+ \(unused.gate\) did not fire"):
            rec.pop()
    with torch.no_grad(), record(model, [g for g in rec.gates if g.path == "used.gate"]) as rec:
        model(x)
        got = rec.pop()
        m = model.used
        by_hand = torch.sigmoid(m.fc2(torch.relu(m.fc1(x.mean((2, 3), keepdim=True))))).reshape(3, 8)
    (value,) = got.values()
    torch.testing.assert_close(value, by_hand)  # not the zeros written in place afterwards
    with pytest.raises(ValueError, match="DataParallel is not supported"):
        with record(torch.nn.DataParallel(model)):
            pass
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("method", ["full", "suffix"])
def test_ablating_a_bf16_run_compares_like_with_like(tiny_net, synthetic_sample, method):
    """Before and after in the Run's own precision: gates upstream of the ablated block do not move at all,
    and "before" is the model's own bf16 output."""
    from se_analysis.data.image_sets import sample_set
    from se_analysis.runs.extract import extract

    source = sample_set("all", synthetic_sample)
    run = extract(tiny_net, source, batch_size=16, amp_dtype=torch.bfloat16)
    (mean_ab,) = ablate.evaluate_ablations(tiny_net, source, run, [Ablation((run.gate_names[2],), "mean")],
                                           method=method, batch_size=16)
    for name in run.gate_names[:2]:  # upstream of the ablated block: exactly unchanged
        assert mean_ab.gate_shift[name] == 0.0
    summary = ablate.before_after(run, [mean_ab]).overall.iloc[0]
    # By hand in bf16 autocast: the baseline the comparison used is the model's own bf16 output.
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        xs = torch.stack([tiny_net.transform(it.load()) for it in source.items])
        by_hand = tiny_net.module(xs).float().numpy()
    labels = run.images["label"].to_numpy()
    assert summary["top1_before"] == pytest.approx((by_hand.argmax(1) == labels).mean())


def test_app_folders_stay_inside_the_data_roots(tmp_path, monkeypatch):
    import os

    from streamlit.testing.v1 import AppTest

    from se_analysis.data.access import FolderRefused, check_folder
    from tests.test_app import APP

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "cls").mkdir(parents=True)
    (outside / "cls").mkdir(parents=True)
    for d in (root / "cls", outside / "cls"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "a.png")
    os.symlink(outside / "cls" / "a.png", root / "cls" / "linked.png")  # a file that links out of the root
    os.symlink(outside, root / "escape")  # a folder that links out of the root
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(root))
    assert check_folder(str(root)) == root.resolve()
    messages = set()
    for refused in (str(outside), str(root / ".." / "outside"), str(root / "escape"), "/etc", "/does/not/exist"):
        with pytest.raises(FolderRefused) as info:
            check_folder(refused)
        messages.add(str(info.value))
    assert len(messages) == 1 and "outside" not in messages.pop()  # the same words, whatever the path
    source = image_folder(check_folder(str(root)), None, roots=[root.resolve()])
    assert [it.id for it in source.items] == ["cls/a.png"]
    assert (str(root / "cls" / "linked.png"), "links outside the allowed data roots") in source.skipped
    assert (str(root / "escape"), "links outside the allowed data roots") in source.skipped

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="data_kind").set_value("folder on this machine").run()
    shown = []
    for path in ("/etc", "/does/not/exist"):
        at.text_input(key="folder").input(path).run()
        shown.append([e.value for e in at.error])
    assert shown[0] == shown[1] and len(shown[0]) == 1 and "data roots" in shown[0][0]
    assert not at.exception


def test_tracing_while_another_session_runs_the_same_model(tiny_net):
    """torch.fx patches nn.Module.__call__ while it traces; a concurrent forward must neither be traced
    into the graph nor get proxies back (two app sessions share one model)."""
    import threading

    from se_analysis.ablation.suffix import try_trace
    from se_analysis.gates.locks import model_lock

    model = tiny_net.module
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
    errors, stop = [], threading.Event()

    def forwards():
        while not stop.is_set():
            try:
                with torch.no_grad(), model_lock(model):  # what extraction and ablation hold
                    out = model(x)
                assert isinstance(out, torch.Tensor) and torch.equal(out, expected)
            except Exception as e:  # noqa: BLE001 - collected for the assertion below
                errors.append(repr(e))
                return

    worker = threading.Thread(target=forwards)
    worker.start()
    try:
        for _ in range(30):
            gm, why = try_trace(model, tiny_net.gates)
            assert gm is not None, why
    finally:
        stop.set()
        worker.join()
    assert errors == []
