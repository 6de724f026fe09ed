"""What replaces the SE gates in an ablation: the :class:`Ablation` spec and the replacement values.

An :class:`Ablation` names the blocks whose gates are replaced and the replacement:

* ``mean``: each channel's mean over the reference images (input-independent gate);
* ``class-mean``: the reference mean of the image's *true* class (an oracle: it uses the label);
* ``predicted-class-mean``: the reference mean of the class the un-ablated model predicted;
* ``constant``: a constant c (1.0 turns the SE block into the identity);
* ``shuffle``: the gates of another, random image of the evaluated set (a control).

The values are per image, (N, C) per block, so that every mode runs through the same engine
(:mod:`.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace as dc_replace

import numpy as np
import pandas as pd

from se_analysis.analysis.stats import channel_stats
from se_analysis.runs.run import Run

__all__ = ["MODES", "MODE_LABELS", "Ablation", "replacement_values", "replacement_stats"]

# Every replacement mode, with the words the app shows for it (the CLI's --mode choices are its keys).
MODE_LABELS = {"mean": "mean over the reference set", "class-mean": "class mean (oracle: uses the true label)",
               "predicted-class-mean": "mean of the predicted class", "constant": "constant",
               "shuffle": "gates of another random image (control)"}
MODES = tuple(MODE_LABELS)


@dataclass(frozen=True)
class Ablation:
    """Which gates to replace, and with what."""

    blocks: tuple[str, ...]
    mode: str = "mean"
    constant: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if not self.blocks:
            raise ValueError("an ablation needs at least one block")

    @property
    def label(self) -> str:
        """A short name for tables and legends, e.g. ``mean @ SE_4_6`` or ``constant 1 @ SE_2_1…SE_5_3 (12)``."""
        mode = f"constant {self.constant:g}" if self.mode == "constant" else self.mode
        blocks = self.blocks[0] if len(self.blocks) == 1 else f"{self.blocks[0]}…{self.blocks[-1]} ({len(self.blocks)})"
        return f"{mode} @ {blocks}"


def _reference_moments(reference: Run, block: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overall mean (C,), class means (K, C) (NaN rows for absent classes) and class counts (K,)."""
    v = reference.gate_values[block].astype(np.float64)
    labels = reference.images["label"].to_numpy() if reference.has_labels else reference.images["pred"].to_numpy()
    n = np.bincount(labels[labels >= 0], minlength=k).astype(float)
    sums = np.zeros((k, v.shape[1]))
    np.add.at(sums, labels[labels >= 0], v[labels >= 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        class_means = sums / n[:, None]
    return v.mean(0), class_means, n


def replacement_values(ablation: Ablation, evaluated: Run, reference: Run | None = None) -> dict[str, np.ndarray]:
    """Per image replacement gates, (N, C) float32 per ablated block, for the evaluated images.

    ``reference`` supplies the means (default: the evaluated images themselves). A class
    that has no reference image falls back to the overall reference mean.
    """
    reference = reference if reference is not None else evaluated
    n = len(evaluated)
    k = len(evaluated.class_names)
    out = {}
    for block in ablation.blocks:
        c = evaluated.gate_values[block].shape[1]
        if ablation.mode == "constant":
            out[block] = np.full((n, c), ablation.constant, np.float32)
        elif ablation.mode == "shuffle":
            rng = np.random.default_rng(ablation.seed)
            order = rng.permutation(n)
            donor = np.empty(n, np.int64)
            donor[order] = np.roll(order, -1)  # every image takes another image's gates
            out[block] = evaluated.gate_values[block][donor].astype(np.float32)
        else:
            mean, class_means, counts = _reference_moments(reference, block, k)
            if ablation.mode == "mean":
                out[block] = np.tile(mean.astype(np.float32), (n, 1))
            else:
                col = "label" if ablation.mode == "class-mean" else "pred"
                cls = evaluated.images[col].to_numpy()
                if ablation.mode == "class-mean" and not evaluated.has_labels:
                    raise ValueError("class-mean needs labelled images; use predicted-class-mean")
                ok = (cls >= 0) & (counts[np.clip(cls, 0, k - 1)] > 0)
                vals = np.tile(mean, (n, 1))
                vals[ok] = class_means[cls[ok]]
                out[block] = vals.astype(np.float32)
    return out


def replacement_stats(ablation: Ablation, evaluated: Run, reference: Run | None = None,
                      by: str = "label") -> pd.DataFrame:
    """Channel statistics (as :func:`stats.channel_stats`) of the values put in place of the gates."""
    values = replacement_values(ablation, evaluated, reference)
    # moments={}: the evaluated Run's stored moments describe its own gates, not these
    replaced = dc_replace(evaluated, gate_values={**evaluated.gate_values, **values}, moments={})
    return channel_stats(replaced, by=by, blocks=list(ablation.blocks))


