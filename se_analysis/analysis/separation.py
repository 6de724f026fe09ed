"""Do the classes separate as depth grows, and by more than chance? PCA of gate vectors and decodability.

* :func:`gate_pca`: per block, a deterministic 2-D PCA of every image's gate vector (centred;
  eigenvectors of the C x C covariance, each signed so its largest loading is positive), so the
  paper's "class-agnostic early, class-specific late" shows as clusters forming over depth.
* :func:`decodability`: per block, a nearest-class-mean classifier on the gates, fitted on the
  reference half of each class and scored on the eval half (the sample sets' split rule), with a
  bootstrap 95 % interval over eval images, chance (1/K) and a label-permutation baseline (the
  classifier refitted on reference images whose labels were shuffled).
* :func:`stored_gate_pca`, :func:`stored_decodability`: the same, computed once per Run and kept beside it
  (:mod:`se_analysis.runs.derived`); :func:`precompute_separation`, which ``extract`` runs, fills them.

At ImageNet val's 50,000 images x 1,000 classes it stays within seconds: distances are float32 matrix
products (||m||^2 - 2 x.m) with near ties decided in float64, class means one sparse product, and the
permutation baseline bounded in work (:func:`permutation_plan`); the answers are float64's.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import GroupBy, class_groups, group_names
from se_analysis.data.image_sets import split_mask
from se_analysis.runs.derived import derived_table, is_kept, keeps_tables
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["gate_pca", "pca_scores", "stored_gate_pca", "stored_decodability", "precompute_separation", "decodability",
           "nearest_class_mean", "permutation_plan", "separation_to_compute", "Progress", "PCA_FIT_ROWS", "PCA_TABLE"]

_EPS32 = float(np.finfo(np.float32).eps)
_CHUNK = 8_000_000  # distances held at a time in the nearest-mean search
REFIT_COST = 25  # a refit's sparse product per value, in the scoring's matrix-product multiply-adds (measured)


PCA_FIT_ROWS = 5_000  # images the principal axes are fitted on (evenly spaced); every image is projected


def _pca2(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) scores on the first two principal axes and their shares of the variance.

    Up to :data:`PCA_FIT_ROWS` images the axes are those of all of them (exact). Past that (ImageNet val: 50,000
    images, up to 2,048 channels, a 2e11-operation covariance) they are fitted on an evenly spaced subset of
    that many images, which at this size gives the same two axes to within sampling noise, and every image
    is projected on them (in float64, that many rows at a time: no float64 copy of the whole block).
    """
    mean = v.mean(0, dtype=np.float64)
    pick = slice(None) if len(v) <= PCA_FIT_ROWS else np.linspace(0, len(v) - 1, PCA_FIT_ROWS).round().astype(np.int64)
    fit = np.asarray(v[pick], np.float64) - mean
    cov = fit.T @ fit / max(len(fit) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(vals)[::-1][:2]
    vecs = vecs[:, order]
    vecs *= np.where(vecs[np.abs(vecs).argmax(0), np.arange(vecs.shape[1])] < 0, -1.0, 1.0)  # deterministic sign
    total = vals.sum()
    share = vals[order] / total if total > 0 else np.zeros(len(order))
    scores = np.concatenate([(np.asarray(v[s:s + PCA_FIT_ROWS], np.float64) - mean) @ vecs
                             for s in range(0, len(v), PCA_FIT_ROWS)] or [np.zeros((0, vecs.shape[1]))])
    if scores.shape[1] < 2:  # a one-channel block
        scores = np.column_stack([scores, np.zeros(len(v))])
        share = np.append(share, 0.0)
    return scores, share


Progress = Callable[[float, str], None]  # (share of the work done, the block just done)


def _block_shares(run: Run, names: Sequence[str]) -> dict[str, float]:
    """Each block's share of the work done once it is done: channels so far over all (the cost grows with them)."""
    channels = {g.name: g.channels for g in run.gates if g.name in set(names)}
    total, done, out = max(sum(channels.values()), 1), 0, {}
    for name, c in channels.items():
        done += c
        out[name] = done / total
    return out


def pca_scores(run: Run, blocks: Sequence[str] | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """One row per (block, image), images in the Run's order: ``block, depth, pc1, pc2, pc1_share, pc2_share``.

    The axes depend on the gates only, not on how images are grouped, so one table serves every grouping
    (:func:`gate_pca` adds the classes). ``progress`` is told after each block.
    """
    frames = []
    shares = _block_shares(run, [g.name for g in run.gates if blocks is None or g.name in blocks])
    for g in run.gates:
        if blocks is not None and g.name not in blocks:
            continue
        scores, share = _pca2(run.gate_values[g.name])
        if progress is not None:
            progress(shares[g.name], g.name)
        frames.append(pd.DataFrame({"block": g.name, "depth": g.depth, "pc1": scores[:, 0], "pc2": scores[:, 1],
                                    "pc1_share": share[0], "pc2_share": share[1]}))
    return pd.concat(frames, ignore_index=True)


def _with_classes(run: Run, scores: pd.DataFrame, by: GroupBy) -> pd.DataFrame:
    """:func:`pca_scores` rows with each image's ``image_id``, ``class`` and ``class_index`` (-1: none)."""
    groups, names = class_groups(run, by), group_names(run, by)
    blocks = scores["block"].nunique()
    label = np.append(np.asarray(names, dtype=object), "(none)")[np.where(groups >= 0, groups, len(names))]
    out = scores[["block", "depth"]].copy()
    out["image_id"] = np.tile(run.images["image_id"].to_numpy(), blocks)
    out["class"] = np.tile(label, blocks)
    out["class_index"] = np.tile(groups, blocks)
    for col in ("pc1", "pc2", "pc1_share", "pc2_share"):
        out[col] = scores[col].to_numpy()
    return out


def gate_pca(run: Run, by: GroupBy = "label", blocks: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (block, image): ``pc1, pc2``, the image, its class and ``class_index`` (-1: none), plus each
    axis's share of the variance."""
    return _with_classes(run, pca_scores(run, blocks), by)


PCA_TABLE = f"pca-fit{PCA_FIT_ROWS}"  # the kept PCA's name: the parameter its axes depend on
PCA_SHARE = 1 / 3  # the PCA's share of the time the two kept tables take (about 15 of 45 s at SE-ResNet-50 scale)


def _kept_pca_scores(run: Run, progress: Progress | None = None) -> pd.DataFrame:
    """:func:`pca_scores` of every block, computed once per Run and kept."""
    return derived_table(run, PCA_TABLE, lambda: pca_scores(run, progress=progress))


def stored_gate_pca(run: Run, by: GroupBy = "label") -> pd.DataFrame:
    """:func:`gate_pca` of every block, its scores computed once per Run and kept (:func:`derived_table`)."""
    return _with_classes(run, _kept_pca_scores(run), by)


def stored_decodability(run: Run, by: GroupBy = "label", progress: Progress | None = None) -> pd.DataFrame:
    """:func:`decodability` with its defaults, computed once per Run and grouping and kept (:func:`derived_table`).

    Raises:
        ValueError: as :func:`decodability` (too few classes with two images): nothing is kept.
    """
    return derived_table(run, f"decodability-{by}", lambda: decodability(run, by=by, progress=progress))


def separation_to_compute(run: Run, by: GroupBy = "label") -> bool:
    """Whether the kept PCA or decodability (grouped ``by``) of this Run would be computed now, not read: a page
    then shows :func:`precompute_separation`'s progress instead of a minute behind a spinner (an older Run, or
    one saved without ``derived/``). False for Runs that keep no tables (computed each time) or no gates."""
    return (run.has_gate_arrays and bool(len(run)) and bool(run.gates) and keeps_tables(run)
            and not (is_kept(run, PCA_TABLE) and is_kept(run, f"decodability-{by}")))


def precompute_separation(run: Run, by: GroupBy = "label", progress: Progress | None = None) -> None:
    """Compute and keep the PCA and the decodability (grouped ``by``) of a full Run, as ``extract`` does after
    saving one, so that the Depth page and ``export`` find them on any machine the folder is copied to.
    ``progress`` hears the share done (PCA first, then decodability) after each block."""
    if not run.has_gate_arrays or not len(run) or not run.gates:
        return
    pca_part = PCA_SHARE if not is_kept(run, PCA_TABLE) else 0.0

    def phase(start: float, width: float, what: str) -> Progress | None:
        return None if progress is None else lambda f, block: progress(start + width * f, f"{what}: {block}")
    _kept_pca_scores(run, phase(0.0, pca_part, "PCA"))
    try:
        stored_decodability(run, by, phase(pca_part, 1.0 - pca_part, "decodability"))
    except ValueError:  # fewer than two classes of two images: nothing to decode
        pass


class _Fit:
    """Nearest-class-mean fit on training gates ``train`` (n, C) with class codes ``code`` (0..k-1, each present):
    the means in float64 (one sparse product), and in float32 for the distances.

    ``train64``: ``train`` as float64, when the caller has it (the permutations refit on the same rows).
    """

    def __init__(self, train: np.ndarray, code: np.ndarray, k: int, train64: np.ndarray | None = None):
        from scipy import sparse

        n = len(code)
        train64 = np.asarray(train, np.float64) if train64 is None else train64
        counts = np.bincount(code, minlength=k)
        order = np.argsort(code, kind="stable")  # each class's rows, in row order
        member = sparse.csr_matrix((np.ones(n), order, np.concatenate([[0], np.cumsum(counts)])), shape=(k, n))
        self.exact = np.asarray(member @ train64) / counts[:, None]  # (k, C) float64
        self.means = self.exact.astype(np.float32)
        # The float32 means are the float64 ones rounded: each element within half an ulp.
        self.mean_error = _EPS32 / 2 * float(np.sqrt((self.exact ** 2).sum(1).max())) if k else 0.0

    def exact_means(self, classes: np.ndarray) -> np.ndarray:
        """(len(classes), C) float64 means of the given classes."""
        return self.exact[classes]


def _gamma(n: int) -> float:
    """The rounding bound of a float32 sum or dot product of n terms, relative to the sum of |terms|."""
    return n * _EPS32 / 2 / (1 - n * _EPS32 / 2)


def _nearest(test: np.ndarray, fit: _Fit) -> np.ndarray:
    """Code of the nearest class mean for each row of ``test`` (m, C) float32: the float64 answer, at float32 cost.

    Distances ||m||^2 - 2 x.m (||x||^2 is the same for every class) come from one float32 matrix product per
    chunk of rows. Each has a proven bound on its error against the exact distance (the product's rounding,
    gamma_C ||x|| ||m||, and the float32 means' own error); for the rows where another class lies within twice
    that bound of the nearest, the candidates within it are scored again in float64 from the exact means, with
    the reference formula (:func:`_distances64`), so ties and near ties are decided as float64 decides them.
    (The float64 means are sums in the sparse product's order, not the reference's: they agree to ~1e-16.)
    """
    k, c = fit.means.shape
    if k == 1:
        return np.zeros(len(test), np.int64)
    m32T = np.ascontiguousarray(fit.means.T)
    msq = (fit.means.astype(np.float64) ** 2).sum(1)
    big_m = float(np.sqrt(msq.max())) + fit.mean_error
    msq32 = msq.astype(np.float32)[None, :]
    best = np.empty(len(test), np.int64)
    step = max(1, _CHUNK // k)  # rows at a time: the distance matrix stays within ~32 MB
    for s in range(0, len(test), step):
        x = test[s:s + step]
        d = x @ m32T
        d *= -2
        d += msq32
        best[s:s + step] = d.argmin(1)
        two = np.partition(d, 1, axis=1)[:, :2].astype(np.float64)  # the two nearest
        nx = np.sqrt((x.astype(np.float64) ** 2).sum(1))
        e = fit.mean_error
        err = (2 * _gamma(c) * nx * big_m + 2 * nx * e + (2 * big_m + e) * e
               + 2 * _EPS32 * (big_m ** 2 + nx * big_m))  # |computed - exact| of any one distance of the row
        close = np.flatnonzero(two[:, 1] - two[:, 0] <= 4 * err)  # twice the bound on each of two distances
        if len(close):
            within = d[close] <= (two[close, 0] + 4 * err[close])[:, None].astype(np.float32)
            rows, cols = np.nonzero(within)
            classes = np.unique(cols)
            exact = _distances64(np.asarray(x[close], np.float64), fit.exact_means(classes))
            masked = np.full(exact.shape, np.inf)
            at = np.searchsorted(classes, cols)
            masked[rows, at] = exact[rows, at]
            best[s + close] = classes[masked.argmin(1)]
    return best


def _distances64(test: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (m, K), in float64, by the reference formula."""
    return (test ** 2).sum(1)[:, None] - 2 * test @ means.T + (means ** 2).sum(1)[None, :]


def nearest_class_mean(train: np.ndarray, train_y: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Predicted class of each test row: the class whose training mean is nearest (Euclidean).

    Computed in float32 with near ties decided in float64 (:func:`_nearest`): the answers of float64
    throughout (on the float32 values), at a fraction of its cost.
    """
    present, code = np.unique(train_y, return_inverse=True)
    fit = _Fit(np.asarray(train, np.float32), code.ravel(), len(present))
    return present[_nearest(np.asarray(test, np.float32), fit)]


def _permuted_accuracies(train: np.ndarray, ty: np.ndarray, test: np.ndarray, ey: np.ndarray,
                         perms: Sequence[np.ndarray]) -> np.ndarray:
    """Nearest-class-mean accuracy on ``test`` with the training labels permuted (``ty[p]``), one per permutation.

    The same numbers as :func:`nearest_class_mean` per permutation (a test checks it): the class means
    refitted on every training image each time.
    """
    present, code = np.unique(ty, return_inverse=True)
    code = code.ravel()
    test, train64 = np.asarray(test, np.float32), np.asarray(train, np.float64)  # the same rows every time
    return np.array([(present[_nearest(test, _Fit(train, code[p], len(present), train64))] == ey).mean()
                     for p in perms])


def _binary_mean_interval(right: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Bootstrap percentile interval of the mean of 0/1 values.

    Resampling n values of which a share p is 1 gives a mean distributed exactly as Binomial(n, p) / n, so
    the ``n_boot`` resampled means are drawn as binomials (the same distribution as resampling the images,
    without n x n_boot draws).
    """
    n = len(right)
    if not n:
        return np.nan, np.nan
    means = np.random.default_rng(seed).binomial(n, float(right.mean()), n_boot) / n
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def permutation_plan(n_reference: int, n_eval: int, classes: int, channels: Sequence[int], n_permutations: int = 100,
                     max_permutation_images: int = 1000, budget: float = 5e10, min_permutations: int = 19,
                     min_images: int = 200, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The label permutations and the eval images the permutation baseline scores (:func:`decodability`).

    One permutation costs a refit (the class means of every reference image: a sparse product, counted as
    :data:`REFIT_COST` multiply-adds per reference value) and its scoring ((images scored) x classes
    multiply-adds per channel), summed over blocks. The baseline scores at most ``max_permutation_images``
    eval images, and no more than make its scoring cost about as much as its refits (never fewer than
    ``min_images``); it runs ``n_permutations``, fewer where that would exceed ``budget``, never fewer than
    ``min_permutations`` (19: a p-value can still reach 0.05). The images are a fixed random subset, the same
    for every permutation and block. At the default's 500 images nothing is cut; at 50,000 images (25,000 eval)
    and the default's 2,296 channels, 19 permutations score 625 images at 1,000 classes, 34 score 1,000 at 10.

    Returns:
        (permutations of the reference images, sorted eval rows scored or None for all of them).
    """
    rng = np.random.default_rng(seed)
    width = max(sum(channels), 1)
    scored = int(min(n_eval, max_permutation_images, max(min_images, REFIT_COST * n_reference // max(classes, 1))))
    per_permutation = (REFIT_COST * n_reference + scored * classes) * width
    p = int(min(n_permutations, max(min_permutations, budget // max(per_permutation, 1))))
    perms = [rng.permutation(n_reference) for _ in range(p)]
    rows = np.sort(rng.choice(n_eval, scored, replace=False)) if n_eval > scored else None
    return perms, rows


def decodability(run: Run, by: GroupBy = "label", n_permutations: int = 100, n_boot: int = 1000,
                 seed: int = 0, max_permutation_images: int = 1000, budget: float = 5e10,
                 progress: Progress | None = None) -> pd.DataFrame:
    """Per block: nearest-class-mean accuracy on the eval half, its interval, chance and the permutation baseline.

    Only classes with at least two images take part (one for the reference half, one to score); the
    others are counted in ``classes_left_out``. The accuracy scores every eval image; its 95 % interval is
    the bootstrap percentile interval over eval images (drawn as binomials, the exact law of a resampled
    share: :func:`_binary_mean_interval`).

    The permutation baseline refits the class means on the reference images with their labels shuffled
    (:func:`permutation_plan`): at most ``max_permutation_images`` eval images are scored (a fixed random
    subset, the same for every permutation and block; fewer where classes make scoring cost more than
    refitting, at least 200), and fewer permutations (at least 19) where images, classes and channels make
    each one costly (``budget`` multiply-adds); ``progress`` is told after each block. The
    p-value compares like with like: the observed classifier's accuracy on that same subset
    (``accuracy_permutation_images``) against the permuted ones, so it is an exact permutation test, (1 + #permuted >= observed) / (1 + n_permutations), whose smallest
    value is 1 / (1 + n_permutations).

    Returns:
        Columns ``block, depth, accuracy, ci_low, ci_high, chance, permuted_mean, permuted_p95, p_permutation,
        accuracy_permutation_images, n_permutations, n_permutation_images, n_reference, n_eval, classes,
        classes_left_out``.

    Raises:
        ValueError: fewer than two classes with at least two images each.
    """
    groups = class_groups(run, by)
    ok = groups >= 0
    counts = np.bincount(groups[ok], minlength=len(group_names(run, by)))
    usable = ok & (counts[np.clip(groups, 0, None)] >= 2)
    left_out = int(((counts > 0) & (counts < 2)).sum())
    if len(np.unique(groups[usable])) < 2:
        raise ValueError("decodability needs two classes with at least two images each"
                         + (f" ({plural(left_out, 'class', 'classes')} with a single image here)" if left_out else ""))
    rows_ = np.flatnonzero(usable)
    y = groups[rows_]
    ref = split_mask(y, "reference")
    k = len(np.unique(y))
    n_eval = int((~ref).sum())
    perms, perm_rows = permutation_plan(int(ref.sum()), n_eval, k, [g.channels for g in run.gates], n_permutations,
                                        max_permutation_images, budget, seed=seed)
    n_perm = len(perms)
    ty, ey = y[ref], y[~ref]
    present, code = np.unique(ty, return_inverse=True)
    code = code.ravel()
    sub = perm_rows if perm_rows is not None else slice(None)
    out, shares = [], _block_shares(run, [g.name for g in run.gates])
    for g in run.gates:  # one block's gates in memory at a time
        v = np.asarray(run.gate_values[g.name][rows_], np.float32)
        train, test = v[ref], v[~ref]
        right = (present[_nearest(test, _Fit(train, code, len(present)))] == ey).astype(float)
        permuted = _permuted_accuracies(train, ty, test[sub], ey[sub], perms)
        observed_sub = float(right[sub].mean())
        lo, hi = _binary_mean_interval(right, n_boot, seed)
        out.append({"block": g.name, "depth": g.depth, "accuracy": float(right.mean()), "ci_low": lo, "ci_high": hi,
                    "chance": 1.0 / k,
                    "permuted_mean": float(permuted.mean()) if n_perm else np.nan,
                    "permuted_p95": float(np.quantile(permuted, 0.95)) if n_perm else np.nan,
                    "p_permutation": float((1 + (permuted >= observed_sub).sum()) / (1 + n_perm)),
                    "accuracy_permutation_images": observed_sub, "n_permutations": n_perm,
                    "n_permutation_images": int(len(ey[sub])),
                    "n_reference": int(ref.sum()), "n_eval": n_eval, "classes": k, "classes_left_out": left_out})
        if progress is not None:
            progress(shares[g.name], g.name)
    return pd.DataFrame(out)
