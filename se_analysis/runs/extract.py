"""Batched, device-aware forward passes that record every SE gate and fill a Run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from se_analysis.data.dataset import ImageDataset, collate_skipping
from se_analysis.data.sources import ImageSource
from se_analysis.gates.hooks import record
from se_analysis.runs.manifest import new_manifest
from se_analysis.utils.numeric import softmax
from se_analysis.runs.run import IMAGE_COLUMNS, Run, RunStore, run_key
from se_analysis.models.senet import SENet
from se_analysis.runs.moments import GateMoments

__all__ = ["resolve_device", "autocast_context", "extract", "extract_cached", "Progress", "ChunkStore"]

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
            progress: Progress | None = None, resume_dir: str | Path | None = None, chunk_batches: int = 8,
            summary_only: bool = False, channels_last: bool = False) -> Run:
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
        resume_dir: where finished chunks of ``chunk_batches`` batches are saved as they
            complete. An interrupted extraction (cancelled, killed) started again with the same
            folder skips them; batch boundaries are unchanged, so the Run is identical.
        summary_only: keep no per-image gates, only streaming statistics per block and class
            (:class:`~se_analysis.moments.GateMoments`), so memory grows with classes x
            channels, not with images. Per-image views and ablations need a full run.
        channels_last: run convolutions in NHWC memory format (often faster on GPUs with
            mixed precision); the model's memory format is restored afterwards.

    Returns:
        A Run with N rows (N = images that decoded), gates (N, C) per gate, logits (N, K).
    """
    dev = resolve_device(device)
    model = net.module
    gates = net.gates
    total = len(source.items)
    chunk = max(1, chunk_batches) * batch_size
    chunks = ChunkStore(resume_dir, source.fingerprint, batch_size, chunk, str(np.dtype(store_dtype))) \
        if resume_dir and not summary_only else None
    k = len(net.class_names)
    moments = {by: GateMoments({g.name: g.channels for g in gates}, k) for by in ("label", "pred")} \
        if summary_only else {}
    labels_all = np.array([it.label if it.label is not None else -1 for it in source.items], dtype=np.int64) \
        if summary_only else None
    finished = chunks.load() if chunks else {}
    pending = [i for c in range(0, total, chunk) if c // chunk not in finished for i in range(c, min(c + chunk, total))]
    done = sum(len(f["positions"]) + len(f["failed"]) for f in finished.values())
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ImageDataset(source.items, net.transform), pending), batch_size=batch_size,
        shuffle=False, num_workers=num_workers, collate_fn=collate_skipping, pin_memory=dev.type == "cuda",
    )
    current: dict = _empty_chunk(gates)
    was_training = model.training
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    with record(model, gates, device=None) as rec:
        try:
            model.to(dev, memory_format=fmt).eval()
            with torch.inference_mode(), autocast_context(dev, amp_dtype):
                if progress:
                    progress(done, total)
                for x, idx, failed in loader:
                    positions = list(idx)  # ImageDataset returns positions in source.items (Subset keeps them)
                    current["failed"] += list(failed)
                    if x is not None:
                        if channels_last:
                            x = x.contiguous(memory_format=torch.channels_last)
                        logits, values = _forward_splitting_on_oom(model, rec, x, dev)
                        current["logits"].append(logits)
                        if summary_only:
                            moments["label"].update(values, labels_all[positions])
                            moments["pred"].update(values, logits.argmax(1))
                        else:
                            for g in gates:
                                current["gates"][g.name].append(values[g.name].astype(store_dtype, copy=False))
                        current["positions"] += positions
                    done += len(idx) + len(failed)
                    first = (positions or [p for p, _ in current["failed"]])[0]
                    c = first // chunk
                    if sum(map(len, (current["positions"], current["failed"]))) == min(chunk, total - c * chunk):
                        finished[c] = _close_chunk(current, gates, store_dtype)
                        if chunks:
                            chunks.save(c, finished[c])
                        current = _empty_chunk(gates)
                    if progress:
                        progress(done, total)
        finally:
            model.train(was_training)
            if channels_last:
                model.to(memory_format=torch.contiguous_format)
    parts = [finished[c] for c in sorted(finished)]
    rows = [p for part in parts for p in part["positions"]]
    skipped = list(source.skipped) + [(source.items[p].source, r) for part in parts for p, r in part["failed"]]
    num_classes = len(net.class_names)
    logits = np.concatenate([p["logits"] for p in parts]) if rows else np.zeros((0, num_classes), np.float32)
    gate_arrays = {} if summary_only else {
        g.name: (np.concatenate([p["gates"][g.name] for p in parts if g.name in p["gates"]]) if rows
                 else np.zeros((0, g.channels), store_dtype))
        for g in gates}
    images = _images_table(source, rows, logits, net.class_names)
    manifest = new_manifest(net, source, device=str(dev), amp_dtype=str(amp_dtype) if amp_dtype else None,
                            batch_size=batch_size, channels_last=channels_last, n_images=len(rows),
                            n_skipped=len(skipped), summary_only=summary_only)
    return Run(images=images, gate_values=gate_arrays, logits=logits, manifest=manifest,
               skipped=pd.DataFrame(skipped, columns=["source", "reason"]), moments=moments)


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


def _forward_splitting_on_oom(model: torch.nn.Module, rec, x: torch.Tensor, dev: torch.device
                              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Logits (B, K) and gates {name: (B, C)} of one batch; on out-of-memory, halves and retries.

    The batch is split, not the run: finished batches are kept and the batch boundaries of
    the run (and so its resumable chunks) do not change.
    """
    try:
        logits = model(x.to(dev, non_blocking=True))
        values = rec.pop()
        return logits.float().cpu().numpy(), {k: v.cpu().numpy() for k, v in values.items()}
    except Exception as e:  # noqa: BLE001
        if not _is_oom(e) or len(x) == 1:
            raise
        rec.pop(check=False)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        half = len(x) // 2
        a_logits, a_gates = _forward_splitting_on_oom(model, rec, x[:half], dev)
        b_logits, b_gates = _forward_splitting_on_oom(model, rec, x[half:], dev)
        return np.concatenate([a_logits, b_logits]), {k: np.concatenate([a_gates[k], b_gates[k]]) for k in a_gates}


def _empty_chunk(gates) -> dict:
    return {"positions": [], "failed": [], "logits": [], "gates": {g.name: [] for g in gates}}


def _close_chunk(current: dict, gates, store_dtype) -> dict:
    """Concatenate a chunk's batches into arrays."""
    k = current["logits"][0].shape[1] if current["logits"] else 0
    return {
        "positions": list(current["positions"]), "failed": list(current["failed"]),
        "logits": np.concatenate(current["logits"]) if current["logits"] else np.zeros((0, k), np.float32),
        "gates": {g.name: np.concatenate(current["gates"][g.name]) for g in gates if current["gates"][g.name]},
    }


class ChunkStore:
    """Finished chunks of an extraction on disk (one .npz each, written atomically), for resuming."""

    def __init__(self, folder: str | Path, fingerprint: str, batch_size: int, chunk: int, dtype: str) -> None:
        self.folder = Path(folder)
        self.meta = {"fingerprint": fingerprint, "batch_size": batch_size, "chunk": chunk, "dtype": dtype}

    def load(self) -> dict[int, dict]:
        """The chunks saved by an earlier, interrupted extraction of the same images and settings."""
        meta_path = self.folder / "meta.json"
        if not meta_path.exists() or json.loads(meta_path.read_text()) != self.meta:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps(self.meta))
            return {}
        out = {}
        for f in sorted(self.folder.glob("chunk-*.npz")):
            with np.load(f, allow_pickle=False) as z:
                out[int(f.stem.split("-")[1])] = {
                    "positions": z["positions"].tolist(),
                    "failed": list(zip(z["failed_positions"].tolist(), z["failed_reasons"].tolist())),
                    "logits": z["logits"],
                    "gates": {k[5:]: z[k] for k in z.files if k.startswith("gate:")},
                }
        return out

    def save(self, index: int, part: dict) -> None:
        tmp = self.folder / f".chunk-{index:06d}.tmp.npz"
        np.savez(tmp, positions=np.asarray(part["positions"], np.int64), logits=part["logits"],
                 failed_positions=np.asarray([p for p, _ in part["failed"]], np.int64),
                 failed_reasons=np.asarray([r for _, r in part["failed"]], dtype=str),
                 **{f"gate:{k}": v for k, v in part["gates"].items()})
        os.replace(tmp, self.folder / f"chunk-{index:06d}.npz")


def _images_table(source: ImageSource, rows: list[int], logits: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    items = [source.items[i] for i in rows]
    labels = np.array([it.label if it.label is not None else -1 for it in items], dtype=np.int64)
    if len(logits):
        prob = softmax(logits)
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
                   "amp": str(kwargs.get("amp_dtype")), "summary_only": bool(kwargs.get("summary_only")),
                   "channels_last": bool(kwargs.get("channels_last"))})
    run = store.get(key)
    if run is None:
        partial = store.root / f".partial-{key}"
        run = extract(net, source, resume_dir=partial, **kwargs)
        store.put(key, run)
        shutil.rmtree(partial, ignore_errors=True)
    return run, key
