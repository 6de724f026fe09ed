"""The ablation engine: one loop over the evaluated images that runs every ablation on each batch.

Data flows down once: :func:`evaluate_ablations` takes the batches (:mod:`.inputs`) and
the replacement values (:mod:`.spec`), and hands each batch to an *evaluator* that knows
one way of running the model:

* :class:`SuffixEvaluator` re-runs only what is downstream of the replaced gates, on a
  ``torch.fx`` graph (:mod:`.suffix`), after one baseline pass per batch;
* :class:`HookEvaluator` runs whole forward passes with the gates replaced by hooks
  (:func:`se_analysis.gates.hooks.override`), for models that do not trace.

Both give, per batch, the baseline logits and gates, then the logits and gates of each
ablation; the engine alone accumulates them.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Protocol, Sequence

import numpy as np
import torch

from se_analysis.ablation.inputs import evaluation_batches
from se_analysis.ablation.spec import Ablation, replacement_values
from se_analysis.ablation.suffix import SuffixRunner, try_trace
from se_analysis.data.image_sets import ImageSet
from se_analysis.gates.find import Gate
from se_analysis.gates.hooks import override, record
from se_analysis.gates.locks import model_lock
from se_analysis.models.senet import SENet
from se_analysis.runs.extract import Progress, autocast_context, resolve_device
from se_analysis.runs.run import Run

__all__ = ["AblatedRun", "evaluate_ablations", "open_evaluator", "SuffixEvaluator", "HookEvaluator"]

Values = Mapping[str, torch.Tensor]


@dataclass
class AblatedRun:
    """The ablated model's logits, and per gate the mean |change| of its values against the baseline."""

    ablation: Ablation
    logits: np.ndarray
    gate_shift: dict[str, float] = field(default_factory=dict)
    baseline: np.ndarray | None = None  # un-ablated logits from the same passes (same precision and batches)
    method: str = ""  # "suffix" or "full": how the ablated logits were computed
    fallback: str = ""  # why the suffix (fast) path was not taken, when it was not


class Evaluator(Protocol):
    """Runs one batch of the model: first unchanged, then with gates replaced."""

    def baseline(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and gate values {name: (B, C)} of the unchanged model on ``x``."""

    def ablated(self, values: Values) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and gate values of the last baseline batch with ``values`` {name: (B, C)} in place of gates."""


class SuffixEvaluator:
    """Baseline once per batch on the fx graph, then only the descendants of the replaced gates."""

    def __init__(self, runner: SuffixRunner, gates: Sequence[Gate]) -> None:
        self.runner, self.names = runner, [g.name for g in gates]

    def baseline(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.runner.baseline(x), self.runner.gate_values()

    def ablated(self, values: Values) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        env, node = self.runner.env, self.runner.gate_node
        shaped = {b: v.reshape(env[node[b]].shape) for b, v in values.items()}
        return self.runner.ablate(shaped, record=self.names)


class HookEvaluator:
    """Whole forward passes; gates replaced and recorded by hooks on the gate activations."""

    def __init__(self, model: torch.nn.Module, overrider, recorder) -> None:
        self.model, self.ov, self.rec = model, overrider, recorder
        self.x: torch.Tensor | None = None

    def baseline(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.x, self.ov.values = x, {}
        return self.model(x), self.rec.pop()

    def ablated(self, values: Values) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.ov.values = dict(values)
        return self.model(self.x), self.rec.pop()


@contextmanager
def open_evaluator(net: SENet, ablations: Sequence[Ablation], method: str = "auto"
                   ) -> Iterator[tuple[Evaluator, str, str]]:
    """(evaluator, "suffix" or "full", why the suffix path was not taken) for the model, hooks removed on exit.

    ``method``: ``suffix`` (fx graph, error if the model does not trace), ``full`` (forward passes
    with hooks) or ``auto`` (suffix when the model traces).
    """
    model = net.module
    gm, why = try_trace(model, net.gates) if method in ("auto", "suffix") else (None, "")
    if method == "suffix" and gm is None:
        raise ValueError(f"{net.name} cannot be re-evaluated from its gates ({why}); use method='full'")
    with ExitStack() as stack:
        if gm is not None:
            runner = SuffixRunner(gm, net.gates)
            runner.plan([a.blocks for a in ablations])
            stack.enter_context(model_lock(model))
            yield SuffixEvaluator(runner, net.gates), "suffix", why
        else:
            blocks = list(dict.fromkeys(b for a in ablations for b in a.blocks))
            ov = stack.enter_context(override(model, dict.fromkeys(blocks)))
            rec = stack.enter_context(record(model, net.gates, device=None))
            yield HookEvaluator(model, ov, rec), "full", why


def run_amp_dtype(run: Run) -> torch.dtype | None:
    """The autocast dtype a Run was extracted with (its manifest says ``torch.bfloat16`` or ``torch.float16``)."""
    name = run.manifest.get("amp_dtype")
    return {"torch.bfloat16": torch.bfloat16, "torch.float16": torch.float16}.get(name) if name else None


def evaluate_ablations(net: SENet, images: ImageSet, evaluated: Run, ablations: Sequence[Ablation],
                       reference: Run | None = None, *, batch_size: int = 128, device: str | None = None,
                       method: str = "auto", progress: Progress | None = None) -> list[AblatedRun]:
    """Run every ablation on each batch of the evaluated images, in the Run's own precision.

    Args:
        net, images: the model and the image set of ``evaluated`` (same ids).
        evaluated: the un-ablated Run of those images; ``reference`` supplies the means.
        ablations: what to replace.
        method: ``suffix``, ``full`` or ``auto`` (see :func:`open_evaluator`).

    Returns:
        One :class:`AblatedRun` per ablation, in order; their ``baseline`` logits come from the
        same passes, so before and after differ only by the ablation.
    """
    dev = resolve_device(device)
    net.module.to(dev).eval()
    repl = [replacement_values(a, evaluated, reference) for a in ablations]
    n, k = len(evaluated), len(evaluated.class_names)
    logits = [np.zeros((n, k), np.float32) for _ in ablations]
    baseline = np.zeros((n, k), np.float32)
    shift_sum = [{g.name: 0.0 for g in net.gates} for _ in ablations]
    channels_last = bool(evaluated.manifest.get("channels_last"))
    total, done = n * len(ablations), 0
    with torch.inference_mode(), autocast_context(dev, run_amp_dtype(evaluated)), \
            open_evaluator(net, ablations, method) as (evaluator, used, why):
        for x, rows in evaluation_batches(net, images, evaluated, batch_size):
            x = x.to(dev)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            base_logits, base_gates = evaluator.baseline(x)
            baseline[rows] = base_logits.float().cpu().numpy()
            for j, a in enumerate(ablations):
                out, gates = evaluator.ablated({b: torch.from_numpy(repl[j][b][rows]).to(dev) for b in a.blocks})
                logits[j][rows] = out.float().cpu().numpy()
                for name, v in gates.items():
                    shift_sum[j][name] += float((v.float() - base_gates[name].float()).abs().mean(1).sum())
                done += len(rows)
                if progress:
                    progress(done, total)
    return [AblatedRun(a, logits[j], {name: s / max(n, 1) for name, s in shift_sum[j].items()}, baseline, used, why)
            for j, a in enumerate(ablations)]
