"""Do the classes separate as depth grows, and by more than chance? PCA of gate vectors and decodability.

* :func:`gate_pca`: per block, a deterministic 2-D PCA of every image's gate vector (centred;
  eigenvectors of the C x C covariance, each signed so its largest loading is positive), so the
  paper's "class-agnostic early, class-specific late" shows as clusters forming over depth.
* :func:`decodability`: per block, a nearest-class-mean classifier on the gates, fitted on the
  reference half of each class and scored on the eval half (the sample sets' split rule), with a
  bootstrap 95 % interval over eval images, chance (1/K) and a label-permutation baseline (the
  classifier refitted on reference images whose labels were shuffled).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import GroupBy, class_groups, group_names
from se_analysis.data.image_sets import split_mask
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import mean_interval

__all__ = ["gate_pca", "decodability", "nearest_class_mean"]


def _pca2(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) scores on the first two principal axes and their shares of the variance."""
    x = v - v.mean(0)
    cov = x.T @ x / max(len(x) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(vals)[::-1][:2]
    vecs = vecs[:, order]
    vecs *= np.where(vecs[np.abs(vecs).argmax(0), np.arange(vecs.shape[1])] < 0, -1.0, 1.0)  # deterministic sign
    total = vals.sum()
    share = vals[order] / total if total > 0 else np.zeros(len(order))
    scores = x @ vecs
    if scores.shape[1] < 2:  # a one-channel block
        scores = np.column_stack([scores, np.zeros(len(x))])
        share = np.append(share, 0.0)
    return scores, share


def gate_pca(run: Run, by: GroupBy = "label", blocks: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (block, image): ``pc1, pc2`` and the class, plus each axis's share of the variance."""
    groups, names = class_groups(run, by), group_names(run, by)
    frames = []
    for g in run.gates:
        if blocks is not None and g.name not in blocks:
            continue
        scores, share = _pca2(run.gate_values[g.name].astype(np.float64))
        frames.append(pd.DataFrame({
            "block": g.name, "depth": g.depth, "image_id": run.images["image_id"].to_numpy(),
            "class": [names[c] if c >= 0 else "(none)" for c in groups], "pc1": scores[:, 0], "pc2": scores[:, 1],
            "pc1_share": share[0], "pc2_share": share[1]}))
    return pd.concat(frames, ignore_index=True)


def nearest_class_mean(train: np.ndarray, train_y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Predicted class of each test row: the class whose training mean is nearest (Euclidean)."""
    present = np.unique(train_y)
    means = np.stack([train[train_y == c].mean(0) for c in present])
    d = (test ** 2).sum(1)[:, None] - 2 * test @ means.T + (means ** 2).sum(1)[None, :]
    return present[d.argmin(1)]


def _permuted_accuracies(train: np.ndarray, ty: np.ndarray, test: np.ndarray, ey: np.ndarray,
                         perms: Sequence[np.ndarray]) -> np.ndarray:
    """Nearest-class-mean accuracy with the training labels permuted, every permutation at once.

    The same numbers as :func:`nearest_class_mean` per permutation (a test checks it), with the
    class means of all permutations as one matrix product.
    """
    from scipy import sparse

    if not len(perms):
        return np.zeros(0)
    present = np.unique(ty)
    code = np.searchsorted(present, ty)
    k, n = len(present), len(ty)
    rows = np.concatenate([i * k + code[p] for i, p in enumerate(perms)])  # (permutation, class) of each image
    sums = sparse.csr_matrix((np.ones(len(rows)), (rows, np.tile(np.arange(n), len(perms)))),
                             shape=(len(perms) * k, n)) @ train  # (P K, C): P n C operations, not P n K C
    counts = np.bincount(rows, minlength=len(perms) * k)[:, None]
    means = (sums / counts).reshape(len(perms), k, -1)
    d = np.einsum("mc,pkc->pmk", test, means) * -2 + (means ** 2).sum(2)[:, None, :]  # |test|^2 is the same for all k
    return (present[d.argmin(2)] == ey[None, :]).mean(1)


def decodability(run: Run, by: GroupBy = "label", n_permutations: int = 100, n_boot: int = 1000,
                 seed: int = 0, max_permutation_images: int = 2000) -> pd.DataFrame:
    """Per block: nearest-class-mean accuracy on the eval half, its interval, chance and the permutation baseline.

    Returns:
        Columns ``block, depth, accuracy, ci_low, ci_high, chance, permuted_mean, permuted_p95, p_permutation,
        n_reference, n_eval, classes``. ``p_permutation`` is (1 + #permuted >= observed) / (1 + n_permutations);
        the permuted accuracies score at most ``max_permutation_images`` eval images (a fixed random subset).

    Raises:
        ValueError: fewer than two classes with at least two images each.
    """
    groups = class_groups(run, by)
    ok = groups >= 0
    counts = np.bincount(groups[ok], minlength=len(group_names(run, by)))
    usable = ok & (counts[np.clip(groups, 0, None)] >= 2)
    if len(np.unique(groups[usable])) < 2:
        raise ValueError("decodability needs two classes with at least two images each")
    rows_ = np.flatnonzero(usable)
    y = groups[rows_]
    ref = split_mask(y, "reference")
    k = len(np.unique(y))
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(int(ref.sum())) for _ in range(n_permutations)]
    n_eval = int((~ref).sum())
    # The baseline's distance computation grows with eval images x permutations x classes x channels: beyond
    # ``max_permutation_images`` eval images it scores a fixed random subset (the observed accuracy uses all).
    perm_rows = np.sort(rng.choice(n_eval, max_permutation_images, replace=False)) \
        if n_eval > max_permutation_images else None
    out = []
    for g in run.gates:
        v = run.gate_values[g.name][rows_].astype(np.float64)
        train, test, ty, ey = v[ref], v[~ref], y[ref], y[~ref]
        right = (nearest_class_mean(train, ty, test) == ey).astype(float)
        sub = perm_rows if perm_rows is not None else slice(None)
        permuted = _permuted_accuracies(train, ty, test[sub], ey[sub], perms)
        lo, hi = mean_interval(right, n_boot, seed)
        acc = float(right.mean())
        out.append({"block": g.name, "depth": g.depth, "accuracy": acc, "ci_low": lo, "ci_high": hi,
                    "chance": 1.0 / k,
                    "permuted_mean": float(permuted.mean()) if n_permutations else np.nan,
                    "permuted_p95": float(np.quantile(permuted, 0.95)) if n_permutations else np.nan,
                    "p_permutation": float((1 + (permuted >= acc).sum()) / (1 + n_permutations)),
                    "n_reference": int(ref.sum()), "n_eval": int((~ref).sum()), "classes": k})
    return pd.DataFrame(out)
