"""Folding constant gates: the folded model's logits equal the mean-ablated model's, family by family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from se_analysis.gates.find import find_gates
from se_analysis.gates.hooks import override, record
from se_analysis.models.fold import FoldError, count_flops, count_parameters, fold_model, fold_plan
from se_analysis.models.zoo import load_model


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if m.affine:
                m.weight.data.copy_(1 + 0.3 * torch.randn(m.num_features, generator=g))
                m.bias.data.copy_(0.3 * torch.randn(m.num_features, generator=g))


def _check(model: nn.Module, x: torch.Tensor, blocks: list[str], atol: float = 1e-9) -> list:
    """Means from one batch, then: folded logits == logits with those gates overridden by the means.

    Random networks are compared in float64 (their large logits make float32 rounding reach 1e-4), which
    shows the fold is exact up to rounding; the bundled model is compared in float32 at 1e-4.
    """
    model.eval()
    with torch.no_grad(), record(model) as rec:
        model(x)
        means = {b: v.mean(0) for b, v in rec.pop().items() if b in blocks}
    folded, plan = fold_model(model, means)
    y = torch.randn_like(x)  # other images than the means came from
    with torch.no_grad():
        with override(model, means):
            ablated = model(y)
        got = folded(y)
    torch.testing.assert_close(got, ablated, rtol=0, atol=atol)
    assert count_parameters(folded) < count_parameters(model)
    assert len(find_gates(folded)) == len(find_gates(model)) - len(blocks) if len(blocks) < len(find_gates(model)) \
        else True
    return plan


def test_se_resnet_blocks_fold_into_the_batch_norm_before_them():
    torch.manual_seed(0)
    net = load_model("fmnist-se-resnet", pretrained=False)
    _randomise_bn(net.module)
    names = [g.name for g in net.gates]
    plan = _check(net.module.double(), torch.randn(8, 1, 28, 28, dtype=torch.float64), names[-3:])
    assert {p.how for p in plan} == {"producer batch norm"} and plan[0].into.endswith("bn2")


@pytest.mark.parametrize("name", ["timm/efficientnet_b0", "timm/mobilenetv3_large_100"])
def test_inverted_residual_blocks_fold_into_the_projection_conv(name):
    torch.manual_seed(0)
    net = load_model(name, pretrained=False)
    _randomise_bn(net.module)
    names = [g.name for g in net.gates]
    plan = _check(net.module.double(), torch.randn(2, 3, 96, 96, dtype=torch.float64),
                  [names[0], names[len(names) // 2], names[-1]])
    assert {p.how for p in plan} == {"consumer conv input channels"}


def test_torchvision_squeeze_excitation_folds():
    torch.manual_seed(0)
    net = load_model("torchvision/mobilenet_v3_large", pretrained=False)
    _randomise_bn(net.module)
    names = [g.name for g in net.gates]
    _check(net.module.double(), torch.randn(2, 3, 96, 96, dtype=torch.float64), names[-2:])


def test_the_bundled_default_folds_every_block_exactly():
    net = load_model("default")
    plan = _check(net.module, torch.randn(4, 3, 224, 224) * 0.5, [g.name for g in net.gates], atol=1e-4)
    assert len(plan) == 9
    folded, _ = fold_model(net.module, {g.name: torch.ones(g.channels) for g in net.gates})
    x = torch.randn(1, 3, 224, 224)
    assert count_flops(folded, x) < count_flops(net.module, x)


def test_a_block_that_cannot_fold_says_why():
    class PostActSE(nn.Module):  # BN -> ReLU -> SE -> addition: no plain BN before, no conv after
        def __init__(self) -> None:
            super().__init__()
            from se_analysis.models.bundled.fmnist.se_resnet import SEBlock

            self.conv, self.bn, self.se = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), SEBlock(8)

        def forward(self, x):
            return x + self.se(torch.relu(self.bn(self.conv(x))))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = nn.Sequential(PostActSE())

        def forward(self, x):
            return self.layer1(x).mean((2, 3))

    model = Net().eval()
    with pytest.raises(FoldError, match="input comes from relu"):
        fold_plan(model, [g.name for g in find_gates(model)])


def test_cli_fold_writes_a_model_that_opens_as_a_checkpoint_and_a_budget_search(tmp_path, capsys):
    from se_analysis.ablation import Ablation, ablation_inputs, evaluate_ablations
    from se_analysis.cli import main
    from se_analysis.runs.run import Run

    run_dir = tmp_path / "run"
    common = ["--model", "fmnist-se-resnet", "--data", "sample", "--split", "eval", "--quiet"]
    assert main(["extract", *common, "--out", str(run_dir)]) == 0
    assert main(["fold", "--run", str(run_dir), "--blocks", "SE_4_*", "--out", str(tmp_path / "f.safetensors")]) == 0
    assert main(["extract", *common, "--checkpoint", str(tmp_path / "f.safetensors"), "--out", str(tmp_path / "r2")]) == 0
    folded_run = Run.load(tmp_path / "r2")
    assert folded_run.gate_names == [f"SE_{s}_{b}" for s in (2, 3) for b in (1, 2, 3)]
    # The folded model computes what the mean-ablated model computes, on images it never saw the means of.
    net = load_model("fmnist-se-resnet")
    run = Run.load(run_dir)
    source, evaluated, reference, _ = ablation_inputs(net, run)
    (ab,) = evaluate_ablations(net, source, evaluated, [Ablation(("SE_4_1", "SE_4_2", "SE_4_3"), "mean")], reference)
    np.testing.assert_allclose(folded_run.logits, ab.logits, atol=1e-4)

    assert main(["fold", "--run", str(run_dir), "--budget", "0.5", "--out", str(tmp_path / "search")]) == 0
    import pandas as pd

    pareto = pd.read_csv(tmp_path / "search" / "fold_pareto.csv")
    assert pareto["k"].iloc[0] == 0 and (pareto["top1_change"] >= -0.005 - 1e-9).all()
    assert pareto["parameters"].is_monotonic_decreasing and len(pareto) >= 2
    assert main(["export", "--run", str(run_dir), "--out", str(tmp_path / "exp"), "--formats", "html",
                 "--fold", str(tmp_path / "search" / "fold_pareto.csv")]) == 0
    assert (tmp_path / "exp" / "fold_pareto.html").exists() and (tmp_path / "exp" / "fold_pareto.csv").exists()
    assert "Fold: which SE blocks can go" in (tmp_path / "exp" / "report.html").read_text()


def test_fold_search_on_the_ablation_page():
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, PAGES, no_errors, traces

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.selectbox(key="model_name").set_value("fmnist-se-resnet").run()
    at.radio(key="sample_split").set_value("eval").run()
    at.button(key="run_button").click().run()
    at.switch_page(str(PAGES / "ablation.py")).run()
    no_errors(at)
    at.button(key="fold_run").click().run()
    no_errors(at)
    (pareto,) = [chart for chart in traces(at) if any(t.get("xaxis") == "x2" for t in chart)]
    assert len(pareto[0]["x"]) >= 2  # nothing folded, then at least one block
    assert any(b.label.startswith("Download the folded model") for b in at.get("download_button"))


def test_a_folded_model_opens_in_the_app_as_a_checkpoint(tmp_path):
    from streamlit.testing.v1 import AppTest

    from se_analysis.models.fold import save_folded
    from tests.test_app import APP, no_errors

    net = load_model("fmnist-se-resnet")
    means = {g.name: torch.full((g.channels,), 0.5) for g in net.gates[-2:]}
    folded, plan = fold_model(net.module, means)
    path = save_folded(folded, plan, tmp_path / "folded.safetensors", net.name, "test")
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.selectbox(key="model_name").set_value("fmnist-se-resnet").run()
    at.radio(key="weights").set_value("upload a checkpoint").run()
    at.file_uploader(key="checkpoint").upload("folded.safetensors", path.read_bytes(), "application/octet-stream").run()
    no_errors(at)
    caption = next(c.value for c in at.caption if "SE gates" in c.value)
    assert "7 SE gates" in caption and "folded (SE_4_2, SE_4_3 removed)" in caption
