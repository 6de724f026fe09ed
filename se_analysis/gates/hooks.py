"""Recording and replacing gate values with forward hooks that are always removed.

:func:`record` and :func:`override` register a forward hook on each gate's activation module
(found by :func:`~se_analysis.gates.find.find_gates`) for the duration of a ``with`` block, under
the model's lock (:func:`~se_analysis.gates.locks.model_lock`), since app sessions share one model
object. Recorded values are copies, (B, C) float32; replacements may be a scalar, a (C,) or (B, C)
tensor, or a callable of the original gate output (B, C, 1, 1).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence, Union

import torch
from torch import nn

from se_analysis.gates.find import Gate, GateNotFiredError, find_gates
from se_analysis.gates.locks import model_lock

__all__ = ["GateOverride", "GateRecorder", "GateValue", "override", "record"]


def _refuse_data_parallel(model: nn.Module) -> None:
    """nn.DataParallel runs hooks on per-device replicas, each seeing a shard: refuse it plainly."""
    if isinstance(model, nn.DataParallel):
        raise ValueError("nn.DataParallel is not supported: its replicas would each record a shard of the batch. "
                         "Pass model.module (one device), or run under torchrun (one process per GPU)")


def _resolve(model: nn.Module, gates: Sequence[Gate | str] | None) -> list[Gate]:
    all_gates = find_gates(model)
    if gates is None:
        return all_gates
    by_name = {g.name: g for g in all_gates}
    out = []
    for g in gates:
        key = g if isinstance(g, str) else g.name
        if key not in by_name:
            raise KeyError(f"no gate named {key!r}; this model has {', '.join(by_name)}")
        out.append(by_name[key])
    return out


@contextmanager
def _hooked(model: nn.Module, gates: Sequence[Gate], make_hook: Callable[[str], Callable]) -> Iterator[None]:
    """Forward hooks ``make_hook(gate name)`` on each gate's activation, under the model's lock; always removed."""
    _refuse_data_parallel(model)
    modules = dict(model.named_modules())
    handles = []
    with model_lock(model):
        try:
            for g in gates:
                handles.append(modules[g.path].register_forward_hook(make_hook(g.name)))
            yield
        finally:
            for h in handles:
                h.remove()


class GateRecorder:
    """Holds the gate values of the latest forward pass: ``values[name]`` is a (B, C) float tensor."""

    def __init__(self, gates: list[Gate], device: str | torch.device | None = "cpu") -> None:
        self.gates = gates
        self.device = device
        self.values: dict[str, torch.Tensor] = {}

    def _hook(self, name: str) -> Callable:
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            # A copy, always: the model (or an in-place op after the gate) must not change what was recorded.
            self.values[name] = output.detach().reshape(output.shape[0], -1).to(
                self.device if self.device is not None else output.device, dtype=torch.float32, copy=True)
        return hook

    def pop(self, check: bool = True) -> dict[str, torch.Tensor]:
        """The values of the last forward pass; clears them so a stale batch is never reused.

        Raises:
            GateNotFiredError: (``check``) when a recorded gate produced nothing, naming it and the likely cause.
        """
        out, self.values = self.values, {}
        missing = [g for g in self.gates if g.name not in out]
        if check and missing:
            g = missing[0]
            raise GateNotFiredError(
                f"gate {g.name} ({g.path}) did not fire in the forward pass"
                f"{f' (nor {len(missing) - 1} other gates)' if len(missing) > 1 else ''}: its module is not on the "
                "model's forward path (a forward() that skips it, or a copy of the model made after hooking)")
        return out


@contextmanager
def record(model: nn.Module, gates: Sequence[Gate | str] | None = None,
           device: str | torch.device | None = "cpu") -> Iterator[GateRecorder]:
    """Record gate values during forward passes inside the ``with`` block.

    Args:
        model: any model with SE gates.
        gates: gates (or their names) to record; all by default.
        device: where recorded values are moved (``None`` keeps them on the model's device).

    Yields:
        A :class:`GateRecorder`; after each forward, ``recorder.values[name]`` is (B, C).
        Hooks are removed on exit, also when the block raises.
    """
    chosen = _resolve(model, gates)
    recorder = GateRecorder(chosen, device)
    with _hooked(model, chosen, recorder._hook):
        yield recorder


GateValue = Union[float, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


class GateOverride:
    """The replacement values in force; ``values[name]`` may be changed between batches."""

    def __init__(self, values: dict[str, GateValue]) -> None:
        self.values = values

    def _hook(self, name: str) -> Callable:
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            value = self.values.get(name)
            if value is None:
                return None
            return _replacement(value, output)
        return hook


def _replacement(value: GateValue, output: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar, (C,), (B, C) tensor or callable result to the gate output's shape."""
    b = output.shape[0]
    flat_shape = (b, output[0].numel())
    if callable(value) and not isinstance(value, torch.Tensor):
        value = value(output)
    if not isinstance(value, torch.Tensor):
        return torch.full_like(output, float(value))
    v = value.to(device=output.device, dtype=output.dtype)
    if v.ndim == 1:
        v = v.unsqueeze(0).expand(flat_shape)
    if tuple(v.shape) != flat_shape:
        raise ValueError(f"gate replacement of shape {tuple(value.shape)} does not fit gate output "
                         f"{tuple(output.shape)}")
    return v.reshape(output.shape)


@contextmanager
def override(model: nn.Module, values: Mapping[str, GateValue]) -> Iterator[GateOverride]:
    """Replace gate outputs inside the ``with`` block (a forward hook that returns the new value).

    Args:
        values: gate name -> a float (every channel), a (C,) tensor (per channel), a (B, C)
            tensor (per image of the next batch), or a callable ``f(original (B, C, 1, 1)) -> tensor``.

    Yields:
        A :class:`GateOverride` whose ``values`` may be updated between batches. Hooks are
        removed on exit, also when the block raises.
    """
    chosen = _resolve(model, list(values))
    state = GateOverride(dict(values))
    with _hooked(model, chosen, state._hook):
        yield state
