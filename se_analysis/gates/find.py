"""Finding the SE gates of any model, and hooking them to record or replace their values.

A *gate* is the output of an SE block's final activation (sigmoid, hard-sigmoid, ...), of
shape (B, C, 1, 1) (or (B, C) in Linear-based blocks), just before it multiplies the features.
It is captured and replaced there, with forward hooks on that activation module:

=====================================  =====================  =========================
family                                 SE module              gate activation attribute
=====================================  =====================  =========================
timm SEModule (seresnet, regnety)      ``SEModule``           ``gate``
timm legacy SENet                      ``SEModule``           ``sigmoid``
timm EfficientNet / MobileNetV3        ``SqueezeExcite``      ``gate``
torchvision ops                        ``SqueezeExcitation``  ``scale_activation``
se_analysis default / user blocks      any two-layer SE       ``gate`` / ``sigmoid`` / ...
=====================================  =====================  =========================

ECA, CBAM, Gather-Excite, global-context and split attention are not SE and are never
reported. Gates are named as the paper does, ``SE_<stage>_<block>``: the first residual stage
is 2 and blocks count from 1 inside their stage (the rule, from timm's ``feature_info`` or the
module tree, is in :mod:`.names`). A model whose blocks sit in one flat list without
``feature_info`` (torchvision MobileNetV3) gets ``SE_<index>``, the block's index in that list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from se_analysis.gates.activation import is_gate_activation
from se_analysis.gates.functional import functional_se_blocks
from se_analysis.gates.names import gate_names

__all__ = ["Gate", "NoSEGatesError", "GateNotFiredError", "find_gates"]


_GATE_ATTRS = ("gate", "sigmoid", "scale_activation", "gate_fn", "gate_act", "excitation_act", "act_gate")
_KNOWN_SE_CLASSES = {"SEModule", "SqueezeExcite", "SqueezeExcitation", "SEBlock", "SELayer",
                     "SqueezeExcitationBlock", "EffectiveSEModule", "SqueezeExcitationModule"}
_NOT_SE = re.compile(r"eca|cbam|channelattn|gather|globalcontext|selectivekernel|splitattn|coordatt|"
                     r"bottleneckattn|haloattn|lambdalayer|nonlocal|bat", re.IGNORECASE)


class NoSEGatesError(ValueError):
    """The model has no Squeeze-and-Excitation gate that this tool can find."""


class GateNotFiredError(ValueError):
    """A hooked gate produced no value during a forward pass."""


@dataclass(frozen=True)
class Gate:
    """One SE gate of a model.

    Attributes:
        name: paper-style name, e.g. ``SE_4_6``.
        path: module path of the gate activation, e.g. ``layer3.5.se.gate``.
        se_path: module path of the whole SE block.
        channels: C, the number of channels it rescales.
        depth: 0-based position among the model's gates, in forward order.
        stage: stage number (first residual stage is 2), or 0 in flat models.
        position: block number inside its stage, from 1 (index in the list for flat models).
            ("block" elsewhere means the whole SE block, named by ``name``.)
    """

    name: str
    path: str
    se_path: str
    channels: int
    depth: int
    stage: int
    position: int


def _gate_candidate(module: nn.Module) -> tuple[str, list[nn.Module]] | None:
    """(relative path of the gate activation, the block's Conv2d/Linear layers in order), or None.

    The gate is a direct child (any attribute name: ``gate``, ``sigmoid``, ``hsigmoid``, ``act`` ...
    as long as it is a sigmoid-type activation), or the last module of a ``nn.Sequential`` child
    (``SELayer``'s ``fc = Sequential(Linear, ReLU, Linear, Sigmoid)``; MobileNetV3's reference
    ``SeModule`` with pooling, 1x1 convs, BN and Hardsigmoid in one Sequential).
    """
    children = dict(module.named_children())
    direct = [a for a in _GATE_ATTRS if a in children and is_gate_activation(children[a])]
    direct += [a for a, c in children.items() if a not in direct and is_gate_activation(c)]
    layers = [c for c in children.values() if isinstance(c, (nn.Conv2d, nn.Linear))]
    if direct:
        return direct[0], layers
    for name, child in children.items():
        if isinstance(child, nn.Sequential) and len(child) and is_gate_activation(child[-1]):
            inner = [c for c in child if isinstance(c, (nn.Conv2d, nn.Linear))]
            return f"{name}.{len(child) - 1}", layers + inner
    return None


def _se_gate_attr(module: nn.Module) -> tuple[str, int] | None:
    """(gate path relative to ``module``, channels) when ``module`` is an SE block, else None."""
    cls = type(module).__name__
    if _NOT_SE.search(cls):
        return None
    hit = _gate_candidate(module)
    if hit is None:
        return None
    gate_attr, layers = hit
    if cls in _KNOWN_SE_CLASSES and layers:
        last = layers[-1]
        return gate_attr, int(getattr(last, "out_channels", getattr(last, "out_features", 0)))
    # Structural test for user-written blocks: reduce (C -> h) then expand (h -> C), 1x1 or Linear.
    if len(layers) != 2:
        return None
    reduce_, expand = layers
    if any(getattr(m, "kernel_size", (1, 1)) != (1, 1) for m in (reduce_, expand)):  # 1x1 convs (or Linear)
        return None
    c_in = getattr(reduce_, "in_channels", getattr(reduce_, "in_features", None))
    hidden = getattr(reduce_, "out_channels", getattr(reduce_, "out_features", None))
    c_out = getattr(expand, "out_channels", getattr(expand, "out_features", None))
    h_in = getattr(expand, "in_channels", getattr(expand, "in_features", None))
    if c_in == c_out and hidden == h_in and hidden is not None and hidden <= c_in:
        return gate_attr, int(c_out)
    return None


def find_gates(model: nn.Module) -> list[Gate]:
    """Every SE gate of ``model``, in forward (registration) order.

    Raises:
        NoSEGatesError: when the model has no SE block (ECA and other attention do not count).
    """
    found: list[tuple[str, str, int]] = []
    claimed: set[str] = set()  # gate modules already found through an enclosing block
    for path, module in model.named_modules():
        hit = _se_gate_attr(module)
        if hit is not None:
            gate_path = f"{path}.{hit[0]}" if path else hit[0]
            if gate_path not in claimed:
                claimed.add(gate_path)
                found.append((path, hit[0], hit[1]))
    if not found:
        functional = functional_se_blocks(model)
        if functional:
            path, what = functional[0]
            raise NoSEGatesError(
                f"{type(model).__name__}: SE block {path or '(the model)'} {what}, which a hook cannot reach"
                f"{f' (and {len(functional) - 1} more)' if len(functional) > 1 else ''}; call "
                "se_analysis.make_hookable(model) first, which turns the call into a `gate` module")
        raise NoSEGatesError(
            f"{type(model).__name__} has no Squeeze-and-Excitation gates (looked for SE blocks with a "
            "sigmoid-type gate after a reduce/expand pair; ECA, CBAM and other attention are not SE)."
        )
    names = gate_names(model, [p for p, _, _ in found])
    return [
        Gate(name=name, path=f"{path}.{attr}" if path else attr, se_path=path, channels=ch, depth=i,
             stage=stage, position=block)
        for i, ((path, attr, ch), (name, stage, block)) in enumerate(zip(found, names))
    ]
