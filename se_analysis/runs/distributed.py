"""Data-parallel extraction with PyTorch's own launcher.

``torchrun --nproc_per_node=K -m se_analysis extract ...`` starts K processes. Each takes a
contiguous shard of whole batches (so every batch is the one a single process would run),
extracts it on its own device (``cuda:LOCAL_RANK`` when there are GPUs, else the CPU with the
gloo backend), and writes its shard Run; rank 0 then merges the shards, in order, into one
Run equal to the single-process one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from se_analysis.data.image_sets import ImageSet
from se_analysis.models.senet import SENet
from se_analysis.runs.extract import extract
from se_analysis.runs.run import Run

__all__ = ["world", "shard_bounds", "merge_runs", "extract_distributed"]


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def shard_bounds(n: int, batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Item range [start, stop) of ``rank``: a contiguous run of whole batches."""
    batches = -(-n // batch_size)
    first = batches * rank // world_size
    last = batches * (rank + 1) // world_size
    return min(first * batch_size, n), min(last * batch_size, n)


def merge_runs(parts: list[Run]) -> Run:
    """Concatenate shard Runs (in rank order) into one Run."""
    images = pd.concat([p.images for p in parts], ignore_index=True)
    images["index"] = np.arange(len(images))
    manifest = dict(parts[0].manifest)
    manifest["n_images"] = len(images)
    manifest["n_skipped"] = sum(len(p.skipped) for p in parts)
    manifest["world_size"] = len(parts)
    moments = {}
    for by, first in parts[0].moments.items():  # streamed statistics (summary-only runs) merge exactly
        for p in parts[1:]:
            first = first.merge(p.moments[by])
        moments[by] = first
    return Run(
        images=images, gate_values={k: np.concatenate([p.gate_values[k] for p in parts]) for k in parts[0].gate_values},
        logits=np.concatenate([p.logits for p in parts]), manifest=manifest,
        skipped=pd.concat([p.skipped for p in parts], ignore_index=True), moments=moments,
    )


def extract_distributed(net: SENet, images: ImageSet, out: str | Path, batch_size: int = 128,
                        device: str | None = None, **kwargs) -> Run | None:
    """Extract this rank's shard, then (rank 0) merge all shards into the Run saved at ``out``.

    Returns:
        The merged Run on rank 0, None on the other ranks.
    """
    rank, size, local = world()
    use_cuda = torch.cuda.is_available() and device in (None, "auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    out = Path(out)
    shards = Path(f"{str(out).rstrip('/')}.shards")
    try:
        start, stop = shard_bounds(len(images.items), batch_size, rank, size)
        part_source = ImageSet(images.name, images.items[start:stop], images.class_names,
                                  images.fingerprint, images.skipped if rank == 0 else [], images.spec)
        dev = f"cuda:{local}" if use_cuda else (device or "cpu")
        run = extract(net, part_source, batch_size=batch_size, device=dev,
                      resume_dir=None if kwargs.get("summary_only") else shards / f"partial-{rank}", **kwargs)
        run.save(shards / f"rank-{rank}")
        dist.barrier()
        merged = None
        if rank == 0:
            merged = merge_runs([Run.load(shards / f"rank-{r}") for r in range(size)])
            merged.save(out)
            shutil.rmtree(shards, ignore_errors=True)
        dist.barrier()
        return merged
    finally:
        dist.destroy_process_group()
