"""The Run: the result of passing a set of images through an SE network, stored on disk.

On disk a Run is a folder::

    manifest.json     model, weights (description + hash), data source, preprocessing,
                      gates (name, module path, channels, depth), class names, date, skipped files
                      (the format is defined in :mod:`.manifest`)
    images.parquet    one row per image: index, image_id, source, label, label_name, pred,
                      pred_name, confidence, correct
    arrays.safetensors  ``gate/<name>``: (N, C) gate values (float32 or float16);
                      ``logits``: (N, K) float32; for summary-only runs, no gate arrays but
                      ``moments_label/...`` and ``moments_pred/...`` (see :mod:`.moments`)

A full Run also keeps its streamed moments grouped by label and by prediction (written on save),
so statistics per class and block never need the per-image gates. :meth:`Run.load` reads nothing
but the manifest and the images table: gate arrays are memory-mapped one block at a time when a
page asks for them (:mod:`.arrays`), and moments are read when first used.

Runs are cached under a key (a hash of model, weights, data and preprocessing), so reopening
the app or repeating a CLI command does not recompute; a Run folder opens from any path too
(:func:`open_run`), wherever it was made.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from se_analysis.gates.find import Gate
from se_analysis.runs.arrays import PrefixedArrays, StoredArrays
from se_analysis.runs.manifest import gate_records, gates_from_manifest
from se_analysis.runs.moments import GateMoments

__all__ = ["Run", "run_key", "RunStore", "default_store_root", "IMAGE_COLUMNS", "StoredMoments", "is_run_folder",
           "folder_size", "STORED_GROUPINGS", "DERIVED_FOLDER", "content_fingerprint", "manifest_row",
           "MANIFEST_COLUMNS"]

STORED_GROUPINGS = ("label", "pred")  # the groupings whose moments a full Run keeps
DERIVED_FOLDER = "derived"  # inside a Run folder: tables computed from it once (:mod:`.derived`)

IMAGE_COLUMNS = ["index", "image_id", "source", "label", "label_name", "pred", "pred_name", "confidence", "correct"]


def _swap_into_place(tmp: Path, folder: Path, attempts: int = 20) -> None:
    """Rename the finished ``tmp`` onto ``folder``; an existing folder is first renamed aside, then removed.

    Each step is one atomic rename, so a reader (or a second process saving the same key) sees
    either a complete Run or none, never a half-written or half-deleted one.
    """
    for _ in range(attempts):
        try:
            os.rename(tmp, folder)  # fails when folder exists and is not empty
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        aside = folder.parent / f".old-{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, aside)
        except FileNotFoundError:
            continue  # another process moved it first
        shutil.rmtree(aside, ignore_errors=True)
    raise OSError(f"could not put the run in place at {folder}: other processes keep replacing it")


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a Run folder (its manifest, images table and arrays), not a folder of images."""
    p = Path(path)
    return all((p / f).is_file() for f in ("manifest.json", "images.parquet", "arrays.safetensors"))


def folder_size(path: str | Path) -> int:
    """The bytes of a Run folder: its files and the tables kept in its ``derived/`` (a copy moves both)."""
    p = Path(path)
    return sum(f.stat().st_size for f in [*p.iterdir(), *(p / DERIVED_FOLDER).glob("*")] if f.is_file())


class StoredMoments(Mapping[str, GateMoments]):
    """A Run's stored moments by grouping ("label", "pred"), each read from the file when first used."""

    def __init__(self, arrays: Mapping[str, np.ndarray], blocks: list[str], groupings: list[str]) -> None:
        self.arrays, self.blocks = arrays, blocks
        self.groupings = [by for by in groupings if f"moments_{by}/n" in arrays or f"summary_{by}/n" in arrays]
        self._read: dict[str, GateMoments] = {}

    def __getitem__(self, by: str) -> GateMoments:
        if by not in self.groupings:
            raise KeyError(by)
        if by not in self._read:
            prefix = f"moments_{by}" if f"moments_{by}/n" in self.arrays else f"summary_{by}"  # "summary" in format 1
            self._read[by] = GateMoments.from_stored(self.arrays, self.blocks, prefix)
        return self._read[by]

    def __iter__(self) -> Iterator[str]:
        return iter(self.groupings)

    def __len__(self) -> int:
        return len(self.groupings)


@dataclass
class Run:
    """Images table, per-gate (N, C) gate values, logits, and the manifest that says where they came from.

    ``gates`` are the typed :class:`~se_analysis.gates.Gate` records (as on the model);
    ``gate_values`` maps each gate's name to its (N, C) values, one row per image (a loaded Run
    reads each block from disk when it is looked up: index what you need, one block at a time).
    """

    images: pd.DataFrame
    gate_values: Mapping[str, np.ndarray]
    logits: np.ndarray
    manifest: dict
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "reason"]))
    moments: Mapping[str, GateMoments] = field(default_factory=dict)  # "label"/"pred" -> GateMoments
    folder: Path | None = None  # where it was loaded from
    fingerprint: str | None = None  # of the files it was loaded from (:func:`content_fingerprint`)

    @property
    def gates(self) -> list[Gate]:
        """The model's SE gates, in forward order (from the manifest)."""
        return gates_from_manifest(self.manifest)

    def gate(self, name: str) -> Gate:
        """The gate called ``name`` (e.g. ``SE_4_2``)."""
        for g in self.gates:
            if g.name == name:
                return g
        raise KeyError(f"this run has no gate {name!r}; it has {', '.join(self.gate_names)}")

    @property
    def gate_names(self) -> list[str]:
        """The gates' names, in forward order."""
        return [g.name for g in self.gates]

    @property
    def class_names(self) -> list[str]:
        """The model's class names, index-aligned with the logits' columns and the ``label``/``pred`` columns."""
        return list(self.manifest["class_names"])

    @property
    def has_gate_arrays(self) -> bool:
        """False for summary-only runs, which keep statistics but no per-image gates."""
        return bool(self.gate_values) or not self.manifest.get("gates")

    @property
    def has_labels(self) -> bool:
        """Whether any image has a label (unlabelled images have ``label`` -1)."""
        return bool((self.images["label"] >= 0).any())

    def gate_info(self) -> pd.DataFrame:
        """One row per gate: name, path, se_path, channels, depth, stage, position."""
        return pd.DataFrame(gate_records(self.gates), columns=["name", "path", "se_path", "channels", "depth", "stage",
                                                               "position"])

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, rows: np.ndarray, **manifest_updates) -> "Run":
        """The Run of some of its images (a boolean mask or row numbers), in their order here.

        Per-image values do not depend on which other images were in the batch, so this equals
        extracting those images alone; ``manifest_updates`` say what the subset is (e.g. its data spec).
        """
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, np.int64)
        images = self.images.iloc[rows].reset_index(drop=True)
        images["index"] = np.arange(len(images))
        manifest = {**self.manifest, "n_images": len(images), "n_skipped": 0, **manifest_updates}
        return Run(images=images, gate_values={k: v[rows] for k, v in self.gate_values.items()},
                   logits=self.logits[rows], manifest=manifest)

    def save(self, folder: str | Path) -> Path:
        """Write the Run atomically (to a temporary folder, then renamed into place)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        missing = [n for n in self.gate_names if n not in self.gate_values]
        if self.gate_values and missing:
            raise ValueError(f"this Run has gate values for some blocks but not for {', '.join(missing)}: a Run "
                             "keeps every block's gates, or none (summary-only)")
        folder.parent.mkdir(parents=True, exist_ok=True)
        moments = dict(self.moments.items())
        if self.gate_values and len(self):  # a full Run keeps its moments too: statistics never reread the gates
            for by in STORED_GROUPINGS:
                if by not in moments:
                    classes = self.images["label" if by == "label" else "pred"].to_numpy(np.int64)
                    moments[by] = GateMoments.from_arrays(self.gate_values, classes, len(self.class_names),
                                                          self.gate_names)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-run-", dir=folder.parent))
        try:
            manifest = {**self.manifest, "skipped": self.skipped.to_dict("records"), "moments": sorted(moments)}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            self.images.to_parquet(tmp / "images.parquet", index=False)
            arrays = {f"gate/{k}": np.ascontiguousarray(v) for k, v in self.gate_values.items()}
            arrays["logits"] = np.ascontiguousarray(self.logits, dtype=np.float32)
            for by, m in moments.items():
                arrays.update(m.to_arrays(f"moments_{by}"))
            save_file(arrays, str(tmp / "arrays.safetensors"))
            _swap_into_place(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Run":
        """Open a Run folder: its manifest and images table now, its gates and moments when first used."""
        folder = Path(folder)
        if not (folder / "manifest.json").exists():
            raise FileNotFoundError(f"{folder} holds no Run (manifest.json missing)")
        manifest_bytes = (folder / "manifest.json").read_bytes()
        manifest = json.loads(manifest_bytes)
        images = pd.read_parquet(folder / "images.parquet")
        arrays = StoredArrays(folder / "arrays.safetensors")
        skipped = pd.DataFrame(manifest.pop("skipped", []), columns=["source", "reason"])
        names = [g.name for g in gates_from_manifest(manifest)]
        kept = manifest.pop("moments", None) or manifest.pop("summaries", [])  # "summaries" in format 1
        gate_values = PrefixedArrays(arrays, "gate/", names)
        if gate_values and len(gate_values) < len(names):
            raise ValueError(f"{folder / 'arrays.safetensors'} lacks the gates of "
                             f"{', '.join(n for n in names if n not in gate_values)} that its manifest lists "
                             "(written in part, or by another tool): extract the Run again")
        for by in kept:
            prefixes = (f"moments_{by}", f"summary_{by}")
            absent = [n for n in names if not any(f"{p}/{n}/mean" in arrays for p in prefixes)]
            if absent and any(f"{p}/n" in arrays for p in prefixes):
                raise ValueError(f"{folder / 'arrays.safetensors'} lacks the {by} moments of {', '.join(absent)} "
                                 "(written in part, or by another tool): extract the Run again")
        if "logits" not in arrays:
            raise ValueError(f"{folder / 'arrays.safetensors'} has no logits (written by another tool?)")
        return cls(images=images, gate_values=gate_values, logits=arrays["logits"],
                   manifest=manifest, skipped=skipped, moments=StoredMoments(arrays, names, list(kept)),
                   folder=folder, fingerprint=content_fingerprint(manifest_bytes, arrays.size))


def content_fingerprint(manifest: bytes, arrays_size: int) -> str:
    """16 hex digits naming one Run's content: its manifest's bytes (model, weights, data, creation time) and its
    arrays file's size. Taken from the files a Run was opened from, so a Run written over its folder while
    another is open never shares its name."""
    digest = hashlib.sha256(manifest)
    digest.update(str(arrays_size).encode())
    return digest.hexdigest()[:16]


def run_key(model_name: str, weights_id: str, data_fingerprint: str, preprocessing: dict,
            extra: dict | None = None) -> str:
    """A short, stable hash of what determines a Run's content."""
    blob = json.dumps([model_name, weights_id, data_fingerprint, preprocessing, extra or {}], sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_store_root() -> Path:
    """``$SE_ANALYSIS_HOME/runs``, else ``~/.cache/se_analysis/runs``."""
    home = os.environ.get("SE_ANALYSIS_HOME")
    return Path(home) / "runs" if home else Path.home() / ".cache" / "se_analysis" / "runs"


class RunStore:
    """Runs on disk, one folder per key."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_store_root()

    def path(self, key: str) -> Path:
        """The folder of the Run stored under ``key`` (which may not exist yet)."""
        return self.root / key

    def get(self, key: str) -> Run | None:
        """The Run stored under ``key``, or None."""
        p = self.path(key)
        return Run.load(p) if (p / "manifest.json").exists() else None

    def put(self, key: str, run: Run) -> Path:
        """Save ``run`` under ``key`` (replacing what was there); returns its folder."""
        return run.save(self.path(key))

    def list(self) -> pd.DataFrame:
        """The stored Runs, newest first: key, model, weights, data, images, gates, created (manifests only);
        ``gate_channels``: each Run's ``{gate name: channels}``, in forward order; ``size``: bytes on disk;
        ``path``: its folder."""
        rows = []
        for manifest_path in self.root.glob("*/manifest.json") if self.root.is_dir() else []:
            if manifest_path.parent.name.startswith("."):
                continue
            row = manifest_row(manifest_path.parent)
            if row is not None:
                rows.append({"key": manifest_path.parent.name, **row})
        return pd.DataFrame(rows, columns=["key", *MANIFEST_COLUMNS]).sort_values(
            "created", ascending=False, na_position="last", ignore_index=True)


MANIFEST_COLUMNS = ["model", "weights", "pretrained", "data", "images", "gates", "summary_only", "created",
                    "gate_channels", "size", "path"]


def manifest_row(folder: Path) -> dict | None:
    """What a Run folder's manifest says about it (one row of :meth:`RunStore.list`), or None if unreadable."""
    try:
        m = json.loads((folder / "manifest.json").read_text())
        size = folder_size(folder)
    except (OSError, ValueError):
        return None
    return {"model": m.get("model"), "weights": m.get("weights"), "pretrained": m.get("pretrained", True),
            "data": m.get("data"), "images": m.get("n_images"), "gates": len(m.get("gates", [])),
            "summary_only": bool(m.get("summary_only")), "created": m.get("created"),
            "gate_channels": {g["name"]: int(g["channels"]) for g in m.get("gates", [])}, "size": size,
            "path": str(folder)}
