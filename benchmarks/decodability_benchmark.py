"""Decodability at ImageNet-val scale: the old implementation against the new, side by side.

A synthetic Run of 50,000 images x 1,000 classes (50 per class, ImageNet val's shape) with the
embedded default's 9 SE blocks (16, 96, 240, 240, 120, 144, 288, 576, 576 channels, 2,296 in all:
read from ``find_gates`` on the default model) and gates with a class signal. Both sides compute the
same table (nearest class mean fitted on the first half of each class, scored on the second, with a
bootstrap interval and a label-permutation baseline):

* ``old``: the implementation before issue 18 (float64, every permutation's distances in one einsum
  over 2,000 eval images, 100 permutations, a resampling bootstrap), copied here as it was;
* ``new``: :func:`se_analysis.analysis.separation.decodability` (float32 matrix products with float64
  near ties, float64 class means from one sparse product, the permutation baseline bounded in work by
  ``permutation_plan``: 19 permutations on 625 eval images here, binomial bootstrap).

The sides alternate on every repeat (:mod:`timing`); prints median (min-max) seconds and the two
tables' accuracies (identical: the same split), and writes benchmarks/results/decodability.json.

    python benchmarks/decodability_benchmark.py [--images 50000] [--classes 1000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import alternate, fmt, spread, write_results  # noqa: E402

from se_analysis.analysis.separation import decodability  # noqa: E402
from se_analysis.analysis.stats import class_groups, group_names  # noqa: E402
from se_analysis.data.image_sets import split_mask  # noqa: E402
from se_analysis.runs.run import Run  # noqa: E402
from se_analysis.utils.numeric import mean_interval  # noqa: E402

LAYOUT = [("SE_2_1", 16), ("SE_4_1", 96), ("SE_4_2", 240), ("SE_4_3", 240), ("SE_5_1", 120), ("SE_5_2", 144),
          ("SE_6_1", 288), ("SE_6_2", 576), ("SE_6_3", 576)]


def synthetic_run(n: int, k: int, seed: int = 0) -> Run:
    """n images in k classes (in class order, n/k each), the default's 9 blocks; each class lifts a random
    tenth of each block's channels."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), -(-n // k))[:n]
    gates = {}
    for name, c in LAYOUT:
        lift = rng.random((k, c)) < 0.1
        gates[name] = np.clip(rng.beta(2, 5, (n, c)) + 0.3 * lift[y], 0, 1).astype(np.float32)
    names = [f"class {i}" for i in range(k)]
    images = pd.DataFrame({"index": np.arange(n), "image_id": [f"img{i}" for i in range(n)], "source": "",
                           "label": y, "label_name": "", "pred": y, "pred_name": "", "confidence": 0.5,
                           "correct": pd.array(np.ones(n, bool), dtype="boolean")})
    manifest = {"class_names": names, "pretrained": True, "format": 2,
                "gates": [{"name": nm, "path": nm, "se_path": nm, "channels": c, "depth": i, "stage": 0, "position": i}
                          for i, (nm, c) in enumerate(LAYOUT)]}
    return Run(images=images, gate_values=gates, logits=np.zeros((n, 1), np.float32), manifest=manifest)


# --- the implementation before issue 18, as it was --------------------------------------------------------


def _old_nearest_class_mean(train: np.ndarray, train_y: np.ndarray, test: np.ndarray) -> np.ndarray:
    present = np.unique(train_y)
    means = np.stack([train[train_y == c].mean(0) for c in present])
    d = (test ** 2).sum(1)[:, None] - 2 * test @ means.T + (means ** 2).sum(1)[None, :]
    return present[d.argmin(1)]


def _old_permuted_accuracies(train, ty, test, ey, perms: Sequence[np.ndarray]) -> np.ndarray:
    from scipy import sparse

    if not len(perms):
        return np.zeros(0)
    present = np.unique(ty)
    code = np.searchsorted(present, ty)
    k, n = len(present), len(ty)
    rows = np.concatenate([i * k + code[p] for i, p in enumerate(perms)])
    sums = sparse.csr_matrix((np.ones(len(rows)), (rows, np.tile(np.arange(n), len(perms)))),
                             shape=(len(perms) * k, n)) @ train
    counts = np.bincount(rows, minlength=len(perms) * k)[:, None]
    means = (sums / counts).reshape(len(perms), k, -1)
    d = np.einsum("mc,pkc->pmk", test, means) * -2 + (means ** 2).sum(2)[:, None, :]
    return (present[d.argmin(2)] == ey[None, :]).mean(1)


def old_decodability(run: Run, by: str = "label", n_permutations: int = 100, n_boot: int = 1000, seed: int = 0,
                     max_permutation_images: int = 2000) -> pd.DataFrame:
    groups = class_groups(run, by)
    ok = groups >= 0
    counts = np.bincount(groups[ok], minlength=len(group_names(run, by)))
    usable = ok & (counts[np.clip(groups, 0, None)] >= 2)
    rows_ = np.flatnonzero(usable)
    y = groups[rows_]
    ref = split_mask(y, "reference")
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(int(ref.sum())) for _ in range(n_permutations)]
    n_eval = int((~ref).sum())
    perm_rows = np.sort(rng.choice(n_eval, max_permutation_images, replace=False)) \
        if n_eval > max_permutation_images else None
    out = []
    for g in run.gates:
        v = run.gate_values[g.name][rows_].astype(np.float64)
        train, test, ty, ey = v[ref], v[~ref], y[ref], y[~ref]
        right = (_old_nearest_class_mean(train, ty, test) == ey).astype(float)
        sub = perm_rows if perm_rows is not None else slice(None)
        permuted = _old_permuted_accuracies(train, ty, test[sub], ey[sub], perms)
        lo, hi = mean_interval(right, n_boot, seed)
        acc = float(right.mean())
        out.append({"block": g.name, "accuracy": acc, "ci_low": lo, "ci_high": hi,
                    "permuted_p95": float(np.quantile(permuted, 0.95)),
                    "p_permutation": float((1 + (permuted >= acc).sum()) / (1 + n_permutations))})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    run = synthetic_run(args.images, args.classes)
    got: dict[str, pd.DataFrame] = {}
    sides = {"old": lambda: got.__setitem__("old", old_decodability(run)),
             "new": lambda: got.__setitem__("new", decodability(run))}
    times = alternate(sides, args.repeats)
    old, new = got["old"], got["new"]
    same = bool((old["accuracy"].to_numpy() == new["accuracy"].to_numpy()).all())
    ratio = [o / n for o, n in zip(times["old"], times["new"])]
    print(f"{args.images} images x {args.classes} classes x {len(LAYOUT)} blocks (2,296 channels), "
          f"{args.repeats} repeats, alternating")
    print(f"old: {fmt(times['old'], 1)} s   new: {fmt(times['new'], 2)} s   old/new: {fmt(ratio, 1)}")
    print(f"new: {int(new['n_permutations'].iloc[0])} permutations on {int(new['n_permutation_images'].iloc[0])} "
          f"eval images; accuracies identical to the old: {same}")
    print(pd.DataFrame({"block": new["block"], "accuracy": new["accuracy"], "old_ci": list(zip(old["ci_low"],
                        old["ci_high"])), "new_ci": list(zip(new["ci_low"], new["ci_high"])),
                        "old_p95": old["permuted_p95"], "new_p95": new["permuted_p95"]}).to_string(index=False))
    path = write_results("decodability", {
        "images": args.images, "classes": args.classes, "blocks": len(LAYOUT), "repeats": args.repeats,
        "old_s": spread(times["old"]), "new_s": spread(times["new"]), "old_over_new": spread(ratio),
        "accuracies_identical": same, "new_permutations": int(new["n_permutations"].iloc[0]),
        "new_permutation_images": int(new["n_permutation_images"].iloc[0])})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
