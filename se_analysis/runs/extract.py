"""Batched, device-aware forward passes that record every SE gate and fill a Run.

:func:`extract` is four steps, each its own function: pick up the chunks a resumable extraction
already finished (:mod:`.chunks`); run the remaining batches with the gates recorded
(:func:`run_batches`), halving a batch that runs out of memory (:func:`forward_splitting_on_oom`);
and assemble the chunks into a :class:`Run` (:func:`assemble_run`).
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch

from se_analysis.data.dataset import ImageDataset, collate_skipping
from se_analysis.data.image_sets import ImageSet
from se_analysis.gates.hooks import GateRecorder, record
from se_analysis.models.senet import SENet
from se_analysis.runs.chunks import Chunk, ChunkCollector, ChunkStore, pending_positions
from se_analysis.runs.manifest import new_manifest
from se_analysis.runs.moments import GateMoments
from se_analysis.runs.run import IMAGE_COLUMNS, Run, RunStore, run_key
from se_analysis.utils.numeric import softmax

__all__ = ["resolve_device", "autocast_context", "extract", "extract_cached", "Progress", "SUMMARY_ONLY_RESUME",
           "resume_chunks", "run_batches", "forward_splitting_on_oom", "assemble_run"]

Progress = Callable[[int, int], None]  # (images done, total)
SUMMARY_ONLY_RESUME = ("summary_only extraction keeps no per-image chunks, so it cannot resume: resume_dir is not "
                       "used and an interrupted summary-only run starts over")


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


def extract(net: SENet, images: ImageSet, *, batch_size: int = 128, device: str | torch.device | None = None,
            num_workers: int = 0, amp_dtype: torch.dtype | None = None, store_dtype: np.dtype = np.float32,
            progress: Progress | None = None, resume_dir: str | Path | None = None, chunk_batches: int = 8,
            summary_only: bool = False, channels_last: bool = False) -> Run:
    """Run ``net`` over every image of ``images``, recording all SE gates.

    Args:
        net: the model with its preprocessing and class names.
        images: the image set; those that fail to decode are skipped with their reason.
        batch_size: images per forward pass.
        device: ``None``/``"auto"`` picks CUDA, then MPS, then CPU.
        num_workers: DataLoader worker processes (0 decodes in this process).
        amp_dtype: autocast dtype (e.g. ``torch.bfloat16``), or None for full precision.
        store_dtype: dtype of the stored gate arrays (float16 halves their size).
        progress: called as ``progress(done, total)`` after each batch.
        resume_dir: where finished chunks of ``chunk_batches`` batches are saved as they
            complete. An interrupted extraction (cancelled, killed) started again with the same
            folder skips them; batch boundaries are unchanged, so the Run is identical. Not with
            ``summary_only`` (see there).
        summary_only: keep no per-image gates, only streaming statistics per block and class
            (:class:`~se_analysis.runs.moments.GateMoments`), so memory grows with classes x
            channels, not with images. Per-image views and ablations need a full run. Such a run
            keeps no chunks to resume from: a ``resume_dir`` given with it is not used (a
            ``UserWarning`` says so) and an interrupted summary-only run starts over.
        channels_last: run convolutions in NHWC memory format (often faster on GPUs with
            mixed precision); the model's memory format is restored afterwards.

    Returns:
        A Run with N rows (N = images that decoded), gates (N, C) per gate, logits (N, K).
    """
    if summary_only and resume_dir:
        warnings.warn(SUMMARY_ONLY_RESUME, UserWarning, stacklevel=2)
        resume_dir = None
    dev = resolve_device(device)
    total = len(images.items)
    chunk = max(1, chunk_batches) * batch_size
    store, finished = resume_chunks(resume_dir, images, batch_size, chunk, store_dtype)
    pending = pending_positions(total, chunk, finished)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ImageDataset(images.items, net.transform), pending), batch_size=batch_size,
        shuffle=False, num_workers=num_workers, collate_fn=collate_skipping, pin_memory=dev.type == "cuda",
    )
    collector = ChunkCollector(net.gates, chunk, total, store_dtype, finished, store)
    moments = {by: GateMoments({g.name: g.channels for g in net.gates}, len(net.class_names))
               for by in ("label", "pred")} if summary_only else {}
    done = sum(len(f["positions"]) + len(f["failed"]) for f in finished.values())
    with record(net.module, net.gates, device=None) as rec, _evaluating(net.module, dev, channels_last), \
            torch.inference_mode(), autocast_context(dev, amp_dtype):
        run_batches(net.module, rec, loader, dev, collector, moments, images, channels_last=channels_last,
                    done=done, total=total, progress=progress)
    return assemble_run(net, images, finished, moments, store_dtype=store_dtype, device=str(dev),
                        amp_dtype=str(amp_dtype) if amp_dtype else None, batch_size=batch_size,
                        channels_last=channels_last)


def resume_chunks(resume_dir: str | Path | None, images: ImageSet, batch_size: int, chunk: int,
                  store_dtype: np.dtype) -> tuple[ChunkStore | None, dict[int, Chunk]]:
    """(the chunk store in ``resume_dir``, the chunks it already holds), or (None, {}) without a folder.

    The store is keyed by the images' fingerprint, the batch size, the chunk size and the gate dtype:
    a folder left by other settings is emptied rather than reused.
    """
    if not resume_dir:
        return None, {}
    store = ChunkStore(resume_dir, images.fingerprint, batch_size, chunk, str(np.dtype(store_dtype)))
    return store, store.load()


@contextlib.contextmanager
def _evaluating(model: torch.nn.Module, dev: torch.device, channels_last: bool) -> Iterator[None]:
    """``model`` on ``dev`` in eval mode (NHWC with ``channels_last``); its mode and memory format restored after."""
    was_training = model.training
    try:
        model.to(dev, memory_format=torch.channels_last if channels_last else torch.contiguous_format).eval()
        yield
    finally:
        model.train(was_training)
        if channels_last:
            model.to(memory_format=torch.contiguous_format)


def run_batches(model: torch.nn.Module, rec: GateRecorder, loader: Iterable, dev: torch.device,
                collector: ChunkCollector, moments: dict[str, GateMoments], images: ImageSet, *,
                channels_last: bool, done: int, total: int, progress: Progress | None = None) -> None:
    """Forward every batch of ``loader`` and hand its logits and gates to ``collector``.

    With ``moments`` (summary-only runs: "label" and "pred" -> :class:`GateMoments`) the gates
    update the moments and are not kept per image; otherwise the collector keeps them.
    ``done`` images (from resumed chunks) count towards ``progress`` from the start.
    """
    labels = np.array([it.label if it.label is not None else -1 for it in images.items], dtype=np.int64) \
        if moments else None
    if progress:
        progress(done, total)
    for x, idx, failed in loader:
        positions = list(idx)  # ImageDataset returns positions in images.items (Subset keeps them)
        logits = values = None
        if x is not None:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits, values = forward_splitting_on_oom(model, rec, x, dev)
            if moments:
                moments["label"].update(values, labels[positions])
                moments["pred"].update(values, logits.argmax(1))
        collector.add(positions, list(failed), logits, None if moments else values)
        done += len(idx) + len(failed)
        if progress:
            progress(done, total)


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


def forward_splitting_on_oom(model: torch.nn.Module, rec: GateRecorder, x: torch.Tensor, dev: torch.device
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
        a_logits, a_gates = forward_splitting_on_oom(model, rec, x[:half], dev)
        b_logits, b_gates = forward_splitting_on_oom(model, rec, x[half:], dev)
        return np.concatenate([a_logits, b_logits]), {k: np.concatenate([a_gates[k], b_gates[k]]) for k in a_gates}


def assemble_run(net: SENet, images: ImageSet, finished: dict[int, Chunk], moments: dict[str, GateMoments], *,
                 store_dtype: np.dtype, **settings) -> Run:
    """The Run of the finished chunks, in position order: images table, gates, logits, skipped files, manifest.

    Args:
        finished: chunk index -> chunk, covering every position of ``images``.
        moments: the summary-only statistics ({} for a full run, whose gates the chunks hold).
        settings: how it was extracted, for the manifest (``device``, ``amp_dtype``, ``batch_size``,
            ``channels_last``).
    """
    summary_only = bool(moments)
    parts = [finished[c] for c in sorted(finished)]
    rows = [p for part in parts for p in part["positions"]]
    skipped = list(images.skipped) + [(images.items[p].source, r) for part in parts for p, r in part["failed"]]
    num_classes = len(net.class_names)
    logits = np.concatenate([p["logits"] for p in parts]) if rows else np.zeros((0, num_classes), np.float32)
    gate_arrays = {} if summary_only else {
        g.name: (np.concatenate([p["gates"][g.name] for p in parts if g.name in p["gates"]]) if rows
                 else np.zeros((0, g.channels), store_dtype))
        for g in net.gates}
    table = _images_table(images, rows, logits, net.class_names)
    manifest = new_manifest(net, images, **settings, n_images=len(rows), n_skipped=len(skipped),
                            summary_only=summary_only)
    return Run(images=table, gate_values=gate_arrays, logits=logits, manifest=manifest,
               skipped=pd.DataFrame(skipped, columns=["source", "reason"]), moments=moments)


def _images_table(images: ImageSet, rows: list[int], logits: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    items = [images.items[i] for i in rows]
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


def extract_cached(net: SENet, images: ImageSet, store: RunStore | None = None, **kwargs) -> tuple[Run, str]:
    """:func:`extract`, unless the store already holds the same Run; returns (run, key)."""
    store = store or RunStore()
    key = run_key(net.name, net.weights_id, images.fingerprint, net.preprocessing,
                  {"store_dtype": str(np.dtype(kwargs.get("store_dtype", np.float32))),
                   "amp": str(kwargs.get("amp_dtype")), "summary_only": bool(kwargs.get("summary_only")),
                   "channels_last": bool(kwargs.get("channels_last")),
                   **({"activations": net.activations} if net.activations != "float" else {})})
    run = store.get(key)
    if run is None:
        partial = store.root / f".partial-{key}"
        run = extract(net, images, resume_dir=None if kwargs.get("summary_only") else partial, **kwargs)
        store.put(key, run)
        shutil.rmtree(partial, ignore_errors=True)
    return run, key
