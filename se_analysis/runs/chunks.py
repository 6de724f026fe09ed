"""The chunks of an extraction: consecutive batches gathered into arrays, and saved for resuming.

An extraction cuts its images (positions ``0 .. total - 1`` of the source) into chunks of
``chunk`` positions, a whole number of batches. :class:`ChunkCollector` gathers each batch's
outputs and closes a chunk once every one of its positions is in, decoded or failed;
:class:`ChunkStore` writes each closed chunk to disk atomically, so that an interrupted
extraction started again with the same folder and settings skips the chunks it finished.

A chunk is a dict: ``positions`` (the decoded images' positions), ``failed`` ([(position,
reason)]), ``logits`` (n, K) and ``gates`` {name: (n, C)} (empty when gates are not kept).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from se_analysis.gates.find import Gate

__all__ = ["Chunk", "ChunkStore", "ChunkCollector", "pending_positions"]

Chunk = dict  # {"positions": [int], "failed": [(int, str)], "logits": (n, K), "gates": {name: (n, C)}}


def pending_positions(total: int, chunk: int, finished: Mapping[int, Chunk]) -> list[int]:
    """The positions of ``0 .. total - 1`` whose chunk is not among ``finished`` (chunk index -> chunk)."""
    return [i for c in range(0, total, chunk) if c // chunk not in finished for i in range(c, min(c + chunk, total))]


class ChunkStore:
    """Finished chunks of an extraction on disk (one .npz each, written atomically), for resuming."""

    def __init__(self, folder: str | Path, fingerprint: str, batch_size: int, chunk: int, dtype: str) -> None:
        self.folder = Path(folder)
        self.meta = {"fingerprint": fingerprint, "batch_size": batch_size, "chunk": chunk, "dtype": dtype}

    def load(self) -> dict[int, Chunk]:
        """The chunks saved by an earlier, interrupted extraction of the same images and settings.

        A folder written with other images or settings is emptied, so its chunks are never mixed in.
        """
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

    def save(self, index: int, part: Chunk) -> None:
        """Write chunk ``index`` (through a temporary file, so a killed process leaves no half chunk)."""
        tmp = self.folder / f".chunk-{index:06d}.tmp.npz"
        np.savez(tmp, positions=np.asarray(part["positions"], np.int64), logits=part["logits"],
                 failed_positions=np.asarray([p for p, _ in part["failed"]], np.int64),
                 failed_reasons=np.asarray([r for _, r in part["failed"]], dtype=str),
                 **{f"gate:{k}": v for k, v in part["gates"].items()})
        os.replace(tmp, self.folder / f"chunk-{index:06d}.npz")


class ChunkCollector:
    """Gathers batches into the running chunk and closes it into ``finished`` (and the store) when complete.

    Args:
        gates: the model's gates.
        chunk: positions per chunk.
        total: positions in the whole extraction.
        store_dtype: dtype of the kept gate arrays.
        finished: chunk index -> closed chunk; chunks closed here are added to it.
        store: where closed chunks are saved for resuming, or None.
    """

    def __init__(self, gates: Sequence[Gate], chunk: int, total: int, store_dtype: np.dtype,
                 finished: dict[int, Chunk], store: ChunkStore | None = None) -> None:
        self.gates, self.chunk, self.total, self.store_dtype = list(gates), chunk, total, store_dtype
        self.finished, self.store = finished, store
        self.current = self._empty()

    def _empty(self) -> dict:
        return {"positions": [], "failed": [], "logits": [], "gates": {g.name: [] for g in self.gates}}

    def add(self, positions: list[int], failed: list[tuple[int, str]], logits: np.ndarray | None,
            values: Mapping[str, np.ndarray] | None) -> None:
        """One batch: the decoded images' positions, the failures, logits (B, K) (None when nothing
        decoded) and gates {name: (B, C)} (None when gates are not kept)."""
        current = self.current
        current["failed"] += failed
        if logits is not None:
            current["logits"].append(logits)
            if values is not None:
                for g in self.gates:
                    current["gates"][g.name].append(values[g.name].astype(self.store_dtype, copy=False))
            current["positions"] += positions
        first = (positions or [p for p, _ in current["failed"]])[0]
        c = first // self.chunk
        if len(current["positions"]) + len(current["failed"]) == min(self.chunk, self.total - c * self.chunk):
            self.finished[c] = self._close()
            if self.store:
                self.store.save(c, self.finished[c])
            self.current = self._empty()

    def _close(self) -> Chunk:
        """The running chunk's batches concatenated into arrays."""
        current = self.current
        k = current["logits"][0].shape[1] if current["logits"] else 0
        return {
            "positions": list(current["positions"]), "failed": list(current["failed"]),
            "logits": np.concatenate(current["logits"]) if current["logits"] else np.zeros((0, k), np.float32),
            "gates": {g.name: np.concatenate(current["gates"][g.name]) for g in self.gates if current["gates"][g.name]},
        }
