"""The Run: extraction into it, its manifest and moments, its on-disk store, data-parallel extraction."""

from .chunks import Chunk, ChunkCollector, ChunkStore, pending_positions
from .distributed import extract_distributed, merge_runs, shard_bounds, world
from .extract import (
    SUMMARY_ONLY_RESUME,
    Progress,
    assemble_run,
    autocast_context,
    extract,
    extract_cached,
    forward_splitting_on_oom,
    resolve_device,
    resume_chunks,
    run_batches,
)
from .manifest import FORMAT, gate_records, gates_from_manifest, new_manifest
from .moments import CONSTANT_STD, HIST_BINS, GateMoments
from .run import IMAGE_COLUMNS, Run, RunStore, default_store_root, run_key

__all__ = [
    "Chunk",
    "ChunkCollector",
    "ChunkStore",
    "pending_positions",
    "world",
    "shard_bounds",
    "merge_runs",
    "extract_distributed",
    "resolve_device",
    "autocast_context",
    "extract",
    "extract_cached",
    "resume_chunks",
    "run_batches",
    "forward_splitting_on_oom",
    "assemble_run",
    "SUMMARY_ONLY_RESUME",
    "Progress",
    "FORMAT",
    "gate_records",
    "gates_from_manifest",
    "new_manifest",
    "GateMoments",
    "HIST_BINS",
    "CONSTANT_STD",
    "Run",
    "run_key",
    "RunStore",
    "default_store_root",
    "IMAGE_COLUMNS",
]
