"""Per-class and per-depth statistics of gate values, as tidy pandas tables.

All tables have one row per observation and fixed columns, so they export unchanged:

* :func:`channel_stats` -> ``block, depth, channel, class, class_index, mean, std, n``
  (one row per block x channel x class, plus the class ``all``);
* :func:`block_stats` -> ``block, depth, channels, n, mean, std, specificity,
  saturation_high, saturation_low``: one row per block;
* :func:`~se_analysis.analysis.quantiles.block_quantiles` (beside it) -> ``block, depth, q05, ..., mean``;
* :func:`image_gates` -> ``block, depth, channel, value, class_mean, class``.

Class-specificity of a block is the share of gate variance explained by class, averaged over
channels: for channel c, ``sum_k n_k (mu_kc - mu_c)^2 / sum_i (s_ic - mu_c)^2`` (eta squared, in
[0, 1]); 0 means every class gets the same gate, 1 means the gate is a function of the class.
Saturation is the share of gate values above 0.9 (``saturation_high``) and below 0.1.

Images are grouped (``by``, :data:`GroupBy`) by true label, prediction, class folder, or, for models of
the 1000 ImageNet classes, by WordNet superclass at a depth: ``"superclass:9"`` groups by the true
label's ancestor at depth 9 (mammal, bird, ...; see :mod:`se_analysis.data.hierarchy`),
``"pred-superclass:9"`` by the prediction's. :func:`parse_group_by` is the one place that reads ``by``.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.data.hierarchy import SuperclassLevel, superclass_names, superclass_of, superclass_options
from se_analysis.data.labels import folder_labels, wnids_for
from se_analysis.runs.moments import GateMoments
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["ALL", "GroupBy", "GROUP_KINDS", "parse_group_by", "superclass_groups", "superclass_levels",
           "FEW_IMAGES_PER_CLASS", "present_classes", "specificity_note", "class_groups",
           "group_names", "folder_names", "channel_stats", "block_stats", "image_gates",
           "moments_for", "channel_specificity", "heatmap_table", "specificity", "CATEGORICAL_ROWS"]

ALL = "all"
GroupBy = str
"""``label``, ``pred``, ``folder``, ``superclass:<depth>`` or ``pred-superclass:<depth>`` (:func:`parse_group_by`)."""
GROUP_KINDS = ("label", "pred", "folder", "superclass", "pred-superclass")
_SUPERCLASS = ("superclass", "pred-superclass")


def parse_group_by(by: GroupBy) -> tuple[str, int | None]:
    """``by`` as (kind, depth): ``"superclass:9"`` -> ``("superclass", 9)``, ``"label"`` -> ``("label", None)``.

    Raises:
        ValueError: an unknown kind, or a superclass without a depth (``superclass:<depth>``, 0 = entity).
    """
    kind, sep, depth = str(by).partition(":")
    if kind in _SUPERCLASS:
        if not depth.isdigit():
            raise ValueError(f"{kind} needs a WordNet depth, as in {kind}:9 (counted from entity, 0)")
        return kind, int(depth)
    if kind not in GROUP_KINDS or sep:
        raise ValueError(f"group by label, pred, folder, superclass:<depth> or pred-superclass:<depth>, not {by!r}")
    return kind, None


def superclass_groups(run: Run, depth: int) -> tuple[list[str], np.ndarray]:
    """(group names, group index of each of the model's classes) for WordNet superclasses at ``depth``.

    The groups are those of all the model's 1000 classes, in the order of their first class, so a group
    keeps its index (and colour) from run to run.

    Raises:
        ValueError: the model's classes are not ImageNet's 1000 (no WordNet ids to place them).
    """
    wnids = wnids_for(run.class_names)
    if wnids is None:
        raise ValueError(f"grouping by WordNet superclass needs a model of the 1000 ImageNet classes; this run's "
                         f"model has {plural(len(run.class_names), 'class', 'classes')}: group by label, prediction or "
                         "folder")
    groups = superclass_of(wnids, depth)
    order = list(dict.fromkeys(g for g in groups if g is not None))
    index = {g: i for i, g in enumerate(order)}
    return superclass_names(order), np.array([index.get(g, -1) for g in groups], np.int64)


def folder_names(run: Run) -> list[str] | None:
    """The class folders of a run made from a folder of sub-folders (sorted), else None.

    Folder names that are not the model's classes are kept this way as groups of their own.
    """
    if run.manifest.get("data_spec", {}).get("kind") != "folder" or not len(run):
        return None
    ids = run.images["image_id"].astype(str)
    if not ids.str.contains("/").all():
        return None
    return sorted(ids.str.split("/").str[0].unique().tolist())


def group_names(run: Run, by: GroupBy = "label") -> list[str]:
    """The names the group indices of :func:`class_groups` point into."""
    kind, depth = parse_group_by(by)
    if kind in _SUPERCLASS:
        return superclass_groups(run, depth)[0]
    if kind == "folder":
        names = folder_names(run)
        if names is None:
            raise ValueError("this run's images do not come from class folders: group by label or prediction")
        return folder_labels(names, run.class_names)  # WordNet-id folders read as their classes
    return run.class_names


def class_groups(run: Run, by: GroupBy = "label") -> np.ndarray:
    """Group index per image: the true label, the prediction (also when the run has no labels), the folder, or the
    WordNet superclass of the label (of the prediction when the run has no labels) or of the prediction; -1 for
    an unlabelled image grouped by label."""
    kind, depth = parse_group_by(by)
    if kind in _SUPERCLASS:
        of_class = superclass_groups(run, depth)[1]
        cls = run.images["label" if kind == "superclass" and run.has_labels else "pred"].to_numpy()
        return np.where(cls >= 0, of_class[np.clip(cls, 0, None)], -1).astype(np.int64)
    if kind == "folder":
        index = {name: i for i, name in enumerate(folder_names(run) or group_names(run, "folder"))}
        return run.images["image_id"].astype(str).str.split("/").str[0].map(index).to_numpy(np.int64)
    if by == "label" and run.has_labels:
        return run.images["label"].to_numpy()
    return run.images["pred"].to_numpy()


def specificity(values: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Eta squared per channel (C,): between-class variance over total variance.

    A constant channel (its gate's standard deviation over the labelled images below
    :data:`~se_analysis.runs.moments.CONSTANT_STD`, total variance 0 included) has specificity 0, as
    the README counts it, never NaN or a ratio of rounding noise; NaN only when no image has a class
    (every group < 0).

    >>> groups = np.array([0, 0, 1, 1])
    >>> specificity(np.array([[0.5, 0.1], [0.5, 0.1], [0.5, 0.9], [0.5, 0.9]]), groups, 2).tolist()
    [0.0, 1.0]
    >>> specificity(np.full((4, 1), 0.5), np.full(4, -1), 2).tolist()
    [nan]
    """
    return GateMoments.from_arrays({"block": values}, groups, k).specificity("block")


def moments_for(run: Run, by: GroupBy = "label") -> GateMoments:
    """The streamed moments behind the tables: stored (summary-only runs) or streamed over the arrays."""
    kind, depth = parse_group_by(by)
    if kind in _SUPERCLASS:  # a summary-only run's per-class moments pool exactly into superclasses
        of_label = kind == "superclass" and run.has_labels
        stored = run.moments.get("label" if of_label else "pred")
        if stored is not None:
            names, of_class = superclass_groups(run, depth)
            return _pooled(stored, of_class, len(names))
    key = by if kind == "folder" else "label" if kind == "label" and run.has_labels else "pred"
    if kind not in _SUPERCLASS and key in run.moments:
        return run.moments[key]
    if not run.has_gate_arrays:
        raise ValueError(f"this summary-only run kept no per-image gates to group by {by}")
    return GateMoments.from_arrays(run.gate_values, class_groups(run, by), len(group_names(run, by)), run.gate_names)


def superclass_levels(run: Run, kind: str = "superclass") -> list[SuperclassLevel]:
    """The WordNet depths worth offering for this run (:func:`~se_analysis.data.hierarchy.superclass_options` of the
    classes its images have: labels for ``superclass``, predictions for ``pred-superclass``); [] for a model whose
    classes are not ImageNet's 1000, or images of fewer than two classes."""
    wnids = wnids_for(run.class_names)
    if wnids is None or (kind == "superclass" and not run.has_labels):
        return []
    column = "label" if kind == "superclass" else "pred"
    return superclass_options([wnids[int(c)] for c in sorted(run.images[column].unique()) if c >= 0])


def _pooled(s: GateMoments, of_class: np.ndarray, k: int) -> GateMoments:
    """Per-class moments pooled exactly into ``k`` groups (class c into group ``of_class[c]``); the block-wide
    numbers stay as they are."""
    present = np.flatnonzero((s.n > 0) & (of_class >= 0))
    g, n_c = of_class[present], s.n[present]
    out = copy.deepcopy(s)
    out.k, out.n = k, np.bincount(g, weights=n_c, minlength=k).astype(float)
    safe = np.where(out.n > 0, out.n, 1.0)[:, None]
    for b in s.blocks:
        mean_c, m2_c = s.mean[b][present], s.m2[b][present]
        total = np.zeros((k, mean_c.shape[1]))
        np.add.at(total, g, n_c[:, None] * mean_c)
        out.mean[b] = total / safe  # n-weighted mean of the class means
        m2 = np.zeros_like(total)  # within-class M2 plus each class's spread about its group's mean
        np.add.at(m2, g, m2_c + n_c[:, None] * (mean_c - out.mean[b][g]) ** 2)
        out.m2[b] = m2
    return out


def channel_stats(run: Run, by: GroupBy = "label", blocks: list[str] | None = None) -> pd.DataFrame:
    """Mean, std and count of every channel's gate, per class and over all images (streamed).

    Past :data:`CATEGORICAL_ROWS` rows (ImageNet's 1000 classes on SE-ResNet-50: 15 million) the table is
    compact: ``block`` and ``class`` categorical, in forward and class-index order (a page that selects one
    block compares small integer codes instead of 15 million strings), counts and indices as int32 and means
    and stds as float32 (the gates' own precision, or finer): 25 bytes a row instead of about 100.
    """
    s = moments_for(run, by)
    names = group_names(run, by)
    depth = {g.name: g.depth for g in run.gates}
    blocks = list(dict.fromkeys(blocks or run.gate_names))
    present = np.flatnonzero(s.n > 0)
    widths = [s.mean[b].shape[1] for b in blocks]
    compact = sum(widths) * (len(present) + 1) > CATEGORICAL_ROWS
    real, whole = (np.float32, np.int32) if compact else (np.float64, np.int64)
    k, total, at = len(present) + 1, sum(widths) * (len(present) + 1), 0  # every class with images, then "all"
    col = {name: np.empty(total, real if name in ("mean", "std") else np.int32 if name == "block" else whole)
           for name in ("block", "depth", "channel", "class", "mean", "std", "n")}
    for b, (block, c) in enumerate(zip(blocks, widths)):  # filled in place: one copy of each value, no concat
        rows, cut, pooled = slice(at, at + c * k), slice(at, at + c * (k - 1)), slice(at + c * (k - 1), at + c * k)
        col["block"][rows], col["depth"][rows] = b, depth[block]
        col["channel"][rows].reshape(k, c)[:] = np.arange(c)
        col["class"][rows].reshape(k, c)[:] = np.append(present, len(names))[:, None]
        col["n"][rows].reshape(k, c)[:] = np.append(s.n[present], s.all_n)[:, None]
        col["mean"][cut], col["std"][cut] = s.mean[block][present].ravel(), s.class_std(block)[present].ravel()
        col["mean"][pooled] = s.all_mean[block] if s.all_n else np.nan
        col["std"][pooled] = s.all_std(block) if s.all_n else np.nan
        at += c * k
    labels = [*names, ALL]
    class_index = np.where(col["class"] == len(names), -1, col["class"]).astype(whole)
    if compact:  # categories by code: no 15-million-string arrays are ever made
        unique = list(dict.fromkeys(labels))  # two classes may share a name (ImageNet's two cranes): one category
        code = np.array([unique.index(x) for x in labels]) if len(unique) < len(labels) else np.arange(len(labels))
        block_col = pd.Categorical.from_codes(col["block"], categories=blocks)
        class_col = pd.Categorical.from_codes(code[col["class"]], categories=unique)
    else:
        block_col = np.asarray(blocks, dtype=object)[col["block"]]
        class_col = np.asarray(labels, dtype=object)[col["class"]]
    return pd.DataFrame({"block": block_col, "depth": col["depth"], "channel": col["channel"], "class": class_col,
                         "class_index": class_index, "mean": col["mean"], "std": col["std"], "n": col["n"]},
                        copy=False)  # the arrays are ours: no 2-second consolidation copy at 15 million rows


CATEGORICAL_ROWS = 2_000_000  # past this many rows (1000 classes x 2,000+ channels), block and class are categorical


FEW_IMAGES_PER_CLASS = 10  # below this, eta squared's upward bias is large; the tables say so


def block_stats(run: Run, by: GroupBy = "label", high: float = 0.9, low: float = 0.1) -> pd.DataFrame:
    """One row per block: gate mean/std, class-specificity with its chance level, saturation (streamed).

    Columns: ``block, depth, channels, n, mean, std, specificity`` (eta squared, mean over
    channels), ``specificity_chance`` ((K-1)/(N-1), what eta squared gives when class explains
    nothing), ``specificity_omega2`` (bias-corrected), ``constant_channels`` (gates that do not
    vary; their specificity is 0), ``min_class_n``, ``saturation_high`` (share > ``high``),
    ``saturation_low`` (share < ``low``), ``nonfinite`` (NaN/inf gates, never counted as values).

    Raises:
        ValueError: for other thresholds on a summary-only run (it kept counts at its own only).
    """
    s = moments_for(run, by)
    if (s.high, s.low) != (high, low):
        if not all(b in run.gate_values for b in run.gate_names):
            raise ValueError(f"this run kept only summaries, with saturation counted at {s.high:g}/{s.low:g}; "
                             "extract it again without --summary-only for other thresholds")
        s = GateMoments.from_arrays(run.gate_values, class_groups(run, by), len(group_names(run, by)), run.gate_names,
                                    high=high, low=low)
    chance = s.chance_specificity()
    counts = s.n[s.n > 0]
    rows = []
    for g in run.gates:
        b = g.name
        spec, omega2 = s.specificity(b), s.specificity_omega2(b)
        grand = s.all_mean[b].mean() if s.all_n else np.nan
        var = (s.all_m2[b] / max(s.all_n, 1) + (s.all_mean[b] - grand) ** 2).mean() if s.all_n else np.nan
        sat_high, sat_low = s.saturation(b)
        rows.append({
            "block": b, "depth": g.depth, "channels": s.mean[b].shape[1], "n": int(s.all_n),
            "mean": float(grand), "std": float(np.sqrt(var)),
            "specificity": float(np.nanmean(spec)) if np.isfinite(spec).any() else np.nan,
            "specificity_chance": float(chance),
            "specificity_omega2": float(np.nanmean(omega2)) if np.isfinite(omega2).any() else np.nan,
            "constant_channels": int(s.constant(b).sum()) if len(counts) else 0,
            "min_class_n": int(counts.min()) if len(counts) else 0,
            "saturation_high": float(sat_high), "saturation_low": float(sat_low),
            "nonfinite": int(s.n_nonfinite[b]),
        })
    return pd.DataFrame(rows)


def specificity_note(bstats: pd.DataFrame) -> str:
    """A sentence on how far the block stats' specificity can be trusted (empty when nothing to say)."""
    notes = []
    if len(bstats) and bstats["specificity_chance"].iloc[0] >= 1:  # N <= K: no image has a class-mate
        notes.append("with one image per class, eta squared is 1 by construction and omega squared is undefined "
                     "(nothing varies within a class): class-specificity cannot be measured on these images")
    elif len(bstats) and bstats["min_class_n"].min() < FEW_IMAGES_PER_CLASS:
        notes.append(f"some class has only {plural(int(bstats['min_class_n'].min()), 'image')}: eta squared is "
                     "biased upwards "
                     f"by about {bstats['specificity_chance'].iloc[0]:.2f} (its chance level); read omega squared")
    if len(bstats) and bstats["nonfinite"].sum():
        notes.append(f"{plural(int(bstats['nonfinite'].sum()), 'gate value')} NaN or infinite, left out")
    return "; ".join(notes)


def image_gates(run: Run, index: int, by: GroupBy = "label", blocks: list[str] | None = None) -> pd.DataFrame:
    """One image's gates next to the mean gate of its class (label, or prediction without labels)."""
    groups = class_groups(run, by)
    cls = int(groups[index])
    mask = groups == cls
    depth = {g.name: g.depth for g in run.gates}
    frames = []
    for block in blocks or run.gate_names:
        v = run.gate_values[block]
        frames.append(pd.DataFrame({
            "block": block, "depth": depth[block], "channel": np.arange(v.shape[1]),
            "value": v[index].astype(np.float64), "class_mean": v[mask].astype(np.float64).mean(0),
            "class": group_names(run, by)[cls],
        }))
    return pd.concat(frames, ignore_index=True)


def present_classes(cs: pd.DataFrame) -> list[str]:
    """The classes of a :func:`channel_stats` table that have images, in class-index order.

    Read from the rows of the smallest channel index only (every class has one per block), so a 15-million-row
    table (1000 classes on SE-ResNet-50) costs two integer comparisons, not a scan of its strings.
    """
    if not len(cs):
        return []
    channel = cs["channel"].to_numpy()
    rows = cs[(channel == channel.min()) & (cs["class_index"].to_numpy() >= 0)]
    return rows.drop_duplicates("class").sort_values("class_index")["class"].tolist()


def channel_specificity(cs: pd.DataFrame, block: str) -> pd.DataFrame:
    """Eta squared per channel at ``block`` from a channel-stats table (per-class means, stds and counts).

    Between-class over total sum of squares, with the total split as between + within
    (sum over classes of n_k * std_k^2, population stds): the same number the moments give.
    """
    at = cs[(cs["block"] == block) & (cs["class"] != ALL) & (cs["n"] > 0)]
    n = at["n"].to_numpy(float)
    grand = (at.assign(w=at["mean"] * n).groupby("channel")["w"].sum()
             / at.assign(n=n).groupby("channel")["n"].sum())
    at = at.assign(between=n * (at["mean"].to_numpy() - grand.reindex(at["channel"]).to_numpy()) ** 2,
                   within=n * at["std"].to_numpy() ** 2)
    ss = at.groupby("channel")[["between", "within"]].sum()
    total = ss["between"] + ss["within"]
    spec = (ss["between"] / total.where(total > 0)).fillna(0.0)
    return pd.DataFrame({"block": block, "channel": ss.index.to_numpy(), "specificity": spec.to_numpy()})


def heatmap_table(cs: pd.DataFrame, block: str, classes: Sequence[str] | None = None, centre: bool = False,
                  sort: str = "channel") -> pd.DataFrame:
    """The class x channel heatmap at ``block`` as a tidy table, one row per (class, channel).

    Args:
        classes: the rows to keep (default: every class with images), in this order.
        centre: ``value`` is the class mean minus the all-image mean of the channel (which
            channels a class opens or closes more than usual), else the class mean itself.
        sort: ``channel`` (index order) or ``specificity`` (most class-specific first); ``column``
            is each channel's position along the x axis.
    """
    if sort not in ("channel", "specificity"):
        raise ValueError(f"sort must be channel or specificity, not {sort!r}")
    at = cs[cs["block"] == block]
    pooled = at[at["class"] == ALL].set_index("channel")["mean"]
    rows = at[(at["class"] != ALL) & (at["n"] > 0)]
    if classes is not None:
        rows = rows[rows["class"].isin(list(classes))]
        present = set(rows["class"].unique())  # once: inside the comprehension it cost O(classes x rows)
        order = [c for c in classes if c in present]
    else:
        order = rows.drop_duplicates("class").sort_values("class_index")["class"].tolist()
    spec = channel_specificity(cs, block).set_index("channel")["specificity"]
    out = rows[["block", "class", "class_index", "channel", "mean"]].copy()
    out["all_mean"] = pooled.reindex(out["channel"]).to_numpy()
    out["value"] = out["mean"] - out["all_mean"] if centre else out["mean"]
    out["specificity"] = spec.reindex(out["channel"]).to_numpy()
    channels = spec.sort_values(ascending=False, kind="stable").index if sort == "specificity" else spec.index
    out["column"] = pd.Series(np.arange(len(channels)), index=channels).reindex(out["channel"]).to_numpy()
    out["row"] = out["class"].map({c: i for i, c in enumerate(order)})
    return out.sort_values(["row", "column"]).reset_index(drop=True)
