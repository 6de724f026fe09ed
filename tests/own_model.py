"""A researcher's own SE network, written by hand (no timm, torchvision or se_analysis class), for the tests of
``--model tests/own_model.py:build``, ``SE_ANALYSIS_MODELS`` and ablations of such a model.

``build`` is a tiny SE-ResNet: stem, two stages of two residual blocks, each with a hand-written SE block
(``ChannelGate``: pool, 1x1 reduce, ReLU, 1x1 expand, sigmoid), four classes. ``build_functional`` applies its
gate as a function (``x * torch.sigmoid(...)``); ``build_plain`` has no SE at all.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelGate(nn.Module):
    """Squeeze-and-Excitation, by hand: s = sigmoid(W2 relu(W1 mean(x))), x * s."""

    def __init__(self, channels: int, reduction: int = 4, functional: bool = False) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.down = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU()
        self.up = nn.Conv2d(channels // reduction, channels, 1)
        self.functional = functional
        if not functional:
            self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.up(self.relu(self.down(self.pool(x))))
        return x * (torch.sigmoid(z) if self.functional else self.sigmoid(z))


class Residual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, se: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.gate = ChannelGate(c_out, functional=se == "functional") if se != "none" else nn.Identity()
        self.short = (nn.Identity() if stride == 1 and c_in == c_out
                      else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(self.gate(y) + self.short(x))


class TinySENet(nn.Module):
    def __init__(self, num_classes: int = 4, widths=(8, 16), se: str = "module") -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(Residual(c, w, 1 if i == 0 else 2, se), Residual(w, w, 1, se)))
            c = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def _seeded(se: str, num_classes: int = 4) -> TinySENet:
    torch.manual_seed(0)  # the same weights on every call: a Run's model is built again for its ablations
    model = TinySENet(num_classes, se=se)
    for m in model.modules():  # BN statistics as after training, so that the gates differ between images
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


def build() -> nn.Module:
    """The tiny SE-ResNet with hand-written SE blocks (gates as ``nn.Sigmoid`` modules)."""
    return _seeded("module")


def build_functional() -> nn.Module:
    """The same network whose SE blocks apply their gate as ``torch.sigmoid``."""
    return _seeded("functional")


def build_plain() -> nn.Module:
    """The same network without SE blocks."""
    return _seeded("none")


def build_imagenet() -> nn.Module:
    """The SE network with 1000 outputs (ImageNet's class names by default)."""
    return _seeded("module", num_classes=1000)
