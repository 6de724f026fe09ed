"""Before-and-after ablations: replace SE gates with their means and measure what changes.

The work is split by job, and this module ties it together:

* :mod:`.spec`: :class:`Ablation` (which blocks, which mode) and the values put in place;
* :mod:`.inputs`: which images are evaluated, which supply the means, their batches;
* :mod:`.engine`: one loop over the batches running every ablation (fx suffix or hooks);
* :mod:`.metrics`: :func:`before_after`, the before/after tables.

Sweeps ablate one block at a time, or the last / first k blocks; the engine re-runs only the
part of the network downstream of the replaced gates where the model traces (:mod:`.suffix`).
"""

from __future__ import annotations

from typing import Sequence

from se_analysis.ablation.engine import evaluate_ablations
from se_analysis.ablation.metrics import AblationResult, before_after
from se_analysis.ablation.spec import (
    Ablation,
)
from se_analysis.data.image_sets import ImageSet
from se_analysis.models.senet import SENet
from se_analysis.runs.run import Run

__all__ = ["run_ablation", "sweep", "sweep_ablations", "SWEEPS"]

SWEEPS = ("one-at-a-time", "cumulative-from-end", "cumulative-from-start")


def run_ablation(net: SENet, images: ImageSet, evaluated: Run, ablation: Ablation, reference: Run | None = None,
                 **kwargs) -> AblationResult:
    """One ablation, before and after."""
    return before_after(evaluated, evaluate_ablations(net, images, evaluated, [ablation], reference, **kwargs))


def sweep_ablations(gate_names: Sequence[str], kind: str, mode: str = "mean", constant: float = 1.0,
                    seed: int = 0) -> list[Ablation]:
    """The ablations of a sweep over depth: each block alone, or the last / first k blocks."""
    names = list(gate_names)
    if kind == "one-at-a-time":
        sets = [(b,) for b in names]
    elif kind == "cumulative-from-end":
        sets = [tuple(names[len(names) - k:]) for k in range(1, len(names) + 1)]
    elif kind == "cumulative-from-start":
        sets = [tuple(names[:k]) for k in range(1, len(names) + 1)]
    else:
        raise ValueError(f"unknown sweep {kind!r}; choose one of {', '.join(SWEEPS)}")
    return [Ablation(s, mode, constant, seed) for s in sets]


def sweep(net: SENet, images: ImageSet, evaluated: Run, kind: str = "one-at-a-time", mode: str = "mean",
          reference: Run | None = None, constant: float = 1.0, **kwargs) -> AblationResult:
    """A sweep over depth; ``overall`` gains ``k`` (blocks ablated) and ``depth`` (first ablated block)."""
    ablations = sweep_ablations(evaluated.gate_names, kind, mode, constant)
    result = before_after(evaluated, evaluate_ablations(net, images, evaluated, ablations, reference, **kwargs))
    depth = {g.name: g.depth for g in evaluated.gates}
    result.overall.insert(1, "sweep", kind)
    result.overall.insert(2, "k", [len(a.blocks) for a in ablations])
    result.overall.insert(3, "depth", [min(depth[b] for b in a.blocks) for a in ablations])
    return result
