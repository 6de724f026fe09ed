"""The Run: extraction into it, its manifest and moments, its on-disk store, data-parallel extraction."""

from .arrays import PrefixedArrays, StoredArrays
from .chunks import Chunk, ChunkCollector, ChunkStore, pending_positions
from .derived import DERIVED_VERSION, derived_table, stored_table
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
from .locate import images_here, made_elsewhere
from .manifest import FORMAT, gate_records, gates_from_manifest, new_manifest
from .moments import CONSTANT_STD, HIST_BINS, GateMoments
from .refs import RunNotFound, is_store_key, run_folder, run_id
from .run import (
    DERIVED_FOLDER,
    IMAGE_COLUMNS,
    MANIFEST_COLUMNS,
    STORED_GROUPINGS,
    Run,
    RunStore,
    StoredMoments,
    content_fingerprint,
    default_store_root,
    folder_size,
    is_run_folder,
    manifest_row,
    run_key,
)

__all__ = [
    "DERIVED_FOLDER",
    "content_fingerprint",
    "derived_table",
    "DERIVED_VERSION",
    "stored_table",
    "RunNotFound",
    "is_store_key",
    "run_folder",
    "run_id",
    "StoredArrays",
    "PrefixedArrays",
    "images_here",
    "made_elsewhere",
    "StoredMoments",
    "is_run_folder",
    "folder_size",
    "STORED_GROUPINGS",
    "manifest_row",
    "MANIFEST_COLUMNS",
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
