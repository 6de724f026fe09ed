"""Before-and-after metrics of ablated runs: accuracy, NLL, per-class accuracy, flips, confusion, downstream gates.

Everything that needs no label (flipped share, confidence change, KL divergence between before
and after) is measured on every run; the rest only where images carry labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.ablation.engine import AblatedRun
from se_analysis.runs.run import Run
from se_analysis.utils.numeric import log_softmax, mean_interval, softmax

__all__ = ["AblationResult", "before_after"]


@dataclass
class AblationResult:
    """Tidy before/after tables of one or more ablations (column ``ablation`` tells them apart)."""

    overall: pd.DataFrame  # one row per ablation: accuracy, NLL, flips, confidence, KL before and after
    per_class: pd.DataFrame
    flips: pd.DataFrame
    confusion: pd.DataFrame
    downstream: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"overall": self.overall, "per_class": self.per_class, "flips": self.flips,
                "confusion": self.confusion, "downstream": self.downstream}


def before_after(evaluated: Run, ablated: Sequence[AblatedRun]) -> AblationResult:
    """Before/after metrics of each ablated run against the un-ablated ``evaluated`` Run (one ablation, or many).

    Named for what it measures: "compare" elsewhere means two Runs side by side (:mod:`se_analysis.views.two_runs`).
    """
    labels = evaluated.images["label"].to_numpy()
    has = labels >= 0
    k = len(evaluated.class_names)
    names = evaluated.class_names
    depth_of = {g.name: g.depth for g in evaluated.gates}
    overall, per_class, flips, confusion, downstream = [], [], [], [], []
    for ab in ablated:
        base_logits = ab.baseline if ab.baseline is not None else evaluated.logits
        p0 = softmax(base_logits)
        pred0 = p0.argmax(1)
        a = ab.ablation
        p1 = softmax(ab.logits)
        pred1 = p1.argmax(1)
        row = {"ablation": a.label, "blocks": ",".join(a.blocks), "mode": a.mode, "method": ab.method,
               "fallback": ab.fallback,
               "constant": a.constant if a.mode == "constant" else np.nan, "n": len(labels),
               "flipped_share": float((pred0 != pred1).mean()) if len(labels) else np.nan}
        # Measurable without labels: how far the predictions moved.
        lp0, lp1 = log_softmax(base_logits), log_softmax(ab.logits)
        row.update(confidence_before=float(p0.max(1).mean()), confidence_after=float(p1.max(1).mean()),
                   confidence_change=float(p1.max(1).mean() - p0.max(1).mean()),
                   kl_before_after=float((p0 * (lp0 - lp1)).sum(1).mean()) if len(labels) else np.nan)
        # Bootstrap 95 % intervals over images (paired: the same resampled images before and after).
        row["flipped_share_low"], row["flipped_share_high"] = mean_interval((pred0 != pred1).astype(float))
        if has.any():
            y = labels[has]
            acc0, acc1 = (pred0[has] == y).mean(), (pred1[has] == y).mean()
            right0, right1 = (pred0[has] == y).astype(float), (pred1[has] == y).astype(float)
            row["top1_after_low"], row["top1_after_high"] = mean_interval(right1)
            row["top1_change_low"], row["top1_change_high"] = mean_interval(right1 - right0)
            nll0 = -log_softmax(base_logits[has])[np.arange(len(y)), y].mean()
            nll1 = -log_softmax(ab.logits[has])[np.arange(len(y)), y].mean()
            row.update(top1_before=acc0, top1_after=acc1, top1_change=acc1 - acc0, nll_before=nll0, nll_after=nll1,
                       nll_change=nll1 - nll0,
                       right_to_wrong=float(((pred0 == labels) & (pred1 != labels) & has).sum()),
                       wrong_to_right=float(((pred0 != labels) & (pred1 == labels) & has).sum()))
            if k > 10:
                top5 = lambda p: (np.argsort(-p[has], 1)[:, :5] == y[:, None]).any(1).mean()  # noqa: E731
                row.update(top5_before=top5(p0), top5_after=top5(p1))
            for c in range(k):
                m = labels == c
                if m.any():
                    per_class.append({"ablation": a.label, "class": names[c], "class_index": c, "n": int(m.sum()),
                                      "acc_before": (pred0[m] == c).mean(), "acc_after": (pred1[m] == c).mean(),
                                      "change": (pred1[m] == c).mean() - (pred0[m] == c).mean()})
            before = np.zeros((k, k), int)
            after = np.zeros((k, k), int)
            np.add.at(before, (y, pred0[has]), 1)
            np.add.at(after, (y, pred1[has]), 1)
            for t, p in zip(*np.nonzero((before != 0) | (after != 0))):
                confusion.append({"ablation": a.label, "true": names[t], "pred": names[p], "before": before[t, p],
                                  "after": after[t, p], "change": after[t, p] - before[t, p]})
        overall.append(row)
        changed = np.flatnonzero(pred0 != pred1)
        for i in changed:
            kind = "changed"
            if labels[i] >= 0:
                kind = "right→wrong" if pred0[i] == labels[i] else ("wrong→right" if pred1[i] == labels[i]
                                                                     else "wrong→wrong")
            flips.append({"ablation": a.label, "index": int(i), "image_id": evaluated.images["image_id"].iloc[i],
                          "source": evaluated.images["source"].iloc[i],
                          "label": names[labels[i]] if labels[i] >= 0 else "(none)",
                          "pred_before": names[pred0[i]], "pred_after": names[pred1[i]],
                          "conf_before": p0[i].max(), "conf_after": p1[i].max(), "kind": kind})
        first = min(depth_of[b] for b in a.blocks)
        for name, shift in ab.gate_shift.items():
            depth = depth_of[name]
            downstream.append({"ablation": a.label, "block": name, "depth": depth, "mean_abs_change": shift,
                               "role": "ablated" if name in a.blocks else ("downstream" if depth > first else "upstream")})
    cols = dict(
        per_class=["ablation", "class", "class_index", "n", "acc_before", "acc_after", "change"],
        flips=["ablation", "index", "image_id", "source", "label", "pred_before", "pred_after", "conf_before",
               "conf_after", "kind"],
        confusion=["ablation", "true", "pred", "before", "after", "change"],
    )
    return AblationResult(
        overall=pd.DataFrame(overall), per_class=pd.DataFrame(per_class, columns=cols["per_class"]),
        flips=pd.DataFrame(flips, columns=cols["flips"]), confusion=pd.DataFrame(confusion, columns=cols["confusion"]),
        downstream=pd.DataFrame(downstream, columns=["ablation", "block", "depth", "mean_abs_change", "role"]),
    )
