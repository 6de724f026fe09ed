"""Hand-written SE forms found, hooked and checked against the gate recomputed by hand from each block's weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from se_analysis import NoSEGatesError, find_gates, make_hookable, record


class SELayer(nn.Module):
    """(a) The widely copied form: pooling, then fc = Sequential(Linear, ReLU, Linear, Sigmoid)."""

    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(c, c // r, bias=False), nn.ReLU(inplace=True), nn.Linear(c // r, c, bias=False),
                                nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.shape
        return x * self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)

    def by_hand(self, x):
        return torch.sigmoid(torch.relu(x.mean((2, 3)) @ self.fc[0].weight.T) @ self.fc[2].weight.T)


class SeModule(nn.Module):
    """(b) MobileNetV3's reference SeModule: pooling, 1x1 convs, BN and Hardsigmoid in one Sequential."""

    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // r, 1, bias=False), nn.BatchNorm2d(c // r),
                                nn.ReLU(inplace=True), nn.Conv2d(c // r, c, 1, bias=False), nn.BatchNorm2d(c),
                                nn.Hardsigmoid())

    def forward(self, x):
        return x * self.se(x)

    def by_hand(self, x):
        conv1, bn1, conv2, bn2 = self.se[1], self.se[2], self.se[4], self.se[5]
        h = torch.relu(F.batch_norm(F.conv2d(x.mean((2, 3), keepdim=True), conv1.weight), bn1.running_mean,
                                    bn1.running_var, bn1.weight, bn1.bias, eps=bn1.eps))
        s = F.batch_norm(F.conv2d(h, conv2.weight), bn2.running_mean, bn2.running_var, bn2.weight, bn2.bias, eps=bn2.eps)
        return (torch.clamp(s + 3, 0, 6) / 6).flatten(1)


class OddNames(nn.Module):
    """(c) The gate activation under another attribute name."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, c // 2, 1), nn.Conv2d(c // 2, c, 1)
        self.hsigmoid = nn.Hardsigmoid()

    def forward(self, x):
        return x * self.hsigmoid(self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))))

    def by_hand(self, x):
        h = torch.relu(F.conv2d(x.mean((2, 3), keepdim=True), self.reduce.weight, self.reduce.bias))
        return (torch.clamp(F.conv2d(h, self.expand.weight, self.expand.bias) + 3, 0, 6) / 6).flatten(1)


class Functional(nn.Module):
    """(d) The gate applied as a function."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 2, 1), nn.Conv2d(c // 2, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))

    def by_hand(self, x):
        h = torch.relu(F.conv2d(x.mean((2, 3), keepdim=True), self.fc1.weight, self.fc1.bias))
        return (1 / (1 + torch.exp(-F.conv2d(h, self.fc2.weight, self.fc2.bias)))).flatten(1)


class Net(nn.Module):
    def __init__(self, se: type[nn.Module]) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), se(8)))

    def forward(self, x):
        return self.layer1(self.stem(x)).mean((2, 3))


def _randomise(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.3)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.normal_(1, 0.3)
            m.bias.data.normal_(0, 0.3)


@pytest.mark.parametrize("form", [SELayer, SeModule, OddNames, Functional])
def test_hand_written_forms_are_found_and_recorded_exactly(form):
    torch.manual_seed(0)
    net = Net(form).eval()
    _randomise(net)
    x = torch.randn(4, 3, 6, 6)
    block = net.layer1[0][1]  # by_hand reads its weights (shared with the rewritten block)
    if form is Functional:
        with pytest.raises(NoSEGatesError, match=r"layer1\.0\.1 applies its gate as a function \(sigmoid\).*make_hookable"):
            find_gates(net)
        with torch.no_grad():
            before = net(x)
        assert make_hookable(net) == ["layer1.0.1"]
        with torch.no_grad():
            torch.testing.assert_close(net(x), before, rtol=0, atol=0)  # the rewrite computes the same
    (gate,) = find_gates(net)
    assert gate.channels == 8 and gate.se_path == "layer1.0.1"
    with torch.no_grad(), record(net) as rec:
        net(x)
        got = rec.pop()[gate.name]
        expected = block.by_hand(net.layer1[0][0](net.stem(x)))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
