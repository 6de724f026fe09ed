"""Gates: found in every SE family, named as in the paper, recorded and overridden exactly."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from se_analysis.gates.find import NoSEGatesError, find_gates
from se_analysis.gates.hooks import override, record
from se_analysis.models.bundled.fmnist.se_resnet import SEResNet


def _hardsigmoid(x):
    return torch.clamp(x / 6 + 0.5, 0, 1)


def _mlp_1x1(z, reduce_, expand, act, gate):
    """s = gate(W2 act(W1 z + b1) + b2) with the block's own 1x1 conv weights; z is (B, C)."""
    h = act(z @ reduce_.weight[:, :, 0, 0].T + reduce_.bias)
    return gate(h @ expand.weight[:, :, 0, 0].T + expand.bias)


# family -> (model builder, input size, attribute names (reduce, expand), hidden activation, gate function)
FAMILIES = {
    "timm SEModule": (lambda: timm.create_model("seresnet18", zero_init_last=False, num_classes=10), 64,
                      ("fc1", "fc2"), F.relu, torch.sigmoid),
    "timm legacy SEModule": (lambda: timm.create_model("legacy_seresnet18", num_classes=10), 64,
                             ("fc1", "fc2"), F.relu, torch.sigmoid),
    "timm SqueezeExcite": (lambda: timm.create_model("efficientnet_b0", num_classes=10), 64,
                           ("conv_reduce", "conv_expand"), F.silu, torch.sigmoid),
    "timm SqueezeExcite hard": (lambda: timm.create_model("mobilenetv3_small_050", num_classes=10), 64,
                                ("conv_reduce", "conv_expand"), F.relu, _hardsigmoid),
    "torchvision SqueezeExcitation": (lambda: torchvision.models.mobilenet_v3_small(num_classes=10), 64,
                                      ("fc1", "fc2"), F.relu, _hardsigmoid),
    "torchvision regnet": (lambda: torchvision.models.regnet_y_400mf(num_classes=10), 64,
                           ("fc1", "fc2"), F.relu, torch.sigmoid),
    "se_analysis SEBlock": (lambda: SEResNet(), 28, ("fc1", "fc2"), F.relu, torch.sigmoid),
}


def _randomise_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            if m.weight is not None:
                m.weight.data.uniform_(0.5, 1.5)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_recorded_gate_equals_hand_computation(family):
    build, size, (r_name, e_name), act, gate_fn = FAMILIES[family]
    torch.manual_seed(0)
    model = build().eval()
    _randomise_bn(model)
    gates = find_gates(model)
    assert gates, family
    modules = dict(model.named_modules())
    x = torch.randn(3, 3 if size == 64 else 1, size, size)
    for g in (gates[0], gates[len(gates) // 2], gates[-1]):
        se = modules[g.se_path]
        captured = {}
        handle = se.register_forward_hook(lambda m, inp, out: captured.__setitem__("x", inp[0].detach()))
        try:
            with record(model, [g.name]) as rec, torch.no_grad():
                model(x)
        finally:
            handle.remove()
        z = captured["x"].mean(dim=(2, 3))  # squeeze
        with torch.no_grad():
            expected = _mlp_1x1(z, getattr(se, r_name), getattr(se, e_name), act, gate_fn)
        assert rec.values[g.name].shape == (3, g.channels)
        torch.testing.assert_close(rec.values[g.name], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_override_changes_logits_and_hooks_are_removed(family):
    build, size, *_ = FAMILIES[family]
    torch.manual_seed(1)
    model = build().eval()
    _randomise_bn(model)
    x = torch.randn(2, 3 if size == 64 else 1, size, size)
    with torch.no_grad():
        base = model(x)
        with override(model, {g.name: 0.0 for g in find_gates(model)}):
            ablated = model(x)
        after = model(x)
    assert not torch.allclose(base, ablated, atol=1e-4)
    torch.testing.assert_close(base, after, atol=0, rtol=0)
    assert all(not m._forward_hooks for m in model.modules())


def test_paper_names_for_seresnet50():
    gates = find_gates(timm.create_model("seresnet50"))
    names = [g.name for g in gates]
    assert names == [f"SE_{s}_{b}" for s, n in zip(range(2, 6), (3, 4, 6, 3)) for b in range(1, n + 1)]
    assert gates[0].path == "layer1.0.se.gate" and gates[0].channels == 256
    assert gates[-1].channels == 2048
    assert [g.depth for g in gates] == list(range(16))


def test_default_model_names_and_channels():
    gates = find_gates(SEResNet())
    assert [g.name for g in gates] == [f"SE_{s}_{b}" for s in (2, 3, 4) for b in (1, 2, 3)]
    assert [g.channels for g in gates] == [16] * 3 + [32] * 3 + [64] * 3


def test_user_written_linear_se_block_is_found():
    class MySE(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.squeeze = nn.AdaptiveAvgPool2d(1)
            self.down = nn.Linear(c, c // 4)
            self.up = nn.Linear(c // 4, c)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x):
            s = self.sigmoid(self.up(torch.relu(self.down(self.squeeze(x).flatten(1)))))
            return x * s[:, :, None, None]

    model = nn.Sequential(nn.Conv2d(3, 8, 3), MySE(8), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 3, 8, 8))
    gates = find_gates(model)
    assert len(gates) == 1 and gates[0].channels == 8 and gates[0].path == "1.sigmoid"
    with record(model) as rec:
        model(torch.randn(4, 3, 8, 8))
    assert rec.values[gates[0].name].shape == (4, 8)
    with override(model, {gates[0].name: torch.linspace(0, 1, 8)}) as _, record(model) as rec2:
        model(torch.randn(2, 3, 8, 8))
    torch.testing.assert_close(rec2.values[gates[0].name], torch.linspace(0, 1, 8).expand(2, 8))


@pytest.mark.parametrize("attention", ["eca", "cbam", "gc", "ge", "none"])
def test_other_attention_is_not_se(attention):
    from timm.layers import EcaModule, GatherExcite, GlobalContext
    from timm.layers.cbam import CbamModule

    layer = {"eca": lambda: EcaModule(32), "cbam": lambda: CbamModule(32), "gc": lambda: GlobalContext(32), "ge": lambda: GatherExcite(32, use_mlp=False),  # timm 1.0.31 cannot build its MLP variant
             "none": lambda: nn.ReLU()}[attention]()
    model = nn.Sequential(nn.Conv2d(3, 32, 3), layer, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 2))
    with pytest.raises(NoSEGatesError, match="no Squeeze-and-Excitation gates"):
        find_gates(model)


def test_ecaresnet_has_no_se_gates():
    with pytest.raises(NoSEGatesError):
        find_gates(timm.create_model("ecaresnet26t"))


def test_hooks_removed_when_forward_raises():
    model = SEResNet().eval()

    class Boom(Exception):
        pass

    def explode(*_):
        raise Boom

    handle = model.stages[1][0].register_forward_pre_hook(explode)  # raises mid-forward: stage 2 has run, stage 3 not
    try:
        with pytest.raises(Boom):
            with record(model) as rec:
                model(torch.randn(1, 1, 28, 28))
        assert set(rec.values) == {"SE_2_1", "SE_2_2", "SE_2_3"}
        with pytest.raises(Boom):
            with override(model, {"SE_4_3": 1.0}):
                model(torch.randn(1, 1, 28, 28))
    finally:
        handle.remove()
    assert all(not m._forward_hooks for m in model.modules())


def test_override_with_recorded_values_reproduces_logits_exactly():
    torch.manual_seed(0)
    model = SEResNet().eval()
    _randomise_bn(model)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad(), record(model) as rec:
        base = model(x)
    recorded = rec.pop()
    with torch.no_grad(), override(model, recorded):
        again = model(x)
    torch.testing.assert_close(again, base, atol=0, rtol=0)


def test_unknown_gate_name_is_a_clear_error():
    with pytest.raises(KeyError, match="no gate named 'SE_9_9'"):
        with record(SEResNet(), ["SE_9_9"]):
            pass
