"""The one ``torch.fx`` tracer of the package, and the lock that every trace holds.

While it traces, torch.fx patches ``nn.Module.__call__`` for the whole process: a forward of the
traced model in another thread (another app session) would be recorded into the graph and get
proxies back, and two traces at once would see each other's patches. So every trace runs inside
:func:`tracing`: the model's lock (:func:`~se_analysis.gates.locks.model_lock`, which hooked passes
hold too) and then the process-wide :data:`TRACE_LOCK`, always in that order.

The tracer is used three ways:

* :func:`se_analysis.ablation.suffix.try_trace`: the whole model, its gate activations as leaves,
  so that each gate is one node whose value can be replaced;
* :func:`se_analysis.models.fold.fold_plan`: the module that calls an SE block, the block as one
  node, to read its neighbours;
* :mod:`se_analysis.gates.functional`: an SE-shaped block, to find the function call that gates it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Collection, Iterator

from torch import fx, nn

from se_analysis.gates.locks import model_lock

__all__ = ["TRACE_LOCK", "LeafTracer", "tracing", "trace"]

TRACE_LOCK = threading.Lock()  # one torch.fx trace at a time in this process


class LeafTracer(fx.Tracer):
    """A tracer that keeps chosen submodules as single ``call_module`` nodes instead of tracing into them.

    Args:
        leaves: qualified names, relative to the traced root, of the modules to keep whole.
        same_padding_leaves: also keep whole the TF "same" padding modules (timm's ``Conv2dSame``,
            ``MaxPool2dSame`` ...: any class whose name ends in ``Same``), which compute their padding
            from the input size with Python control flow and so cannot be traced into.
    """

    def __init__(self, leaves: Collection[str] = (), same_padding_leaves: bool = True) -> None:
        super().__init__()
        self.leaves = frozenset(leaves)
        self.same_padding_leaves = same_padding_leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return (qualname in self.leaves or (self.same_padding_leaves and type(m).__name__.endswith("Same"))
                or super().is_leaf_module(m, qualname))


@contextmanager
def tracing(model: nn.Module) -> Iterator[None]:
    """Hold ``model``'s lock, then the process-wide :data:`TRACE_LOCK`, for the duration of a trace."""
    with model_lock(model), TRACE_LOCK:
        yield


def trace(root: nn.Module, leaves: Collection[str] = (), *, owner: nn.Module | None = None,
          same_padding_leaves: bool = True) -> fx.GraphModule:
    """``root`` traced into a GraphModule, under :func:`tracing` of ``owner`` (default ``root``).

    Args:
        root: the module to trace (a whole model, or one of its submodules).
        leaves: module names, relative to ``root``, kept as single nodes (see :class:`LeafTracer`).
        owner: the model that ``root`` belongs to, whose lock keeps its forwards out of the trace.
        same_padding_leaves: see :class:`LeafTracer`.

    Returns:
        The GraphModule, named after ``root``'s class as ``torch.fx.symbolic_trace`` names it; its
        submodules are ``root``'s own.

    Raises:
        Whatever torch.fx raises for code it cannot trace; callers turn it into their own message.
    """
    with tracing(owner if owner is not None else root):
        tracer = LeafTracer(leaves, same_padding_leaves)
        graph = tracer.trace(root)
        return fx.GraphModule(tracer.root, graph, type(root).__name__)
