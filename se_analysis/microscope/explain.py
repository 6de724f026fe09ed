"""Where in an image an SE gate opens: integrated gradients of the gate's pre-activation, spread over locations.

The gate of channel ``c`` sees the image only through the squeeze ``z = mean_{i,j} U(:, i, j)``.
With ``g_c`` the excitation's *pre-activation* (before the sigmoid / hard-sigmoid: a saturated
hard-sigmoid has no gradient) and a reference squeeze ``z0``, integrated gradients along the
straight path ``z0 -> z`` give ``IG_k = (z_k - z0_k) * I_k`` with
``I_k = int_0^1 dg_c/dz_k (z0 + a (z - z0)) da``, and ``sum_k IG_k = g_c(z) - g_c(z0)``. Since
``z_k - z0_k = sum_{i,j} (U_k(i, j) - z0_k) / HW``, each location gets

    contribution(i, j) = sum_k (U_k(i, j) - z0_k) / HW * I_k,

and the map sums to ``g_c(z) - g_c(z0)``. Positive locations open the gate (relative to the
reference), negative ones close it. The map has the feature map's resolution (H, W).

Quadrature: Gauss-Legendre. The path is first cut where a piecewise activation inside the
excitation (the ReLU between its two layers, a hard-swish ...) changes piece
(:func:`~se_analysis.microscope.excitation.hidden_kinks`); each piece gets ``ceil(steps * length)``
nodes (at least one). Between the cuts a ReLU / hard-swish excitation is a polynomial of degree
<= 2 in ``a``, so its gradient is integrated exactly and the map sums to the change to float64
rounding; smooth excitations (SiLU) converge fast in ``steps``. All path points go through the
excitation alone (the SE module's own layers, in float64), in one batch; the network runs once,
up to the block, for ``U``.

Whole block (``channel=None``): the map is ``sum_c |contribution map of channel c|`` (how much each
location moves any gate, either way); ``preactivation`` is then the total movement
``sum_c |g_c(z) - g_c(z0)|``, ``reference_preactivation`` is 0, and ``sum_contributions`` is at
least the movement (equal when no location pushes a channel against its net change).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from se_analysis.microscope.excitation import (
    channel_of,
    check_differentiable,
    gate_of,
    hidden_kinks,
    preactivation_fn,
    reference_squeeze,
    squeeze_of,
)
from se_analysis.models.senet import SENet

__all__ = ["Explanation", "explain", "path_rule", "overlay_map", "reference_text", "squeeze_of",
           "reference_squeeze", "preactivation_fn"]

_REFERENCES = {"zero": "reference: zero squeeze (z0 = 0)", "mean": "reference: mean squeeze of reference images"}
_CHUNK = 32  # output channels per batched backward pass (the block's Jacobian)


@dataclass
class Explanation:
    """Where one gate (or a whole block) opens in one image.

    Attributes:
        block: gate name, e.g. ``SE_4_3``.
        channel: the channel, or None for the whole block.
        contributions: (H, W) map at the feature map's resolution; sums to ``sum_contributions``.
        preactivation: ``g_c(z)``; for a block, ``sum_c |g_c(z) - g_c(z0)|``.
        reference_preactivation: ``g_c(z0)``; for a block, 0.
        sum_contributions: the map's sum (``g_c(z) - g_c(z0)`` for a channel, up to rounding).
        reference: the reference, in words for a figure.
        gate: the gate value after the nonlinearity, ``sigma(g_c(z))`` (None for a block).
    """

    block: str
    channel: int | None
    contributions: np.ndarray
    preactivation: float
    reference_preactivation: float
    sum_contributions: float
    reference: str
    gate: float | None


@functools.lru_cache(maxsize=64)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def path_rule(breaks: Sequence[float], steps: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes and weights on [0, 1], cut at ``breaks``.

    Each piece ``[lo, hi]`` gets ``max(1, ceil(steps * (hi - lo)))`` nodes; the weights sum to 1.

    Returns:
        (nodes (N,), weights (N,)), float64.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    edges = [0.0, *sorted(b for b in breaks if 0.0 < b < 1.0), 1.0]
    nodes, weights = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi - lo <= 0:
            continue
        x, w = _legendre(max(1, math.ceil(steps * (hi - lo) - 1e-9)))
        nodes.append(lo + (x + 1.0) * (hi - lo) / 2.0)
        weights.append(w * (hi - lo) / 2.0)
    return np.concatenate(nodes), np.concatenate(weights)


def reference_text(reference: str) -> str:
    """``zero`` / ``mean`` in words for a figure; any other text is kept as given."""
    return _REFERENCES.get(reference, reference)


def _jacobian(path: torch.Tensor, g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``sum_n w_n dg_c/dz_k (path_n)``: (C_out, C_in), by batched backward passes over output channels."""
    c = g.shape[1]
    rows = []
    for start in range(0, c, _CHUNK):
        idx = torch.arange(start, min(start + _CHUNK, c))
        go = torch.zeros(len(idx), *g.shape, dtype=g.dtype)
        go[torch.arange(len(idx)), :, idx] = w[None, :].expand(len(idx), -1)
        try:
            (grads,) = torch.autograd.grad(g, path, go, retain_graph=True, is_grads_batched=True)
        except RuntimeError:  # an op without a batching rule: one backward pass per channel
            grads = torch.stack([torch.autograd.grad(g, path, o, retain_graph=True)[0] for o in go])
        rows.append(grads.sum(1))
    return torch.cat(rows)


def explain(model: SENet, image: torch.Tensor, block: str, channel: int | None = None,
            z0: torch.Tensor | None = None, reference: str = "zero", steps: int = 64) -> Explanation:
    """Where in ``image`` the gate of ``channel`` at ``block`` opens (or the whole block moves).

    Args:
        model: the network.
        image: one preprocessed image, (C_in, H_in, W_in) (the model's ``transform`` output).
        block: gate name, e.g. ``SE_4_3``.
        channel: a channel of the block, or None for the whole block (see the module docstring).
        z0: the reference squeeze (C,); None: zeros. :func:`reference_squeeze` gives the mean one.
        reference: ``zero``, ``mean`` or a sentence for the figure (e.g. "reference: mean squeeze
            over 250 reference images").
        steps: Gauss-Legendre nodes along the path (plus one per piece where it is cut).

    Returns:
        An :class:`Explanation`; ``contributions`` is (H, W), the block input's resolution.

    Raises:
        ValueError: unknown block, channel out of range, a wrong image or ``z0`` shape, rounded activations.
    """
    gate = gate_of(model, block)
    channel = channel_of(gate, channel)
    check_differentiable(model)
    if image.ndim != 3:
        raise ValueError(f"explain takes one preprocessed image (C, H, W), not shape {tuple(image.shape)}")
    u = squeeze_of(model, image[None], block)[0][0].double()
    z = u.mean(dim=(1, 2))  # in float64, so that the map sums exactly to the change
    if z0 is None:
        if reference == "mean":
            raise ValueError("reference 'mean' needs z0 (the mean squeeze: reference_squeeze)")
        z0 = torch.zeros_like(z)
    z0 = z0.detach().to("cpu", torch.float64).reshape(-1)
    if z0.shape != z.shape:
        raise ValueError(f"z0 has {z0.numel()} values; {block} has {z.numel()} channels")
    f = preactivation_fn(model, block, dtype=torch.float64)
    a, w = (torch.from_numpy(v) for v in path_rule(hidden_kinks(f, z0, z), steps))
    path = (z0[None] + a[:, None] * (z - z0)[None]).requires_grad_(True)
    g = f(path)
    with torch.no_grad():
        g0, g1 = f(torch.stack([z0, z]))
    d = (u - z0[:, None, None]) / (u.shape[1] * u.shape[2])  # (C, H, W)
    if channel is not None:
        (grads,) = torch.autograd.grad((g[:, channel] * w).sum(), path)
        contributions = torch.einsum("k,khw->hw", grads.sum(0), d)
        pre, ref = float(g1[channel]), float(g0[channel])
        with torch.no_grad():
            value = float(f.activation(g1.reshape(1, -1, 1, 1)).reshape(-1)[channel])
    else:
        maps = torch.einsum("ck,khw->chw", _jacobian(path, g, w), d)
        contributions = maps.abs().sum(0)
        pre, ref, value = float((g1 - g0).abs().sum()), 0.0, None
    out = contributions.detach().numpy()
    return Explanation(block=block, channel=channel, contributions=out, preactivation=pre,
                       reference_preactivation=ref, sum_contributions=float(out.sum()),
                       reference=reference_text(reference), gate=value)


def overlay_map(contributions: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """A (h, w) map resized bilinearly to ``size`` (H, W) (or a square side), for drawing over the image.

    The resized map keeps the map's units per location of the feature map (not per pixel).
    """
    hw = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    t = torch.as_tensor(np.asarray(contributions, dtype=np.float64))[None, None]
    return F.interpolate(t, size=hw, mode="bilinear", align_corners=False)[0, 0].numpy()
