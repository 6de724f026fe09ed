"""Which classes to start from, and which classes a statistic can use, at 10 classes or 1,000.

* :func:`starting_classes`: the classes a view starts with: on an ImageNet model, the paper's own four
  classes of Fig. 6 (goldfish, pug, airliner, cliff) where the images have them; otherwise the most
  frequent classes, ties broken by the farthest-point rule of :func:`distinct_classes` (mean gate
  vectors that differ most at the deepest block).
* :func:`top_classes`: at most ``k`` classes for a figure that cannot show 1,000 (a heatmap's rows, a
  similarity matrix): the chosen ones first, then the most frequent, ties broken the same way (at
  ImageNet val's 50 images of every class, a spread over the classes, not the first 60 in index order:
  56 fish, birds and amphibians).
* :func:`distinct_classes`: ``k`` classes whose mean gates differ most (farthest-point order).
* :func:`classes_with_images`: the classes with at least ``n`` images (a contrast or a classifier needs 2),
  and how many were left out.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import ALL, present_classes
from se_analysis.data.labels import wnids_for
from se_analysis.runs.run import Run

__all__ = ["PAPER_CLASSES", "starting_classes", "run_starting_classes", "top_classes", "class_counts",
           "classes_with_images", "distinct_classes"]

# The paper's Fig. 6 (Hu et al.): its four ImageNet classes, by WordNet id.
PAPER_CLASSES = {"n01443537": "goldfish", "n02110958": "pug", "n02690373": "airliner", "n09246464": "cliff"}


def class_counts(cs: pd.DataFrame) -> pd.Series:
    """Images per class of a :func:`stats.channel_stats` table (classes with images, in class-index order)."""
    channel = cs["channel"].to_numpy()  # one row per class and block at the smallest channel: no string scan
    lowest = channel == channel.min() if len(cs) else np.zeros(0, bool)
    rows = cs[lowest & (cs["class_index"].to_numpy() >= 0) & (cs["n"].to_numpy() > 0)]
    rows = rows.drop_duplicates("class").sort_values("class_index")
    return rows.set_index("class")["n"].astype(int)


def paper_classes(class_names: Sequence[str], wnids: Sequence[str] | None) -> list[str]:
    """The paper's four classes as this model names them (empty without WordNet ids)."""
    if wnids is None:
        return []
    index = {w: i for i, w in enumerate(wnids)}
    return [class_names[index[w]] for w in PAPER_CLASSES if w in index and index[w] < len(class_names)]


def starting_classes(cs: pd.DataFrame, k: int = 4, class_names: Sequence[str] = (),
                     wnids: Sequence[str] | None = None) -> list[str]:
    """The ``k`` classes a view starts with.

    Args:
        cs: :func:`stats.channel_stats` output (its classes and counts).
        class_names, wnids: the model's class names and WordNet ids (``data.labels.wnids_for``); with them,
            the paper's four classes that have images here come first (a class may also go by its WordNet
            id, as class folders do, or by both, ``goldfish (n01443537)``, as folders are shown).

    The rest, up to ``k``: the most frequent classes; among those tied at the last count taken, the
    farthest-point choice of :func:`distinct_classes`. Deterministic; the paper's classes in the
    paper's order, the others in class-index order.
    """
    counts = class_counts(cs)
    if k <= 0 or counts.empty:
        return []
    wanted = paper_classes(class_names, wnids)
    ids = {name: w for w, name in zip(PAPER_CLASSES, wanted)} if wanted else {}
    picked = [c for name in wanted for c in (name, ids.get(name), f"{name} ({ids.get(name)})")
              if c in counts.index][:k]
    chosen = _most_frequent(cs, counts.drop(picked), k - len(picked))
    return picked + [c for c in counts.index if c in chosen]


def _most_frequent(cs: pd.DataFrame, counts: pd.Series, need: int) -> set[str]:
    """``need`` classes of ``counts`` (images per class): the most frequent; among those tied at the last
    count taken, the farthest-point choice of :func:`distinct_classes`."""
    if need <= 0 or counts.empty:
        return set()
    ranked = counts.sort_values(ascending=False, kind="stable")
    cut = ranked.iloc[min(need, len(ranked)) - 1]
    sure = ranked[ranked > cut].index.tolist()
    tied = ranked[ranked == cut].index.tolist()
    if len(sure) + len(tied) > need:
        tied = distinct_classes(cs, need - len(sure), among=tied)
    return set(sure) | set(tied)


def run_starting_classes(run: Run, cs: pd.DataFrame, k: int = 4) -> list[str]:
    """:func:`starting_classes` with the run's model classes and (1,000-class models) their WordNet ids."""
    return starting_classes(cs, k, run.class_names, wnids_for(run.class_names))


def top_classes(cs: pd.DataFrame, k: int, chosen: Sequence[str] = ()) -> list[str]:
    """At most ``k`` classes: the ``chosen`` ones with images first (in their order), then the most frequent
    (ties broken by :func:`distinct_classes`; in order of frequency, then class index)."""
    counts = class_counts(cs)
    first = [c for c in dict.fromkeys(chosen) if c in counts.index][:k]
    rest = counts.drop(first)
    taken = _most_frequent(cs, rest, k - len(first))
    return first + [c for c in rest.sort_values(ascending=False, kind="stable").index if c in taken]


def distinct_classes(cs: pd.DataFrame, k: int = 4, block: str | None = None,
                     among: Sequence[str] | None = None) -> list[str]:
    """``k`` classes (of ``among``, default every class with images) whose mean gate vectors differ most at
    ``block`` (default: the deepest block).

    A rule that fits any model and data set: start from the class farthest from the mean over
    all images, then add, one at a time, the class farthest (Euclidean) from those already
    picked (farthest-point order). Deterministic; returned in class-index order.
    """
    present = present_classes(cs)
    if among is not None:
        wanted = set(among)
        present = [c for c in present if c in wanted]
    if len(present) <= k:
        return present
    if block is None:  # the deepest block, read without sorting a 15-million-row table
        block = cs["block"].iloc[int(np.argmax(cs["depth"].to_numpy()))]
    vectors, pooled = _mean_vectors(cs[cs["block"] == block], present)
    squares = np.einsum("ij,ij->i", vectors, vectors)

    def distances(to: np.ndarray) -> np.ndarray:  # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: one product per class
        return np.sqrt(np.maximum(squares + to @ to - 2 * (vectors @ to), 0.0))
    picked = [int(np.argmax(distances(pooled)))]
    dist = distances(vectors[picked[0]])  # to the nearest class picked so far
    while len(picked) < k:
        dist[picked] = -1.0
        picked.append(int(np.argmax(dist)))
        dist = np.minimum(dist, distances(vectors[picked[-1]]))
    return [present[i] for i in sorted(picked)]


def classes_with_images(cs: pd.DataFrame, at_least: int = 2) -> tuple[list[str], int]:
    """(classes with at least ``at_least`` images in class-index order, how many classes with images have fewer)."""
    counts = class_counts(cs)
    kept = counts[counts >= at_least].index.tolist()
    return kept, int(len(counts) - len(kept))


def _mean_vectors(at: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(classes x channels, channels): the classes' and all images' mean gates in one block's rows of a
    channel-stats table, placed by class index and channel (a pivot of 1000 classes x 2,048 channels
    through pandas takes a third of a second, on every rerun of the page that asks)."""
    ci, ch, mean = at["class_index"].to_numpy(), at["channel"].to_numpy(), at["mean"].to_numpy(np.float64)
    first = at[(ch == ch.min()) & (ci >= 0)]
    index_of = dict(zip(first["class"].astype(str), first["class_index"].to_numpy()))
    pos = np.full(int(ci.max()) + 1, -1)
    pos[[index_of[c] for c in classes]] = np.arange(len(classes))
    keep = ci >= 0
    keep[keep] = pos[ci[keep]] >= 0
    vectors = np.full((len(classes), int(ch.max()) + 1), np.nan)
    vectors[pos[ci[keep]], ch[keep]] = mean[keep]
    is_all = (at["class"] == ALL).to_numpy()
    if not is_all.any():
        return vectors, vectors.mean(0)
    pooled = np.full(vectors.shape[1], np.nan)
    pooled[ch[is_all]] = mean[is_all]
    return vectors, pooled
