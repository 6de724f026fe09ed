"""Which SE blocks can go: fold a Run's mean gates, and search greedily within an accuracy budget.

The folded model computes exactly what the mean-ablated model computes (see :mod:`se_analysis.models.fold`),
so its accuracy is measured by the ablation engine (on the eval images, with means from the
reference images) and its cost by counting parameters and FLOPs and timing it on the CPU.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from se_analysis.ablation.spec import Ablation, replacement_values
from se_analysis.ablation.sweep import run_ablation, sweep
from se_analysis.data.image_sets import ImageSet
from se_analysis.models.fold import count_flops, count_parameters, fold_model
from se_analysis.models.senet import SENet
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import log_softmax

__all__ = ["FOLDABLE_MODES", "fold_means", "fold_run", "latency_ms", "greedy_fold"]

FOLDABLE_MODES = ("mean", "constant")  # one vector for every image; class means differ per image


def fold_means(evaluated: Run, blocks: Sequence[str], reference: Run, mode: str = "mean",
               constant: float = 1.0) -> dict[str, np.ndarray]:
    """The constant gate (C,) of each block: its mean over ``reference``, or ``constant``."""
    if mode not in FOLDABLE_MODES:
        raise ValueError(f"mode {mode!r} gives each image its own gate and cannot be folded; use mean or constant")
    values = replacement_values(Ablation(tuple(blocks), mode, constant), evaluated, reference)
    return {b: np.asarray(values[b][0], dtype=np.float32) for b in blocks}


def fold_run(net: SENet, evaluated: Run, blocks: Sequence[str], reference: Run, mode: str = "mean",
             constant: float = 1.0):
    """(folded module, fold plan, the constant gates) for ``blocks`` of ``net``."""
    means = fold_means(evaluated, blocks, reference, mode, constant)
    folded, plan = fold_model(net.module, means)
    return folded, plan, means


def latency_ms(model: torch.nn.Module, example: torch.Tensor, repeats: int = 5) -> float:
    """Median milliseconds of one forward pass on ``example`` (CPU, no grad), after a warm-up."""
    times = []
    with torch.inference_mode():
        model(example)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(example)
            times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def _cost_row(net: SENet, module: torch.nn.Module, example: torch.Tensor, blocks: Sequence[str],
              overall: pd.Series | None, evaluated: Run) -> dict:
    acc = evaluated.images["correct"].dropna()
    labels = evaluated.images["label"].to_numpy()
    has = labels >= 0
    nll0 = float(-log_softmax(evaluated.logits[has])[np.arange(int(has.sum())), labels[has]].mean()) if has.any() \
        else np.nan
    return {
        "k": len(blocks), "blocks": ",".join(blocks),
        "top1": float(overall["top1_after"]) if overall is not None else float(acc.mean()) if len(acc) else np.nan,
        "top1_change": float(overall["top1_change"]) if overall is not None else 0.0,
        "nll": float(overall["nll_after"]) if overall is not None else nll0,
        "parameters": count_parameters(module), "flops": count_flops(module, example),
        "latency_ms": latency_ms(module, example),
    }


def greedy_fold(net: SENet, images: ImageSet, evaluated: Run, reference: Run, budget_points: float = 0.5,
                batch_size: int = 128, device: str | None = None, progress=None) -> pd.DataFrame:
    """Fold blocks one at a time, cheapest first, while the top-1 loss stays within ``budget_points``.

    Blocks are ordered by their cost in the one-at-a-time mean sweep; each is added to the folded set
    only if the whole set's measured loss stays within the budget. Returns one row per step (the
    first is nothing folded): ``k, blocks, top1, top1_change, nll, parameters, flops, latency_ms,
    added, within_budget`` — the points of the accuracy/cost Pareto curve.
    """
    if not evaluated.has_labels:
        raise ValueError("a fold budget is an accuracy budget: these images have no labels")
    example = torch.stack([net.transform(images.items[0].load())])
    one = sweep(net, images, evaluated, "one-at-a-time", "mean", reference, batch_size=batch_size,
                       device=device).overall
    order = one.sort_values(["top1_change", "depth"], ascending=[False, False])["blocks"].tolist()
    rows = [{**_cost_row(net, net.module, example, [], None, evaluated), "added": "", "within_budget": True}]
    chosen: list[str] = []
    for step, block in enumerate(order):
        trial = [b for b in evaluated.gate_names if b in chosen + [block]]
        overall = run_ablation(net, images, evaluated, Ablation(tuple(trial), "mean"), reference,
                               batch_size=batch_size, device=device).overall.iloc[0]
        ok = -overall["top1_change"] * 100 <= budget_points + 1e-9
        if ok:
            chosen = trial
            folded, _, _ = fold_run(net, evaluated, chosen, reference)
            rows.append({**_cost_row(net, folded, example, chosen, overall, evaluated), "added": block,
                         "within_budget": True})
        if progress:
            progress(step + 1, len(order))
    return pd.DataFrame(rows)
