"""Fold what the gates don't need: an SE block whose gate is a constant vector is removed exactly.

A gate replaced by a constant ``m`` (C,) is a fixed channel scale, so the whole SE block
(pooling, both FC layers, the activation) can go, with ``m`` absorbed into an adjacent layer:

* into the **consumer**: when the SE output feeds one convolution (groups = 1), as in inverted
  residuals (MobileNetV3, EfficientNet: SE before the 1x1 projection), ``W[:, c] *= m[c]``; zero
  padding stays zero, so this is exact for any kernel size;
* into the **producer**: when the SE input comes from a plain ``BatchNorm2d`` used by nothing else,
  as in SE-ResNet (SE on the residual branch after the last BN, before the addition), the BN's
  weight and bias are scaled by ``m``.

The block's place in the graph is read from a ``torch.fx`` trace of the module that calls it.
Where neither holds (for example a BN followed by an activation, then SE, then an addition),
the block cannot be folded exactly, and :class:`FoldError` says why.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import fx, nn

from se_analysis.gates.find import Gate, find_gates
from se_analysis.gates.fx import trace

__all__ = ["FoldError", "Folded", "fold_plan", "fold_model", "remove_se_blocks", "save_folded", "FOLD_METADATA_KEY",
           "count_flops", "count_parameters"]

FOLD_METADATA_KEY = "se_analysis_folded"


class FoldError(ValueError):
    """An SE block whose constant gate cannot be absorbed exactly into an adjacent layer."""


@dataclass(frozen=True)
class Folded:
    """Where one block's constant gate went."""

    block: str
    se_path: str
    into: str  # module path of the layer that absorbed the scale
    how: str  # "consumer conv input channels" or "producer batch norm"


def _parent(model: nn.Module, path: str) -> tuple[nn.Module, str, str]:
    parent_path, _, name = path.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), parent_path, name


def _locate(model: nn.Module, gate: Gate) -> Folded:
    """Find the layer that can absorb ``gate``'s constant scale (see the module docstring)."""
    parent, parent_path, name = _parent(model, gate.se_path)
    try:  # the SE block (and TF same-padding modules) as single nodes, under the model's trace lock
        graph = trace(parent, [name], owner=model).graph
    except Exception as e:  # noqa: BLE001
        raise FoldError(f"{gate.name}: the module that calls its SE block ({parent_path or 'the model'}) cannot be "
                        f"traced with torch.fx ({type(e).__name__}), so its neighbours are unknown") from None
    nodes = [n for n in graph.nodes if n.op == "call_module" and n.target == name]
    if len(nodes) != 1:
        raise FoldError(f"{gate.name}: its SE block is called {len(nodes)} times in {parent_path or 'the model'}")
    se_node = nodes[0]
    prefix = f"{parent_path}." if parent_path else ""
    users = list(se_node.users)
    if len(users) == 1 and users[0].op == "call_module":
        target = parent.get_submodule(users[0].target)
        if isinstance(target, nn.Conv2d) and target.groups == 1 and target.in_channels == gate.channels:
            return Folded(gate.name, gate.se_path, prefix + users[0].target, "consumer conv input channels")
    producer = se_node.args[0] if se_node.args else None
    if isinstance(producer, fx.Node) and producer.op == "call_module" and len(producer.users) == 1:
        bn = parent.get_submodule(producer.target)
        if type(bn) is nn.BatchNorm2d and bn.affine and bn.num_features == gate.channels:
            return Folded(gate.name, gate.se_path, prefix + producer.target, "producer batch norm")
    feeds = ", ".join(_describe(u) for u in users) or "nothing"
    comes = _describe(producer) if isinstance(producer, fx.Node) else "nothing"
    raise FoldError(f"{gate.name}: its output feeds {feeds} and its input comes from {comes}; a constant scale folds "
                    "exactly only into one following convolution (groups 1) or a preceding plain affine batch norm")


def _describe(node: fx.Node) -> str:
    """A node as a reader knows it: a module path, or a function's name (``relu``, ``add``)."""
    if node.op in ("call_function", "call_method"):
        return getattr(node.target, "__name__", str(node.target))
    return str(node.target)


def fold_plan(model: nn.Module, blocks: list[str]) -> list[Folded]:
    """Where each block's constant gate would go; :class:`FoldError` for a block that cannot fold exactly."""
    gates = {g.name: g for g in find_gates(model)}
    unknown = [b for b in blocks if b not in gates]
    if unknown:
        raise FoldError(f"unknown blocks {', '.join(unknown)}; this model has {', '.join(gates)}")
    return [_locate(model, gates[b]) for b in blocks]


def remove_se_blocks(model: nn.Module, se_paths: list[str]) -> None:
    """Replace the SE modules at ``se_paths`` by ``nn.Identity`` (in place)."""
    for path in se_paths:
        parent, _, name = _parent(model, path)
        setattr(parent, name, nn.Identity())


def fold_model(model: nn.Module, means: Mapping[str, np.ndarray | torch.Tensor]) -> tuple[nn.Module, list[Folded]]:
    """A copy of ``model`` with the SE blocks of ``means`` removed and their constant gates absorbed.

    Args:
        means: block name -> the constant gate (C,) to fold (e.g. the reference mean).

    Returns:
        (the folded copy, where each block went). The original model is not touched.
    """
    plan = fold_plan(model, list(means))
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for f in plan:
            layer = folded.get_submodule(f.into)
            m = torch.as_tensor(np.asarray(means[f.block]), dtype=layer.weight.dtype).to(layer.weight.device)
            if f.how == "consumer conv input channels":
                layer.weight.mul_(m.view(1, -1, *([1] * (layer.weight.ndim - 2))))
            else:
                layer.weight.mul_(m)
                layer.bias.mul_(m)
    remove_se_blocks(folded, [f.se_path for f in plan])
    return folded, plan


def save_folded(model: nn.Module, plan: list[Folded], path: str | Path, base_model: str, means_from: str) -> Path:
    """Write the folded weights (safetensors) with what was folded in the metadata.

    ``load_checkpoint`` recognises the metadata: it removes the same SE blocks from the base
    architecture before loading, so the app and the CLI open the file as a checkpoint of ``base_model``.
    """
    from safetensors.torch import save_file

    meta = {"base_model": base_model, "means_from": means_from,
            "folded": [f.__dict__ for f in plan]}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={FOLD_METADATA_KEY: json.dumps(meta)})
    return Path(path)


def count_parameters(model: nn.Module) -> int:
    """The number of parameters (elements, not tensors) of ``model``."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``example`` (``torch.utils.flop_counter``; a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(example)
    return int(counter.get_total_flops())
