"""Lucid's image parameterisation and robustness transforms, in plain torch.

Following Olah et al., *Feature Visualization* (Distill 2017) and the Lucid library
(``lucid/optvis/param/spatial.py``, ``color.py``, ``transform.py``; ported to PyTorch as Lucent):

* the image is a random complex spectrum (``rfft2`` layout, sd 0.01) scaled by ``1 / f``
  (frequencies below ``1 / max(H, W)`` clamped), brought back with an orthonormal inverse FFT and
  divided by 4 (Lucid's constant): every frequency then moves at a similar rate under Adam;
* the three channels are decorrelated colours: multiplied by the square root of ImageNet's colour
  correlation (its SVD factor, columns scaled to unit norm at most), then a sigmoid to [0, 1];
* before each step the image is padded (constant 0.5, 12 px), jittered (a random crop 8 px
  smaller), scaled by a random factor in 0.90 ... 1.10, rotated by a random angle in -10 ... 10
  degrees (0 more often) and jittered again (4 px). Lucid's pixel amounts are for 224 px images;
  here they scale with the side (so a 28 px Fashion-MNIST image gets 2 px of padding).

Every random choice comes from one ``numpy.random.Generator``, so a seed fixes the result.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["COLOR_CORRELATION_SVD_SQRT", "spectrum_scale", "random_spectrum", "spectrum_to_image", "to_rgb",
           "random_transform"]

COLOR_CORRELATION_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02],
                                         [0.27, 0.00, -0.05],
                                         [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOR = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
_MAGIC = 4.0  # Lucid's: the spectrum's image is divided by it (less saturation)
_SCALES = [1 + (i - 5) / 50.0 for i in range(11)]
_ANGLES = list(range(-10, 11)) + 5 * [0]


def spectrum_scale(h: int, w: int, decay_power: float = 1.0) -> torch.Tensor:
    """``1 / max(f, 1 / max(h, w)) ** decay_power`` for each ``rfft2`` bin: (h, w // 2 + 1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    return torch.from_numpy(1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power).float()


def random_spectrum(h: int, w: int, generator: torch.Generator, sd: float = 0.01, channels: int = 3) -> torch.Tensor:
    """The parameter: (1, channels, h, w // 2 + 1, 2) real and imaginary parts, normal with ``sd``."""
    return torch.randn(1, channels, h, w // 2 + 1, 2, generator=generator) * sd


def spectrum_to_image(spectrum: torch.Tensor, scale: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(1, C, h, w // 2 + 1, 2) parameter -> (1, C, h, w) image in decorrelated, unbounded units."""
    z = torch.view_as_complex((spectrum * scale[None, None, :, :, None]).contiguous())
    return torch.fft.irfftn(z, s=(h, w), norm="ortho") / _MAGIC


def to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) decorrelated -> (B, 3, H, W) RGB in [0, 1]: colour correlation, then a sigmoid."""
    color = torch.from_numpy(_COLOR).to(image)
    return torch.sigmoid(torch.einsum("bchw,jc->bjhw", image, color))


def _jitter(x: torch.Tensor, d: int, rng: np.random.Generator) -> torch.Tensor:
    """A random crop ``d`` px smaller in each side (Lucid's ``jitter``)."""
    if d < 1:
        return x
    dy, dx = (int(v) for v in rng.integers(0, d + 1, size=2))
    return x[..., dy:x.shape[-2] - d + dy, dx:x.shape[-1] - d + dx]


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate about the centre (bilinear; corners outside filled with 0)."""
    if degrees == 0:
        return x
    t = math.radians(degrees)
    h, w = x.shape[-2:]
    # grid coordinates are normalised per axis: keep the rotation rigid on a non-square image
    theta = torch.tensor([[math.cos(t), -math.sin(t) * h / w, 0.0],
                          [math.sin(t) * w / h, math.cos(t), 0.0]], dtype=x.dtype)[None].expand(x.shape[0], -1, -1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_transform(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Lucid's standard transforms (pad, jitter, scale, rotate, jitter) on (B, 3, H, W) RGB, scaled to the side."""
    s = min(x.shape[-2:]) / 224.0
    pad, big, small = round(12 * s), max(1, round(8 * s)), max(1, round(4 * s))
    x = F.pad(x, [pad] * 4, mode="constant", value=0.5)
    x = _jitter(x, big, rng)
    scale = float(rng.choice(_SCALES))
    size = [max(1, math.ceil(scale * d)) for d in x.shape[-2:]]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    x = _rotate(x, float(rng.choice(_ANGLES)))
    return _jitter(x, small, rng)
