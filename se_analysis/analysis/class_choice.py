"""Which classes to start from, and which classes a statistic can use, at 10 classes or 1,000.

* :func:`starting_classes`: the classes a view starts with: on an ImageNet model, the paper's own four
  classes of Fig. 6 (goldfish, pug, airliner, cliff) where the images have them; otherwise the most
  frequent classes, ties broken by the farthest-point rule of :func:`stats.distinct_classes` (mean gate
  vectors that differ most at the deepest block).
* :func:`top_classes`: at most ``k`` classes for a figure that cannot show 1,000 (a heatmap's rows, a
  similarity matrix): the chosen ones first, then the most frequent.
* :func:`classes_with_images`: the classes with at least ``n`` images (a contrast or a classifier needs 2),
  and how many were left out.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import ALL, distinct_classes, present_classes
from se_analysis.data.labels import wnids_for
from se_analysis.runs.run import Run

__all__ = ["PAPER_CLASSES", "starting_classes", "run_starting_classes", "top_classes", "class_counts",
           "classes_with_images"]

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
            id, as class folders do).

    The rest, up to ``k``: the most frequent classes; among those tied at the last count taken, the
    farthest-point choice of :func:`stats.distinct_classes`. Deterministic; the paper's classes in the
    paper's order, the others in class-index order.
    """
    counts = class_counts(cs)
    if k <= 0 or counts.empty:
        return []
    wanted = paper_classes(class_names, wnids)
    ids = {name: w for w, name in zip(PAPER_CLASSES, wanted)} if wanted else {}
    picked = [c for name in wanted for c in (name, ids.get(name)) if c in counts.index][:k]
    rest = counts.drop(picked)
    if len(picked) >= k or rest.empty:
        return picked
    need = k - len(picked)
    ranked = rest.sort_values(ascending=False, kind="stable")
    cut = ranked.iloc[min(need, len(ranked)) - 1]
    sure = ranked[ranked > cut].index.tolist()
    tied = ranked[ranked == cut].index.tolist()
    if len(sure) + len(tied) > need:
        tied = distinct_classes(cs[cs["class"].isin(tied + [ALL])], need - len(sure))
    chosen = set(sure) | set(tied)
    return picked + [c for c in present_classes(cs) if c in chosen]


def run_starting_classes(run: Run, cs: pd.DataFrame, k: int = 4) -> list[str]:
    """:func:`starting_classes` with the run's model classes and (1,000-class models) their WordNet ids."""
    return starting_classes(cs, k, run.class_names, wnids_for(run.class_names))


def top_classes(cs: pd.DataFrame, k: int, chosen: Sequence[str] = ()) -> list[str]:
    """At most ``k`` classes: the ``chosen`` ones with images first (in their order), then the most frequent
    (ties in class-index order)."""
    counts = class_counts(cs)
    first = [c for c in dict.fromkeys(chosen) if c in counts.index][:k]
    rest = counts.drop(first).sort_values(ascending=False, kind="stable").index.tolist()
    return first + rest[:max(k - len(first), 0)]


def classes_with_images(cs: pd.DataFrame, at_least: int = 2) -> tuple[list[str], int]:
    """(classes with at least ``at_least`` images in class-index order, how many classes with images have fewer)."""
    counts = class_counts(cs)
    kept = counts[counts >= at_least].index.tolist()
    return kept, int(len(counts) - len(kept))
