"""Ablations: what replaces the gates, which images, the engine, metrics, suffix re-evaluation, fold search."""

from .engine import (
    AblatedRun,
    HookEvaluator,
    SuffixEvaluator,
    evaluate_ablations,
    open_evaluator,
)
from .fold_search import FOLDABLE_MODES, fold_means, fold_run, greedy_fold, latency_ms
from .inputs import ablation_inputs, evaluation_batches
from .metrics import AblationResult, before_after
from .spec import MODE_LABELS, MODES, Ablation, replacement_stats, replacement_values
from .suffix import SuffixRunner, try_trace
from .sweep import SWEEPS, run_ablation, sweep, sweep_ablations

__all__ = [
    "AblatedRun",
    "evaluate_ablations",
    "open_evaluator",
    "SuffixEvaluator",
    "HookEvaluator",
    "FOLDABLE_MODES",
    "fold_means",
    "fold_run",
    "latency_ms",
    "greedy_fold",
    "ablation_inputs",
    "evaluation_batches",
    "AblationResult",
    "before_after",
    "MODE_LABELS",
    "MODES",
    "Ablation",
    "replacement_values",
    "replacement_stats",
    "try_trace",
    "SuffixRunner",
    "run_ablation",
    "sweep",
    "sweep_ablations",
    "SWEEPS",
]
