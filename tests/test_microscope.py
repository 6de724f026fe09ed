"""The gate microscope: ``explain`` (integrated gradients over the squeeze) and ``visualize`` (feature visualisation).

Expected values are computed here, independently: pre-activations by hand from each block's own
weights, the path integral by a separate loop of autograd calls at many midpoints, gates of the
bundled images with a hook of the test's own.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from se_analysis.cli import main
from se_analysis.data.decode import decode_image
from se_analysis.data.image_sets import sample_set
from se_analysis.microscope import (
    cached_visualize,
    default_microscope_root,
    explain,
    preactivation_fn,
    reference_squeeze,
    squeeze_of,
    visualize,
)
from se_analysis.models.bundled.load import load_default, load_fmnist
from se_analysis.models.senet import SENet

needs_browser = pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium for kaleido")


@pytest.fixture(scope="module")
def default_net() -> SENet:
    return load_default()


@pytest.fixture(scope="module")
def fmnist_net() -> SENet:
    return load_fmnist()


def _images(net: SENet, n: int, split: str = "eval") -> torch.Tensor:
    items = sample_set(split, net.sample).items
    step = max(1, len(items) // n)
    return torch.stack([net.transform(items[i].load()) for i in range(0, step * n, step)])


def _block_input(net: SENet, x: torch.Tensor, block: str) -> torch.Tensor:
    """U, the SE block's input, read with the test's own hook (float64)."""
    gate = next(g for g in net.gates if g.name == block)
    got = []
    h = net.module.get_submodule(gate.se_path).register_forward_hook(lambda m, i, o: got.append(i[0].detach()))
    try:
        with torch.no_grad():
            net.module(x)
    finally:
        h.remove()
    return got[0].double()


def _by_hand(se: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """g = W2 relu(W1 z + b1) + b2 from the block's 1x1 convolutions (bundled SE-ResNet or timm SqueezeExcite)."""
    first, second = (se.fc1, se.fc2) if hasattr(se, "fc1") else (se.conv_reduce, se.conv_expand)
    w1, b1 = first.weight[:, :, 0, 0].double(), first.bias.double()
    w2, b2 = second.weight[:, :, 0, 0].double(), second.bias.double()
    return torch.relu(z @ w1.T + b1) @ w2.T + b2


def _completeness(net: SENet, block: str, channel: int, n_images: int = 3) -> None:
    gate = next(g for g in net.gates if g.name == block)
    se = net.module.get_submodule(gate.se_path)
    x = _images(net, n_images)
    z_ref = _block_input(net, _images(net, 12, "reference"), block).mean(dim=(2, 3)).mean(0)
    assert torch.allclose(reference_squeeze(net, _images(net, 12, "reference"), block), z_ref, atol=1e-6)
    for img in x:
        z = _block_input(net, img[None], block).mean(dim=(2, 3))[0]
        for z0, ref in ((None, "zero"), (z_ref, "mean")):
            e = explain(net, img, block, channel, z0=z0, reference=ref)
            base = torch.zeros_like(z) if z0 is None else z0
            g1, g0 = _by_hand(se, z)[channel].item(), _by_hand(se, base)[channel].item()
            change = g1 - g0
            assert e.preactivation == pytest.approx(g1, abs=1e-5)
            assert e.reference_preactivation == pytest.approx(g0, abs=1e-5)
            assert abs(e.sum_contributions - change) <= 1e-4 * abs(change)
            assert e.contributions.sum() == pytest.approx(e.sum_contributions)
            assert e.contributions.shape == tuple(_block_input(net, img[None], block).shape[2:])
            gate_value = torch.sigmoid(torch.tensor(g1)) if isinstance(se.gate, nn.Sigmoid) else F.hardsigmoid(
                torch.tensor(g1))
            assert e.gate == pytest.approx(float(gate_value), abs=1e-5)
            assert e.reference.startswith("reference: ")


@pytest.mark.parametrize("block", ["SE_2_1", "SE_4_3"])
def test_the_map_sums_to_the_change_of_the_preactivation_fmnist(fmnist_net, block):
    _completeness(fmnist_net, block, channel=3)


@pytest.mark.parametrize("block", ["SE_4_3", "SE_6_3"])
def test_the_map_sums_to_the_change_of_the_preactivation_default(default_net, block):
    _completeness(default_net, block, channel=5, n_images=2)


class _TinySE(nn.Module):
    def __init__(self, c: int, h: int, act: nn.Module) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2, self.gate = nn.Conv2d(c, h, 1), act, nn.Conv2d(h, c, 1), nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))


def _tiny(act: nn.Module, seed: int = 0) -> SENet:
    torch.manual_seed(seed)
    body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), _TinySE(6, 4, act), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, 2)).eval()
    return SENet("tiny-se", body, lambda img: torch.zeros(3, 5, 7), ["a", "b"], "random", "tiny", False)


@pytest.mark.parametrize("act, rtol", [(nn.ReLU(), 2e-3), (nn.SiLU(), 1e-5)])
def test_the_map_equals_a_brute_force_path_integral(act, rtol):
    net = _tiny(act)
    se = net.module[2]
    image = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        u = net.module[1](net.module[0](image[None]))[0].double()
    z, z0 = u.mean((1, 2)), torch.full((6,), 0.3, dtype=torch.float64)
    w1, b1 = se.fc1.weight[:, :, 0, 0].double(), se.fc1.bias.double()
    w2, b2 = se.fc2.weight[:, :, 0, 0].double(), se.fc2.bias.double()
    hand_act = torch.relu if isinstance(act, nn.ReLU) else F.silu
    n = 2000
    for channel in (0, 4):
        integral = torch.zeros(6, dtype=torch.float64)
        for i in range(n):  # midpoint rule, one autograd call per point
            p = (z0 + (i + 0.5) / n * (z - z0)).requires_grad_(True)
            g = hand_act(w1 @ p + b1) @ w2.T + b2
            integral += torch.autograd.grad(g[channel], p)[0] / n
        expected = torch.einsum("k,khw->hw", integral, (u - z0[:, None, None]) / (5 * 7)).numpy()
        e = explain(net, image, net.gates[0].name, channel, z0=z0, reference="mean")
        assert np.abs(e.contributions - expected).max() <= rtol * np.abs(expected).max()
    # the whole block: sum over channels of |each channel's map|
    block = net.gates[0].name
    per_channel = sum(np.abs(explain(net, image, block, c, z0=z0, reference="mean").contributions) for c in range(6))
    whole = explain(net, image, block, None, z0=z0, reference="mean")
    np.testing.assert_allclose(whole.contributions, per_channel, rtol=1e-10, atol=1e-12)
    assert whole.gate is None and whole.reference_preactivation == 0.0
    with torch.no_grad():
        movement = float((hand_act(w1 @ z + b1) @ w2.T - hand_act(w1 @ z0 + b1) @ w2.T).abs().sum())
    assert whole.preactivation == pytest.approx(movement)
    assert whole.sum_contributions >= whole.preactivation - 1e-9


def _form(kind: str) -> tuple[SENet, nn.Module]:
    torch.manual_seed(0)
    if kind == "timm-SEModule":
        from timm.layers import SEModule
        se = SEModule(8, rd_ratio=0.5)
    elif kind == "timm-SqueezeExcite":
        from timm.models._efficientnet_blocks import SqueezeExcite
        se = SqueezeExcite(8, rd_ratio=0.5)
    else:
        from torchvision.ops import SqueezeExcitation
        se = SqueezeExcitation(8, 4)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), se, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 2)).eval()
    return SENet(kind, body, lambda img: torch.zeros(3, 6, 6), ["a", "b"], "random", kind, False), se


@pytest.mark.parametrize("kind", ["timm-SEModule", "timm-SqueezeExcite", "torchvision"])
def test_the_preactivation_is_the_gate_input_of_every_se_form(kind):
    net, se = _form(kind)
    layers = [m for m in se.children() if isinstance(m, nn.Conv2d)]
    assert len(layers) == 2
    z = torch.randn(4, 8, dtype=torch.float64)
    hidden = torch.relu(z @ layers[0].weight[:, :, 0, 0].double().T + layers[0].bias.double())
    expected = hidden @ layers[1].weight[:, :, 0, 0].double().T + layers[1].bias.double()
    got = preactivation_fn(net, net.gates[0].name, dtype=torch.float64)(z)
    torch.testing.assert_close(got, expected)
    image = torch.randn(3, 6, 6)
    e = explain(net, image, net.gates[0].name, 2)
    assert e.sum_contributions == pytest.approx(e.preactivation - e.reference_preactivation, abs=1e-10)


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def test_hooks_are_removed_also_on_error():
    net = _tiny(nn.ReLU())
    image = torch.randn(3, 5, 7)
    explain(net, image, net.gates[0].name, 1)
    explain(net, image, net.gates[0].name, None)
    u, z = squeeze_of(net, image[None], net.gates[0].name)
    assert u.shape == (1, 6, 5, 7) and torch.allclose(z, u.mean((2, 3)))
    assert _hooks(net.module) == 0
    se = net.module[2]

    def boom(*_):
        raise RuntimeError("boom")

    h = se.fc2.register_forward_pre_hook(boom)  # the excitation raises mid-forward
    with pytest.raises(RuntimeError, match="boom"):
        explain(net, image, net.gates[0].name, 1)
    h.remove()
    h = net.module[0].register_forward_pre_hook(boom)  # the network raises before the block
    with pytest.raises(RuntimeError, match="boom"):
        squeeze_of(net, image[None], net.gates[0].name)
    h.remove()
    assert _hooks(net.module) == 0


def test_bad_block_and_channel_are_one_line_errors(fmnist_net):
    image = _images(fmnist_net, 1)[0]
    with pytest.raises(ValueError, match="no SE block named 'SE_9_9'"):
        explain(fmnist_net, image, "SE_9_9", 0)
    with pytest.raises(ValueError, match="out of range"):
        explain(fmnist_net, image, "SE_2_1", 16)
    with pytest.raises(ValueError, match="out of range"):
        visualize(fmnist_net, "SE_2_1", -1, steps=1)
    rounded = dataclasses.replace(fmnist_net, activations="deployed")  # rounded activations have no gradient
    with pytest.raises(ValueError, match="zero gradient"):
        explain(rounded, image, "SE_2_1", 0)
    with pytest.raises(ValueError, match="zero gradient"):
        visualize(rounded, "SE_2_1", 0, steps=1)


def _gate_input(net: SENet, x: torch.Tensor, block: str) -> torch.Tensor:
    """The input of the gate activation (the pre-activation), with the test's own hook."""
    gate = next(g for g in net.gates if g.name == block)
    got = []
    h = net.module.get_submodule(gate.path).register_forward_hook(lambda m, i, o: got.append(i[0].detach()))
    try:
        with torch.no_grad():
            net.module(x)
    finally:
        h.remove()
    return got[0].reshape(x.shape[0], -1)


def _as_photo(net: SENet, image: np.ndarray) -> torch.Tensor:
    """PNG bytes decoded and preprocessed exactly as a bundled image is."""
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="PNG")
    return net.transform(decode_image(buf.getvalue()))


def test_the_visualisation_opens_the_gate_more_than_every_bundled_image_default(default_net):
    block, channel = "SE_6_3", 0  # a fixed channel of the last block
    vis = visualize(default_net, block, channel, steps=64, seed=0)
    assert vis.image.shape == (224, 224, 3) and vis.image.dtype == np.uint8
    photo = _gate_input(default_net, _as_photo(default_net, vis.image)[None], block)[0, channel].item()
    bundled = torch.stack([default_net.transform(it.load()) for it in sample_set("all", default_net.sample).items])
    assert len(bundled) == 500
    values = _gate_input(default_net, bundled, block)[:, channel]
    assert photo > values.max().item(), (photo, values.max().item())
    assert _hooks(default_net.module) == 0


def test_visualize_is_deterministic_cached_and_works_as_a_photo_fmnist(fmnist_net):
    block, channel, steps = "SE_4_3", 10, 24
    a = visualize(fmnist_net, block, channel, steps=steps, seed=3)
    b = visualize(fmnist_net, block, channel, steps=steps, seed=3)
    c = visualize(fmnist_net, block, channel, steps=steps, seed=4)
    assert np.array_equal(a.image, b.image) and a.preactivation == b.preactivation
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (28, 28, 3)
    # through the grayscale photo path; this small net's gates vary little, and a short run beats the typical
    # test image (not yet the best one: that takes about 256 steps)
    photo = _gate_input(fmnist_net, _as_photo(fmnist_net, a.image)[None], block)[0, channel].item()
    assert photo == pytest.approx(a.preactivation, abs=0.02)
    values = _gate_input(fmnist_net, _images(fmnist_net, 400, "all"), block)[:, channel]
    assert photo > values.mean().item()
    calls = []
    first = cached_visualize(fmnist_net, "fmnist", block, channel, steps=steps, seed=3)
    again = cached_visualize(fmnist_net, "fmnist", block, channel, steps=steps, seed=3,
                             progress=lambda s, n: calls.append((s, n)))
    assert np.array_equal(first.image, a.image) and np.array_equal(again.image, a.image)
    assert again.seconds == first.seconds and calls == [(steps, steps)]  # from the disk, not run again
    assert len(list(default_microscope_root().glob("*.png"))) == 1
    assert len(list(default_microscope_root().glob("*.json"))) == 1


@needs_browser
def test_cli_explain_writes_the_map_and_a_summary(tmp_path, capsys):
    image = sample_set("all").items[0].source
    for reference in ("zero", "mean"):
        out = tmp_path / reference
        args = ["explain", "--image", image, "--block", "SE_4_3", "--channel", "7", "--reference", reference,
                "--out", str(out)]
        assert main(args + (["--reference-images", "20"] if reference == "mean" else [])) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["sum_contributions"] == pytest.approx(
            summary["preactivation"] - summary["reference_preactivation"], abs=1e-4 * abs(summary["sum_contributions"]))
        assert summary["block"] == "SE_4_3" and summary["channel"] == 7 and summary["model"] == "default"
        assert 0 <= summary["gate"] <= 1
        assert ("20 reference images" in summary["reference"]) == (reference == "mean")
        assert Image.open(out / "map.png").size[0] > 500


def test_cli_visualize_and_bad_input(tmp_path, capsys):
    out = tmp_path / "vis.png"
    assert main(["visualize", "--block", "SE_6_3", "--channel", "3", "--steps", "4", "--out", str(out),
                 "--quiet"]) == 0
    assert np.asarray(Image.open(out)).shape == (224, 224, 3)
    assert "SE_6_3 channel 3" in capsys.readouterr().out
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    image = sample_set("all").items[0].source
    for args, says in [(["visualize", "--block", "SE_7_1", "--channel", "0", "--out", str(out)], "no SE block named"),
                       (["visualize", "--block", "SE_6_3", "--channel", "576", "--out", str(out)], "out of range"),
                       (["explain", "--image", image, "--block", "SE_4_3", "--channel", "240", "--out", str(tmp_path)],
                        "out of range"),
                       (["explain", "--image", str(tmp_path / "bad.jpg"), "--block", "SE_4_3", "--out", str(tmp_path)],
                        "cannot read image"),
                       (["explain", "--image", str(tmp_path / "none.jpg"), "--block", "SE_4_3", "--out",
                         str(tmp_path)], "no such file")]:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and says in err and "\n" not in err, err
