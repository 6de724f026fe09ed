"""What counts as a gate activation module: a parameter-free sigmoid-type module.

Both :mod:`.find` (SE blocks with a gate module) and :mod:`.functional` (SE-shaped blocks
without one) ask this question, so it lives below both.
"""

from __future__ import annotations

from torch import nn

__all__ = ["is_gate_activation"]


def is_gate_activation(m: nn.Module) -> bool:
    """Whether ``m`` is a gate activation: a sigmoid-type module (or one named ``gate``) with no parameters.

    The test is on the class name (``Sigmoid``, ``Hardsigmoid``, a user's ``HSigmoid`` ...), so
    activations written outside torch count too.
    """
    name = type(m).__name__.lower()
    return ("sigmoid" in name or name in {"hardswish_gate", "gate"}) and not any(True for _ in m.parameters())
