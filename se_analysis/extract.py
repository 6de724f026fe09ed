"""Batched, device-aware forward passes that record every SE gate and fill a Run."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .data import GateDataset, ImageSource, collate_skipping
from .gates import record
from .runs import IMAGE_COLUMNS, Run, RunStore, run_key
from .zoo import SENet

__all__ = ["resolve_device", "autocast_context", "extract", "extract_cached", "Progress"]

Progress = Callable[[int, int], None]  # (images done, total)


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA, else MPS, else CPU."""
    if device not in (None, "auto"):
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device`` with ``dtype``, or a no-op when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def extract(net: SENet, source: ImageSource, *, batch_size: int = 128, device: str | torch.device | None = None,
            num_workers: int = 0, amp_dtype: torch.dtype | None = None, store_dtype: np.dtype = np.float32,
            progress: Progress | None = None) -> Run:
    """Run ``net`` over every image of ``source``, recording all SE gates.

    Args:
        net: the model with its preprocessing and class names.
        source: the images; those that fail to decode are skipped with their reason.
        batch_size: images per forward pass.
        device: ``None``/``"auto"`` picks CUDA, then MPS, then CPU.
        num_workers: DataLoader worker processes (0 decodes in this process).
        amp_dtype: autocast dtype (e.g. ``torch.bfloat16``), or None for full precision.
        store_dtype: dtype of the stored gate arrays (float16 halves their size).
        progress: called as ``progress(done, total)`` after each batch.

    Returns:
        A Run with N rows (N = images that decoded), gates (N, C) per gate, logits (N, K).
    """
    dev = resolve_device(device)
    model = net.module
    gates = net.gates
    loader = torch.utils.data.DataLoader(
        GateDataset(source.items, net.transform), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        collate_fn=collate_skipping, pin_memory=dev.type == "cuda",
    )
    total = len(source.items)
    rows: list[int] = []
    skipped = list(source.skipped)
    chunks: dict[str, list[np.ndarray]] = {g.name: [] for g in gates}
    logit_chunks: list[np.ndarray] = []
    done = 0
    was_training = model.training
    with record(model, gates, device=None) as rec:
        try:
            model.to(dev).eval()
            with torch.inference_mode(), autocast_context(dev, amp_dtype):
                if progress:
                    progress(0, total)
                for x, idx, failed in loader:
                    skipped += [(source.items[i].source, reason) for i, reason in failed]
                    if x is not None:
                        logits = model(x.to(dev, non_blocking=True))
                        values = rec.pop()
                        logit_chunks.append(logits.float().cpu().numpy())
                        for g in gates:
                            chunks[g.name].append(values[g.name].cpu().numpy().astype(store_dtype, copy=False))
                        rows += idx
                    done += len(idx) + len(failed)
                    if progress:
                        progress(done, total)
        finally:
            model.train(was_training)
    num_classes = len(net.class_names)
    logits = np.concatenate(logit_chunks) if logit_chunks else np.zeros((0, num_classes), np.float32)
    gate_arrays = {g.name: (np.concatenate(chunks[g.name]) if chunks[g.name] else np.zeros((0, g.channels), store_dtype))
                   for g in gates}
    images = _images_table(source, rows, logits, net.class_names)
    manifest = {
        "model": net.name, "weights": net.weights, "weights_id": net.weights_id, "pretrained": net.pretrained,
        "checkpoint": net.checkpoint,
        "data": source.name, "data_fingerprint": source.fingerprint, "data_spec": source.spec, "preprocessing": net.preprocessing,
        "class_names": list(net.class_names),
        "gates": [{"name": g.name, "path": g.path, "channels": g.channels, "depth": g.depth, "stage": g.stage,
                   "block": g.block} for g in gates],
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(dev), "amp_dtype": str(amp_dtype) if amp_dtype else None,
        "n_images": len(rows), "n_skipped": len(skipped),
    }
    return Run(images=images, gates=gate_arrays, logits=logits, manifest=manifest,
               skipped=pd.DataFrame(skipped, columns=["source", "reason"]))


def _images_table(source: ImageSource, rows: list[int], logits: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    items = [source.items[i] for i in rows]
    labels = np.array([it.label if it.label is not None else -1 for it in items], dtype=np.int64)
    if len(logits):
        z = logits - logits.max(1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        pred = prob.argmax(1)
        conf = prob.max(1)
    else:
        pred, conf = np.zeros(0, np.int64), np.zeros(0, np.float32)
    names = np.array(list(class_names) + ["(none)"], dtype=object)
    df = pd.DataFrame({
        "index": np.arange(len(items)),
        "image_id": [it.id for it in items],
        "source": [it.source for it in items],
        "label": labels,
        "label_name": names[labels],
        "pred": pred.astype(np.int64),
        "pred_name": names[pred] if len(pred) else np.array([], dtype=object),
        "confidence": conf.astype(np.float32),
        "correct": pd.array([bool(p == lab) if lab >= 0 else None for p, lab in zip(pred, labels)], dtype="boolean"),
    })
    return df[IMAGE_COLUMNS]


def extract_cached(net: SENet, source: ImageSource, store: RunStore | None = None, **kwargs) -> tuple[Run, str]:
    """:func:`extract`, unless the store already holds the same Run; returns (run, key)."""
    store = store or RunStore()
    key = run_key(net.name, net.weights_id, source.fingerprint, net.preprocessing,
                  {"store_dtype": str(np.dtype(kwargs.get("store_dtype", np.float32))),
                   "amp": str(kwargs.get("amp_dtype"))})
    run = store.get(key)
    if run is None:
        run = extract(net, source, **kwargs)
        store.put(key, run)
    return run, key
