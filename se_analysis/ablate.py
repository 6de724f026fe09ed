"""Before-and-after ablations: replace SE gates with their means and measure what changes.

An :class:`Ablation` names the blocks whose gates are replaced and the replacement:

* ``mean``: each channel's mean over the reference images (input-independent gate);
* ``class-mean``: the reference mean of the image's *true* class (an oracle: it uses the label);
* ``predicted-class-mean``: the reference mean of the class the un-ablated model predicted;
* ``constant``: a constant c (1.0 turns the SE block into the identity);
* ``shuffle``: the gates of another, random image of the evaluated set (a control).

The ablated model is run over the evaluated images and compared with the un-ablated Run:
accuracy, NLL, per-class accuracy, flipped predictions, confusion changes, and how much the
gates of later blocks move. Sweeps ablate one block at a time, or the last / first k blocks;
they re-run only the part of the network downstream of the replaced gates (:mod:`.suffix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .data import GateDataset, ImageSource, collate_skipping
from .extract import Progress, autocast_context, resolve_device
from .gates import model_lock, override, record
from .probabilities import log_softmax, softmax
from .runs import Run
from .senet import SENet
from .suffix import SuffixRunner, try_trace

__all__ = ["MODES", "Ablation", "AblatedRun", "AblationResult", "replacement_values", "replacement_stats",
           "ablation_inputs", "evaluate_ablations",
           "compare", "run_ablation", "sweep", "sweep_ablations", "SWEEPS"]

MODES = ("mean", "class-mean", "predicted-class-mean", "constant", "shuffle")
SWEEPS = ("one-at-a-time", "cumulative-from-end", "cumulative-from-start")


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
        mode = f"constant {self.constant:g}" if self.mode == "constant" else self.mode
        blocks = self.blocks[0] if len(self.blocks) == 1 else f"{self.blocks[0]}…{self.blocks[-1]} ({len(self.blocks)})"
        return f"{mode} @ {blocks}"


@dataclass
class AblatedRun:
    """The ablated model's logits, and per gate the mean |change| of its values against the baseline."""

    ablation: Ablation
    logits: np.ndarray
    gate_shift: dict[str, float] = field(default_factory=dict)
    baseline: np.ndarray | None = None  # un-ablated logits from the same passes (same precision and batches)
    method: str = ""  # "suffix" or "full": how the ablated logits were computed
    fallback: str = ""  # why the suffix (fast) path was not taken, when it was not


def _reference_moments(reference: Run, block: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overall mean (C,), class means (K, C) (NaN rows for absent classes) and class counts (K,)."""
    v = reference.gates[block].astype(np.float64)
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
        c = evaluated.gates[block].shape[1]
        if ablation.mode == "constant":
            out[block] = np.full((n, c), ablation.constant, np.float32)
        elif ablation.mode == "shuffle":
            rng = np.random.default_rng(ablation.seed)
            order = rng.permutation(n)
            donor = np.empty(n, np.int64)
            donor[order] = np.roll(order, -1)  # every image takes another image's gates
            out[block] = evaluated.gates[block][donor].astype(np.float32)
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
    from dataclasses import replace as dc_replace

    from .stats import channel_stats

    replaced = dc_replace(evaluated, gates={**evaluated.gates, **replacement_values(ablation, evaluated, reference)})
    return channel_stats(replaced, by=by, blocks=list(ablation.blocks))


def ablation_inputs(net: SENet, run: Run, store=None, **kwargs) -> tuple[ImageSource, Run, Run, str]:
    """What an ablation of ``run``'s images evaluates, and which reference Run supplies the means.

    For the bundled sample set, the evaluated images are its ``eval`` half and the means come
    from the disjoint ``reference`` half (both extracted once and cached). Otherwise the run's
    own images are both, and the returned sentence says so plainly.

    Returns:
        (evaluated source, evaluated Run, reference Run, a sentence describing the reference).
    """
    from .data import source_from_spec
    from .extract import extract_cached

    spec = run.manifest.get("data_spec", {})
    if spec.get("kind") == "sample":
        ev_source = source_from_spec({**spec, "split": "eval"}, net.class_names)
        evaluated = run if spec.get("split") == "eval" else extract_cached(net, ev_source, store, **kwargs)[0]
        reference, _ = extract_cached(net, source_from_spec({**spec, "split": "reference"}, net.class_names), store,
                                      **kwargs)
        return ev_source, evaluated, reference, (
            f"means from the sample set's reference half ({len(reference)} images), evaluated on its disjoint "
            f"eval half ({len(evaluated)} images)")
    source = source_from_spec(spec, net.class_names)
    return source, run, run, (f"means from the {len(run)} evaluated images themselves (there is no disjoint "
                              "reference set for this data)")


def _batches(net: SENet, source: ImageSource, evaluated: Run, batch_size: int):
    """Decoded batches of exactly the evaluated Run's images, with their row numbers in the Run."""
    row_of = {img_id: i for i, img_id in enumerate(evaluated.images["image_id"])}
    items = [it for it in source.items if it.id in row_of]
    if len(items) != len(evaluated):
        raise ValueError(f"the image source holds {len(items)} of the run's {len(evaluated)} images")
    loader = torch.utils.data.DataLoader(GateDataset(items, net.transform), batch_size=batch_size, shuffle=False,
                                         collate_fn=collate_skipping)
    for x, idx, failed in loader:
        if failed:
            raise ValueError(f"{len(failed)} images of the run no longer decode: {failed[0][1]}")
        yield x, np.array([row_of[items[i].id] for i in idx])


def evaluate_ablations(net: SENet, source: ImageSource, evaluated: Run, ablations: Sequence[Ablation],
                       reference: Run | None = None, *, batch_size: int = 128, device: str | None = None,
                       method: str = "auto", progress: Progress | None = None) -> list[AblatedRun]:
    """Run the model over the evaluated images once per ablation (or once, plus suffixes).

    Args:
        net, source: the model and the images of ``evaluated`` (same ids).
        evaluated: the un-ablated Run of those images (baseline logits and gates).
        ablations: what to replace; ``reference`` supplies the means.
        method: ``suffix`` re-runs only what is downstream of the replaced gates (fx graph);
            ``full`` runs whole forward passes with hooks; ``auto`` takes suffix when the
            model traces.

    Returns:
        One :class:`AblatedRun` per ablation, in order.
    """
    dev = resolve_device(device)
    model = net.module.to(dev).eval()
    gates = net.gates
    repl = [replacement_values(a, evaluated, reference) for a in ablations]
    n = len(evaluated)
    k = len(evaluated.class_names)
    logits = [np.zeros((n, k), np.float32) for _ in ablations]
    baseline = np.zeros((n, k), np.float32)
    # The Run's own precision and memory format, so that before and after differ only by the ablation.
    amp = _run_amp_dtype(evaluated)
    channels_last = bool(evaluated.manifest.get("channels_last"))

    def batches():
        for x, rows in _batches(net, source, evaluated, batch_size):
            x = x.to(dev)
            yield (x.contiguous(memory_format=torch.channels_last) if channels_last else x), rows

    shift_sum = [{g.name: 0.0 for g in gates} for _ in ablations]
    gm, why = try_trace(model, gates) if method in ("auto", "suffix") else (None, "")
    if method == "suffix" and gm is None:
        raise ValueError(f"{net.name} cannot be re-evaluated from its gates ({why}); use method='full'")
    total = n * len(ablations)
    done = 0
    with torch.inference_mode(), autocast_context(dev, amp):
        if gm is not None:
            runner = SuffixRunner(gm, gates)
            runner.plan([a.blocks for a in ablations])
            with model_lock(model):
                for x, rows in batches():
                    base = runner.baseline(x)
                    baseline[rows] = base.float().cpu().numpy()
                    base_gates = runner.gate_values()
                    for j, a in enumerate(ablations):
                        values = {b: torch.from_numpy(repl[j][b][rows]).to(dev).reshape(runner.env[runner.gate_node[b]].shape)
                                  for b in a.blocks}
                        out, new_gates = runner.ablate(values, record=[g.name for g in gates])
                        logits[j][rows] = out.float().cpu().numpy()
                        for name, v in new_gates.items():
                            shift_sum[j][name] += float((v.float() - base_gates[name].float()).abs().mean(1).sum())
                        done += len(rows)
                        if progress:
                            progress(done, total)
                    del base
        else:  # whole forward passes: a baseline pass, then one pass per ablation, on each batch
            blocks = list(dict.fromkeys(b for a in ablations for b in a.blocks))
            with override(model, dict.fromkeys(blocks)) as ov, record(model, gates, device=None) as rec:
                for x, rows in batches():
                    ov.values = {}
                    baseline[rows] = model(x).float().cpu().numpy()
                    base_gates = rec.pop()
                    for j, a in enumerate(ablations):
                        ov.values = {b: torch.from_numpy(repl[j][b][rows]).to(dev) for b in a.blocks}
                        logits[j][rows] = model(x).float().cpu().numpy()
                        for name, v in rec.pop().items():
                            shift_sum[j][name] += float((v.float() - base_gates[name].float()).abs().mean(1).sum())
                        done += len(rows)
                        if progress:
                            progress(done, total)
    used = "suffix" if gm is not None else "full"
    return [AblatedRun(a, logits[j], {name: s / max(n, 1) for name, s in shift_sum[j].items()}, baseline, used, why)
            for j, a in enumerate(ablations)]


def _run_amp_dtype(run: Run) -> torch.dtype | None:
    """The autocast dtype a Run was extracted with (its manifest says ``torch.bfloat16`` or ``torch.float16``)."""
    name = run.manifest.get("amp_dtype")
    return {"torch.bfloat16": torch.bfloat16, "torch.float16": torch.float16}.get(name) if name else None


@dataclass
class AblationResult:
    """Tidy before/after tables of one or more ablations (column ``ablation`` tells them apart)."""

    summary: pd.DataFrame
    per_class: pd.DataFrame
    flips: pd.DataFrame
    confusion: pd.DataFrame
    downstream: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "per_class": self.per_class, "flips": self.flips,
                "confusion": self.confusion, "downstream": self.downstream}


def compare(evaluated: Run, ablated: Sequence[AblatedRun]) -> AblationResult:
    """Before/after metrics of each ablated run against the un-ablated ``evaluated`` Run."""
    labels = evaluated.images["label"].to_numpy()
    has = labels >= 0
    k = len(evaluated.class_names)
    names = evaluated.class_names
    info = evaluated.gate_info().set_index("name")
    summaries, per_class, flips, confusion, downstream = [], [], [], [], []
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
        if has.any():
            y = labels[has]
            acc0, acc1 = (pred0[has] == y).mean(), (pred1[has] == y).mean()
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
        summaries.append(row)
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
        first = min(int(info.loc[b, "depth"]) for b in a.blocks)
        for name, shift in ab.gate_shift.items():
            depth = int(info.loc[name, "depth"])
            downstream.append({"ablation": a.label, "block": name, "depth": depth, "mean_abs_change": shift,
                               "role": "ablated" if name in a.blocks else ("downstream" if depth > first else "upstream")})
    cols = dict(
        per_class=["ablation", "class", "class_index", "n", "acc_before", "acc_after", "change"],
        flips=["ablation", "index", "image_id", "source", "label", "pred_before", "pred_after", "conf_before",
               "conf_after", "kind"],
        confusion=["ablation", "true", "pred", "before", "after", "change"],
    )
    return AblationResult(
        summary=pd.DataFrame(summaries), per_class=pd.DataFrame(per_class, columns=cols["per_class"]),
        flips=pd.DataFrame(flips, columns=cols["flips"]), confusion=pd.DataFrame(confusion, columns=cols["confusion"]),
        downstream=pd.DataFrame(downstream, columns=["ablation", "block", "depth", "mean_abs_change", "role"]),
    )


def run_ablation(net: SENet, source: ImageSource, evaluated: Run, ablation: Ablation, reference: Run | None = None,
                 **kwargs) -> AblationResult:
    """One ablation, before and after."""
    return compare(evaluated, evaluate_ablations(net, source, evaluated, [ablation], reference, **kwargs))


def sweep_ablations(gate_names: Sequence[str], kind: str, mode: str = "mean", constant: float = 1.0,
                    seed: int = 0) -> list[Ablation]:
    """The ablations of a sweep over depth: each block alone, or the last / first k blocks."""
    names = list(gate_names)
    if kind == "one-at-a-time":
        sets = [(b,) for b in names]
    elif kind == "cumulative-from-end":
        sets = [tuple(names[len(names) - k:]) for k in range(1, len(names) + 1)]
    elif kind == "cumulative-from-start":
        sets = [tuple(names[:k]) for k in range(1, len(names) + 1)]
    else:
        raise ValueError(f"unknown sweep {kind!r}; choose one of {', '.join(SWEEPS)}")
    return [Ablation(s, mode, constant, seed) for s in sets]


def sweep(net: SENet, source: ImageSource, evaluated: Run, kind: str = "one-at-a-time", mode: str = "mean",
          reference: Run | None = None, constant: float = 1.0, **kwargs) -> AblationResult:
    """A sweep over depth; ``summary`` gains ``k`` (blocks ablated) and ``depth`` (first ablated block)."""
    ablations = sweep_ablations(evaluated.gate_names, kind, mode, constant)
    result = compare(evaluated, evaluate_ablations(net, source, evaluated, ablations, reference, **kwargs))
    depth = evaluated.gate_info().set_index("name")["depth"]
    result.summary.insert(1, "sweep", kind)
    result.summary.insert(2, "k", [len(a.blocks) for a in ablations])
    result.summary.insert(3, "depth", [int(min(depth[b] for b in a.blocks)) for a in ablations])
    return result
