"""What an SE gate is computed from: the block's input ``U``, its squeeze ``z`` and the excitation ``z -> g``.

An SE block computes ``z = mean_{i,j} U(:, i, j)`` (B, C), then the excitation's pre-activation
``g = W2 act(W1 z + b1) + b2`` (B, C) through its own layers, then the gate ``s = sigma(g)``.
:func:`preactivation_fn` evaluates ``z -> g`` through the SE module itself: it feeds ``z`` as a
1 x 1 feature map (whose mean is ``z``), and reads the input of the gate activation module
(found by :func:`~se_analysis.gates.find_gates`) with a forward pre-hook. So it works for any
block whose gate is a module: timm ``SqueezeExcite`` (``conv_reduce/act1/conv_expand/gate``),
timm ``SEModule`` (``fc1/bn/act/fc2/gate``), torchvision ``SqueezeExcitation``
(``fc1/activation/fc2/scale_activation``), the bundled SE-ResNet's ``SEBlock`` and user blocks
of the same shape, without knowing their layer names. Hooks are always removed (try/finally),
under the model's lock.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from se_analysis.gates.find import Gate
from se_analysis.gates.locks import model_lock
from se_analysis.models.senet import SENet

__all__ = ["gate_of", "channel_of", "check_differentiable", "squeeze_of", "reference_squeeze", "preactivation_fn",
           "network_preactivation",
           "hidden_kinks"]


class _Captured(Exception):
    """Raised by a hook once it has what it needs, to stop the rest of the forward pass."""


def gate_of(model: SENet, block: str) -> Gate:
    """The :class:`~se_analysis.gates.Gate` named ``block`` (e.g. ``SE_4_3``).

    Raises:
        ValueError: naming the model's blocks, when it has none of that name.
    """
    for g in model.gates:
        if g.name == block:
            return g
    raise ValueError(f"no SE block named {block!r}; {model.name} has {', '.join(g.name for g in model.gates)}")


def channel_of(gate: Gate, channel: int | None) -> int | None:
    """``channel`` checked against the gate's width (None passes: the whole block).

    Raises:
        ValueError: when the channel is outside ``0 .. C-1``.
    """
    if channel is not None and not 0 <= int(channel) < gate.channels:
        raise ValueError(f"channel {channel} is out of range: {gate.name} has {gate.channels} channels "
                         f"(0 to {gate.channels - 1})")
    return None if channel is None else int(channel)


def check_differentiable(model: SENet) -> None:
    """Refuse a model whose activations are rounded (the default ``deployed``): its gradients are zero.

    Raises:
        ValueError: saying to use the float activations.
    """
    if model.activations != "float":
        raise ValueError(f"the microscope follows gradients, and {model.name}'s {model.activations} activations are "
                         "rounded (zero gradient): use the float activations (--activations float)")


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def _hook(module: nn.Module, owner: nn.Module, pre_hook: Callable) -> Iterator[None]:
    """A forward pre-hook on ``module`` for the ``with`` block, under ``owner``'s lock; always removed."""
    with model_lock(owner):
        handle = module.register_forward_pre_hook(pre_hook)
        try:
            yield
        finally:
            handle.remove()


def squeeze_of(model: SENet, images: torch.Tensor, block: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of an SE block and its squeeze for preprocessed images.

    Args:
        model: the network.
        images: (B, C_in, H_in, W_in) preprocessed images (the model's ``transform`` output, stacked).
        block: gate name, e.g. ``SE_4_3``.

    Returns:
        ``U`` (B, C, H, W), the feature map entering the SE block, and ``z`` (B, C), its mean over
        (H, W); both float32, detached, on the CPU. The forward pass stops at the block.
    """
    gate = gate_of(model, block)
    with torch.no_grad():
        u = _input_of(model, gate.se_path, images, block).detach().to("cpu", torch.float32, copy=True)
    if u.ndim != 4:
        raise ValueError(f"{block} takes input of shape {tuple(u.shape)}, not a (B, C, H, W) feature map")
    return u, u.mean(dim=(2, 3))


def reference_squeeze(model: SENet, images: Iterable[torch.Tensor] | torch.Tensor, block: str) -> torch.Tensor:
    """The mean squeeze ``z`` (C,) of an SE block over reference images (float64, CPU).

    Args:
        images: a (B, C_in, H, W) batch, or an iterable of such batches (or of single (C_in, H, W) images).
    """
    batches = [images] if isinstance(images, torch.Tensor) else images
    total, n = None, 0
    for x in batches:
        x = x.unsqueeze(0) if x.ndim == 3 else x
        _, z = squeeze_of(model, x, block)
        s = z.double().sum(0)
        total, n = (s if total is None else total + s), n + z.shape[0]
    if not n:
        raise ValueError("no reference images")
    return total / n


def network_preactivation(model: SENet, images: torch.Tensor, block: str) -> torch.Tensor:
    """The gate pre-activation (B, C) of ``block`` for network inputs (B, C_in, H, W), differentiable.

    The forward pass stops at the gate (its activation's input is read by a pre-hook, always
    removed); gradients flow back to ``images`` when it requires them.
    """
    gate = gate_of(model, block)
    return _input_of(model, gate.path, images, block).reshape(images.shape[0], -1)


def _input_of(model: SENet, path: str, images: torch.Tensor, block: str) -> torch.Tensor:
    """The input of the submodule at ``path`` for network inputs ``images``: the forward pass runs until a
    pre-hook (always removed) reads it, and stops there."""
    got: list[torch.Tensor] = []

    def grab(_m: nn.Module, inputs: tuple) -> None:
        got.append(inputs[0])
        raise _Captured

    with _hook(model.module.get_submodule(path), model.module, grab):
        try:
            model.module(images.to(_device(model.module)))
        except _Captured:
            pass
    if not got:
        raise RuntimeError(f"{block} ({path}) is not on the model's forward path")
    return got[0]


def _excitation(model: SENet, gate: Gate, dtype: torch.dtype | None) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(SE module to run, its gate activation, the module whose lock to hold); a float64 copy when asked."""
    se = model.module.get_submodule(gate.se_path)
    rel = gate.path[len(gate.se_path) + 1:] if gate.se_path else gate.path
    if dtype is not None and dtype != next(se.parameters()).dtype:
        se = copy.deepcopy(se).to(dtype)
    return se, se.get_submodule(rel), model.module


def preactivation_fn(model: SENet, block: str, dtype: torch.dtype | None = None
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The excitation's pre-activation as a differentiable function of the squeeze.

    Args:
        model: the network.
        block: gate name.
        dtype: run the excitation in this dtype (a copy of the SE module; e.g. ``torch.float64``
            for exact sums); default: the module's own.

    Returns:
        ``f(z)``: (B, C) squeeze -> (B, C) pre-activation ``W2 act(W1 z + b1) + b2``, the input of the
        gate's activation (before the sigmoid / hard-sigmoid), computed by the SE module's own layers.
    """
    gate = gate_of(model, block)
    se, act, owner = _excitation(model, gate, dtype)
    dt = next(se.parameters()).dtype

    def f(z: torch.Tensor) -> torch.Tensor:
        got: list[torch.Tensor] = []

        def grab(_m: nn.Module, inputs: tuple) -> tuple:
            got.append(inputs[0])
            raise _Captured

        was_training = se.training
        se.eval()
        try:
            with _hook(act, owner, grab):
                try:
                    se(z.to(device=_device(se), dtype=dt).reshape(z.shape[0], z.shape[1], 1, 1))
                except _Captured:
                    pass
        finally:
            se.train(was_training)
        if not got:
            raise RuntimeError(f"the gate activation of {block} did not run")
        return got[0].reshape(z.shape[0], -1)

    f.activation = act  # the gate's nonlinearity, for the gate value after it
    f.module, f.owner = se, owner
    return f


def _kinks_of(m: nn.Module) -> tuple[float, ...] | None:
    """Where a piecewise activation changes piece (None for a smooth or unknown one)."""
    if isinstance(m, nn.Hardtanh):  # includes ReLU6
        return (float(m.min_val), float(m.max_val))
    name = type(m).__name__.lower()
    if isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.CELU)) or name in ("relu", "leakyrelu"):
        return (0.0,)
    if name.startswith(("hardswish", "hard_swish", "hswish", "hardsigmoid", "hard_sigmoid", "hsigmoid")):
        return (-3.0, 3.0)
    return None


def _run_hooked(f: Callable, targets: list[nn.Module], grab: Callable, hooks: list, z0: torch.Tensor,
                z1: torch.Tensor) -> None:
    """``f`` at a = 0, 1/2, 1 with ``grab`` as a pre-hook on ``targets``; the hooks always removed."""
    try:
        for m in targets:
            hooks.append(m.register_forward_pre_hook(grab))
        a = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
        with torch.no_grad():
            f(z0.double()[None] + a[:, None] * (z1.double() - z0.double())[None])
    finally:
        for h in hooks:
            h.remove()


def hidden_kinks(f: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor, z1: torch.Tensor) -> list[float]:
    """The points ``a`` in (0, 1) where ``f``'s excitation changes piece along ``z0 + a (z1 - z0)``, sorted.

    Found for every piecewise activation inside the SE module (ReLU, ReLU6, hard-swish ...; not
    the gate) whose input is affine in ``a`` along the path (checked at a = 0, 1/2, 1): the input
    of the first activation after a linear layer, as in every two-layer excitation. Between these
    points the pre-activation is a polynomial of low degree in ``a``, so a Gauss-Legendre rule on
    each piece integrates its gradient exactly.
    """
    se, act = f.module, f.activation
    targets = [m for m in se.modules() if m is not act and m is not se and _kinks_of(m) is not None]
    seen: dict[int, torch.Tensor] = {}
    hooks = []

    def grab(m: nn.Module, inputs: tuple) -> None:
        seen[id(m)] = inputs[0].detach().reshape(3, -1).double().clone()

    with model_lock(f.owner):
        _run_hooked(f, targets, grab, hooks, z0, z1)
    points = []
    for m in targets:
        p = seen.get(id(m))
        if p is None:
            continue
        p0, mid, p1 = p
        scale = 1.0 + float(p.abs().max())
        if float((mid - (p0 + p1) / 2).abs().max()) > 1e-5 * scale:  # not affine along the path
            continue
        slope = p1 - p0
        for k in _kinks_of(m):
            ok = slope.abs() > 1e-12 * scale
            cross = (k - p0[ok]) / slope[ok]
            points += cross[(cross > 0) & (cross < 1)].tolist()
    return sorted(set(round(x, 12) for x in points))
