"""Which classes the SE blocks treat alike: class x class similarity of mean gate vectors at a block.

Cosine similarity (or Pearson correlation) of the classes' mean gate vectors, as a tidy table,
with the classes in hierarchical-clustering order (average linkage on 1 - similarity), so that
classes the block treats alike sit together.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import present_classes

__all__ = ["class_similarity"]


def class_similarity(cs: pd.DataFrame, block: str, metric: str = "cosine",
                     classes: Sequence[str] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(tidy table ``block, class_a, class_b, similarity``, classes in clustering order).

    Args:
        cs: :func:`se_analysis.analysis.stats.channel_stats` output.
        metric: ``cosine`` of the mean gate vectors, or ``correlation`` (Pearson, centred per class).
        classes: the classes to compare (default: every class with images; at 1,000 classes, 1,000,000
            pairs: choose some, e.g. :func:`~se_analysis.analysis.class_choice.top_classes`). Clustered
            among themselves.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    if metric not in ("cosine", "correlation"):
        raise ValueError(f"metric must be cosine or correlation, not {metric!r}")
    present = present_classes(cs)
    classes = present if classes is None else [c for c in dict.fromkeys(classes) if c in set(present)]
    at = cs[(cs["block"] == block) & cs["class"].isin(classes)]
    x = at.pivot_table(index="class", columns="channel", values="mean").reindex(classes).to_numpy(np.float64)
    if metric == "correlation":
        x = x - x.mean(1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm > 0, x / np.where(norm > 0, norm, 1), 0.0)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    order = classes
    if len(classes) > 2:
        dist = np.clip(1.0 - sim, 0.0, None)
        np.fill_diagonal(dist, 0.0)
        order = [classes[i] for i in leaves_list(linkage(squareform((dist + dist.T) / 2, checks=False), "average"))]
    a, b = np.meshgrid(np.arange(len(classes)), np.arange(len(classes)), indexing="ij")
    table = pd.DataFrame({"block": block, "class_a": np.array(classes)[a.ravel()],
                          "class_b": np.array(classes)[b.ravel()], "similarity": sim.ravel(), "metric": metric})
    return table, order
