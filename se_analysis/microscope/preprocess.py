"""A model's preprocessing as a differentiable map from RGB in [0, 1] to the network input, and back.

Feature visualisation optimises an RGB image in [0, 1] and must show it to the network as the
model's own ``transform`` would. Every transform here (TF's ``(x - 128) / 127`` for the default,
``Normalize(mean, std)`` for timm / torchvision weights, grayscale + normalise for the
Fashion-MNIST model) is, on colours, an affine map ``x = W rgb + b`` with ``W`` (C_in, 3).
:func:`input_map` measures it by passing constant-colour images (black, red, green, blue) through
the model's own ``transform``, so it needs no knowledge of which transform it is, and reads the
input size from the same pass. Resizing and cropping leave a constant image constant; they are
not part of the map (the optimised image is made at the network's input size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from se_analysis.models.senet import SENet

__all__ = ["InputMap", "input_map", "model_view"]

_PROBE = 320  # side of the constant-colour probe images


@dataclass(frozen=True)
class InputMap:
    """``x = weight @ rgb + bias`` per pixel: RGB in [0, 1] -> the network's input channels.

    Attributes:
        weight: (C_in, 3).
        bias: (C_in,).
        size: (H, W) of the network input the transform makes.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    size: tuple[int, int]

    def __call__(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, C_in, H, W) network input (differentiable)."""
        w, b = self.weight.to(rgb), self.bias.to(rgb)
        return torch.einsum("cj,bjhw->bchw", w, rgb) + b[None, :, None, None]

    def to_rgb(self, x: torch.Tensor) -> np.ndarray:
        """A network input (C_in, H, W) -> (H, W, 3) uint8 RGB, what the model sees (gray for one channel)."""
        x = x.detach().double().cpu()
        w, b = self.weight.double(), self.bias.double()
        flat = x.reshape(x.shape[0], -1) - b[:, None]
        if x.shape[0] == 1:
            rgb = (flat / w.sum()).expand(3, -1)
        else:
            rgb = torch.linalg.pinv(w) @ flat
        img = rgb.reshape(3, *x.shape[1:]).permute(1, 2, 0).clamp(0, 1)
        return (img.numpy() * 255 + 0.5).astype(np.uint8)


def _constant(model: SENet, rgb: tuple[int, int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    img = Image.new("RGB", (_PROBE, _PROBE), rgb)
    x = model.transform(img)
    return x.reshape(x.shape[0], -1).double().mean(1), (int(x.shape[-2]), int(x.shape[-1]))


def input_map(model: SENet) -> InputMap:
    """The model's preprocessing on colours, measured through its own ``transform`` (see the module docstring)."""
    black, size = _constant(model, (0, 0, 0))
    columns = [(_constant(model, c)[0] - black) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    weight = torch.stack(columns, dim=1).float()
    return InputMap(weight=weight, bias=black.float(), size=size)


def model_view(model: SENet, x: torch.Tensor) -> np.ndarray:
    """A preprocessed image (C_in, H, W) as (H, W, 3) uint8 RGB: what the network sees, for figures."""
    return input_map(model).to_rgb(x)
