"""The preprocessing of Google's MobileNetV3 TFLite model, shared by PyTorch and the interpreter.

TF-slim's ImageNet evaluation: a central crop of 87.5 % of each side, a bilinear resize to
224 x 224, uint8 RGB. The TFLite input is quantised with scale 1/127 and zero point 128, so the
float network sees ``(x - 128) / 127``. Both sides of a fidelity comparison take the same uint8
array, so any difference between them is the network's, not the preprocessing's.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["INPUT_ZERO_POINT", "INPUT_SCALE", "CENTRAL_FRACTION", "tf_uint8_image", "float_input", "TFInput"]

INPUT_ZERO_POINT = 128
INPUT_SCALE = 1.0 / 127.0
CENTRAL_FRACTION = 0.875


def tf_uint8_image(img: Image.Image, size: int = 224, central_fraction: float = CENTRAL_FRACTION) -> np.ndarray:
    """PIL image -> (size, size, 3) uint8: ``tf.image.central_crop`` then a bilinear resize.

    The crop offsets follow TF's ``central_crop``: ``start = int((side - side * fraction) / 2)``
    and ``extent = side - 2 * start``.
    """
    img = img.convert("RGB")
    w, h = img.size
    top, left = int((h - h * central_fraction) / 2), int((w - w * central_fraction) / 2)
    img = img.crop((left, top, w - left, h - top)).resize((size, size), Image.BILINEAR)
    return np.array(img, dtype=np.uint8)  # a writable copy


def float_input(x: torch.Tensor) -> torch.Tensor:
    """uint8 RGB (..., 3, H, W) -> the float tensor the network sees: the TFLite input dequantised."""
    return (x.float() - INPUT_ZERO_POINT) * INPUT_SCALE


class TFInput:
    """PIL image -> (3, size, size) float tensor ``(x - 128) / 127``, the TFLite input dequantised.

    A class rather than a lambda so that DataLoader workers can pickle it.
    """

    def __init__(self, size: int = 224, central_fraction: float = CENTRAL_FRACTION) -> None:
        self.size, self.central_fraction = size, central_fraction

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return float_input(torch.from_numpy(tf_uint8_image(img, self.size, self.central_fraction)).permute(2, 0, 1))

    def describe(self) -> dict:
        return {"central_crop": self.central_fraction, "size": [self.size, self.size], "resize": "bilinear",
                "input": "uint8 RGB, (x - 128) / 127"}
