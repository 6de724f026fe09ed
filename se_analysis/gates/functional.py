"""SE blocks that apply their gate as a function (``x * torch.sigmoid(...)``, ``F.hardsigmoid``).

A forward hook needs a module, and these blocks have none at the gate. :func:`functional_se_blocks`
finds them through each candidate block's ``torch.fx`` graph; :func:`make_hookable` rewrites each
one in place so that the function call becomes a call to a child module ``gate``
(``nn.Sigmoid`` / ``nn.Hardsigmoid``), which computes the same values and can be hooked. Parameter
names, and so checkpoints, are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from se_analysis.gates.activation import is_gate_activation
from se_analysis.gates.fx import trace

__all__ = ["functional_se_blocks", "make_hookable"]

_FUNCTIONS = {torch.sigmoid: nn.Sigmoid, F.sigmoid: nn.Sigmoid, F.hardsigmoid: nn.Hardsigmoid}
_METHODS = {"sigmoid": nn.Sigmoid}


def _looks_like_se(module: nn.Module) -> bool:
    """Two direct Conv2d/Linear children, reducing C -> h then expanding h -> C (1x1), and no gate module."""
    children = list(module.children())
    layers = [c for c in children if isinstance(c, (nn.Conv2d, nn.Linear))]
    if len(layers) != 2 or any(is_gate_activation(c) for c in children):
        return False
    r, e = layers
    size = lambda m, a, b: getattr(m, a, getattr(m, b, None))  # noqa: E731
    if any(getattr(m, "kernel_size", (1, 1)) != (1, 1) for m in (r, e)):  # 1x1 convs (or Linear layers)
        return False
    c, h = size(r, "in_channels", "in_features"), size(r, "out_channels", "out_features")
    return c == size(e, "out_channels", "out_features") and h == size(e, "in_channels", "in_features") and h <= c


def _gate_nodes(model: nn.Module, block: nn.Module) -> tuple[fx.GraphModule, list[fx.Node]] | None:
    """``block`` traced (under ``model``'s trace lock) and its sigmoid-type calls, or None if it does not trace."""
    try:
        # plain torch.fx leaves (torch.nn modules), as fx.symbolic_trace has always traced these blocks
        gm = trace(block, owner=model, same_padding_leaves=False)
    except Exception:  # noqa: BLE001 - a block fx cannot trace is reported by the caller
        return None
    nodes = [n for n in gm.graph.nodes if (n.op == "call_function" and n.target in _FUNCTIONS)
             or (n.op == "call_method" and n.target in _METHODS)]
    return gm, nodes


def functional_se_blocks(model: nn.Module) -> list[tuple[str, str]]:
    """(block path, what it does) for every SE-shaped block whose gate is a function call."""
    out = []
    for path, module in model.named_modules():
        if isinstance(module, fx.GraphModule) or not _looks_like_se(module):
            continue
        traced = _gate_nodes(model, module)
        if traced is None:
            out.append((path, "looks like an SE block but cannot be traced with torch.fx, so its gate cannot be "
                              "found; give it a gate module (e.g. self.gate = nn.Sigmoid())"))
        elif traced[1]:
            fn = traced[1][-1].target
            out.append((path, f"applies its gate as a function ({getattr(fn, '__name__', fn)})"))
    return out


def make_hookable(model: nn.Module) -> list[str]:
    """Rewrite, in place, every SE block whose gate is a function so that the gate is a module ``gate``.

    Returns:
        The paths of the blocks rewritten. Their outputs are unchanged.
    """
    done = []
    for path, _ in functional_se_blocks(model):
        block = model.get_submodule(path) if path else model
        traced = _gate_nodes(model, block)
        if traced is None or not traced[1]:
            continue
        gm, nodes = traced
        node = nodes[-1]  # the last sigmoid-type call is the excitation's
        kind = _FUNCTIONS.get(node.target) if node.op == "call_function" else _METHODS[node.target]
        gm.add_submodule("gate", kind())
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module("gate", args=(node.args[0],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        gm.recompile()
        if not path:
            raise ValueError("the model itself is the SE block; wrap it in a parent module first")
        parent_path, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent_path) if parent_path else model, name, gm)
        done.append(path)
    return done
