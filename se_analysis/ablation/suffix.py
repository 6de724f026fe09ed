"""Re-running only what an ablation changes: the part of the network downstream of a gate.

The model is traced with ``torch.fx`` into a graph of nodes. When gates are replaced, only
the nodes that depend on them (their *descendants*) change; every other node keeps its
baseline value. :class:`SuffixRunner` evaluates the baseline graph once per batch, keeps the
values that downstream nodes consume, and then evaluates just the descendants of the
replaced gates, for as many ablations as asked. For a one-block-at-a-time sweep over N
blocks this costs about (N - 1) / 2 forward passes instead of N, and the results equal a
full forward pass with the same replacement (checked in the tests to 1e-5).

Models that ``torch.fx`` cannot trace are reported by :func:`try_trace` returning None, and
callers fall back to full forward passes with :func:`se_analysis.gates.override`.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import torch
import torch.fx as fx
from torch import nn

from se_analysis.gates.find import Gate
from se_analysis.gates.fx import trace

_log = logging.getLogger("se_analysis")

__all__ = ["try_trace", "SuffixRunner"]


def try_trace(model: nn.Module, gates: Sequence[Gate]) -> tuple[fx.GraphModule | None, str]:
    """(an fx GraphModule whose gate activations are single nodes, "") or (None, why tracing failed).

    The reason is logged (logger ``se_analysis``) and carried into ablation results, so a slow
    sweep says why it did not take the fast path.
    """
    gate_paths = {g.path for g in gates}
    try:
        # Under the model's lock and the one trace lock (see se_analysis.gates.fx): TF "same" padding
        # modules stay single nodes, as do the gate activations.
        gm = trace(model, gate_paths)
    except Exception as e:  # noqa: BLE001 - any tracing failure means: use full forward passes
        reason = f"torch.fx cannot trace {type(model).__name__}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        _log.info("suffix re-evaluation unavailable, using full forward passes: %s", reason)
        return None, reason
    targets = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    missing = sorted(gate_paths - targets)
    if missing:
        reason = f"the traced graph does not call the gate module {missing[0]} as one node"
        _log.info("suffix re-evaluation unavailable, using full forward passes: %s", reason)
        return None, reason
    return gm, ""


class SuffixRunner:
    """Evaluate a traced model, then re-evaluate only the descendants of replaced gates.

    Args:
        gm: from :func:`try_trace` (its submodules are the model's own, in eval mode).
        gates: the model's gates.
    """

    def __init__(self, gm: fx.GraphModule, gates: Sequence[Gate]) -> None:
        self.gm = gm
        self.nodes = list(gm.graph.nodes)
        self.order = {n: i for i, n in enumerate(self.nodes)}
        self.gate_node = {g.name: next(n for n in self.nodes if n.op == "call_module" and n.target == g.path)
                          for g in gates}
        self.node_gate = {n: name for name, n in self.gate_node.items()}
        self.modules = dict(gm.named_modules())
        self._desc_cache: dict[frozenset, list[fx.Node]] = {}
        self.env: dict[fx.Node, object] = {}
        self.keep: set[fx.Node] | None = None  # None: keep every value of the baseline pass
        self.last_use = {}
        for i, n in enumerate(self.nodes):
            for arg in n.all_input_nodes:
                self.last_use[arg] = i

    def plan(self, ablations: Sequence[Sequence[str]]) -> None:
        """Keep, from each baseline pass, only the values that these ablations read (saves memory)."""
        keep = set(self.gate_node.values())
        keep.update(next(n for n in self.nodes if n.op == "output").all_input_nodes)
        for names in ablations:
            desc = set(self.descendants(names))
            for node in desc:
                keep.update(a for a in node.all_input_nodes if a not in desc)
        self.keep = keep

    def descendants(self, names: Sequence[str]) -> list[fx.Node]:
        """Nodes that depend on any of the named gates (the gates excluded), in execution order."""
        key = frozenset(names)
        if key not in self._desc_cache:
            seeds = {self.gate_node[n] for n in names}
            seen: set[fx.Node] = set()
            stack = list(seeds)
            while stack:
                for user in stack.pop().users:
                    if user not in seen:
                        seen.add(user)
                        stack.append(user)
            self._desc_cache[key] = sorted(seen - seeds, key=self.order.__getitem__)
        return self._desc_cache[key]

    def _run_node(self, node: fx.Node, env: Mapping[fx.Node, object]) -> object:
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            obj, *rest = args
            return getattr(obj, node.target)(*rest, **kwargs)
        if node.op == "get_attr":
            obj = self.gm
            for part in node.target.split("."):
                obj = getattr(obj, part)
            return obj
        raise RuntimeError(f"unexpected fx node {node.op}")

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """Run the whole graph on ``x`` and keep every node's value for later suffix runs."""
        env: dict[fx.Node, object] = {}
        out = None
        for i, node in enumerate(self.nodes):
            if node.op == "placeholder":
                env[node] = x
            elif node.op == "output":
                out = fx.node.map_arg(node.args[0], env.__getitem__)
            else:
                env[node] = self._run_node(node, env)
                if self.keep is not None:
                    for arg in node.all_input_nodes:
                        if self.last_use.get(arg) == i and arg not in self.keep:
                            del env[arg]
        self.env = env
        return out

    def gate_values(self) -> dict[str, torch.Tensor]:
        """Baseline gate values of the last :meth:`baseline` batch, (B, C)."""
        return {name: self.env[n].reshape(self.env[n].shape[0], -1) for name, n in self.gate_node.items()}

    def ablate(self, replacements: Mapping[str, torch.Tensor], record: Sequence[str] = ()
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits with the given gates replaced, re-evaluating only their descendants.

        Args:
            replacements: gate name -> replacement of the gate output's shape, (B, C, 1, 1).
            record: gate names whose (possibly changed) values to return, (B, C).

        Returns:
            (logits, {name: gate values}) for the last baseline batch.
        """
        env = dict(self.env)
        for name, value in replacements.items():
            env[self.gate_node[name]] = value
        wanted = {self.gate_node[n]: n for n in record}
        recorded = {n: env[self.gate_node[n]] for n in record if self.gate_node[n] in env}
        out = None
        for node in self.descendants(list(replacements)):
            if node.op == "output":
                out = fx.node.map_arg(node.args[0], env.__getitem__)
                continue
            env[node] = self._run_node(node, env)
            if node in wanted:
                recorded[wanted[node]] = env[node]
            i = self.order[node]
            for arg in node.all_input_nodes:  # free as the baseline does: reused memory is far faster
                if self.last_use.get(arg) == i:
                    env.pop(arg, None)
        if out is None:  # nothing downstream reaches the output: the logits do not change
            out = fx.node.map_arg(next(n for n in self.nodes if n.op == "output").args[0], env.__getitem__)
        gates = {name: v.reshape(v.shape[0], -1) for name, v in recorded.items()}
        return out, gates
