"""The Fashion-MNIST SE-ResNet (``fmnist-se-resnet``): a small, paper-faithful SE-ResNet for 28x28 grayscale images.

Each residual block is conv3x3-BN-ReLU-conv3x3-BN, then an SE block rescales the residual
branch *before* the identity addition (Hu et al., Fig. 3, "SE-ResNet module"). Stages are
numbered as in the paper: the stem is stage 1, the residual stages are 2, 3 and 4, so the
gates are named ``SE_2_1 ... SE_4_3``.

Reduction ratio: the paper uses r=16 on 256..2048 channels. At our widths (16..64) r=16
would leave 1..6 hidden units, so we use r=4 with at least 8 hidden units, which keeps the
bottleneck's *relative* capacity near the paper's (its Table 10 shows r is not critical).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

__all__ = ["SEBlock", "BasicSEBlock", "SEResNetConfig", "SEResNet", "FASHION_MNIST_MEAN", "FASHION_MNIST_STD"]

FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


class SEBlock(nn.Module):
    """Squeeze-and-Excitation: ``x * sigmoid(W2 relu(W1 mean_hw(x)))``.

    Args:
        channels: C, the channels of the feature map it recalibrates.
        reduction: r, the bottleneck ratio of the excitation MLP.
        min_hidden: a floor for the hidden width C // r.

    Shape: (B, C, H, W) -> (B, C, H, W). The gate ``self.gate`` outputs (B, C, 1, 1).
    """

    def __init__(self, channels: int, reduction: int = 4, min_hidden: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(2, 3), keepdim=True)  # squeeze: (B, C, 1, 1)
        s = self.gate(self.fc2(self.relu(self.fc1(z))))  # excitation: (B, C, 1, 1)
        return x * s


class BasicSEBlock(nn.Module):
    """ResNet basic block with SE on the residual branch, before the addition."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, reduction: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.se = SEBlock(out_ch, reduction)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return self.relu(out + self.downsample(x))


@dataclass(frozen=True)
class SEResNetConfig:
    """Hyper-parameters of :class:`SEResNet`; stored in the model card and checkpoint metadata."""

    in_channels: int = 1
    num_classes: int = 10
    widths: tuple[int, ...] = (16, 32, 64)
    depths: tuple[int, ...] = (3, 3, 3)
    reduction: int = 4
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"], d["depths"] = list(self.widths), list(self.depths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SEResNetConfig":
        return cls(**{**d, "widths": tuple(d["widths"]), "depths": tuple(d["depths"])})


class SEResNet(nn.Module):
    """SE-ResNet for small images: stem, stages 2..(1+len(widths)), global pool, linear head.

    Shape: (B, in_channels, H, W) -> logits (B, num_classes). Stage 2 keeps the input
    resolution; each later stage halves it (28 -> 28, 14, 7).
    """

    def __init__(self, config: SEResNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or SEResNetConfig()
        c = self.config
        self.stem = nn.Sequential(
            nn.Conv2d(c.in_channels, c.widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(c.widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_ch = c.widths[0]
        for i, (width, depth) in enumerate(zip(c.widths, c.depths)):
            blocks = [
                BasicSEBlock(in_ch if b == 0 else width, width, 2 if (b == 0 and i > 0) else 1, c.reduction)
                for b in range(depth)
            ]
            stages.append(nn.Sequential(*blocks))
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, c.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))
