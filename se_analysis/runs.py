"""The Run: the result of passing a set of images through an SE network, stored on disk.

On disk a Run is a folder::

    manifest.json     model, weights (description + hash), data source, preprocessing,
                      gates (name, module path, channels, depth), class names, date, skipped files
    images.parquet    one row per image: index, image_id, source, label, label_name, pred,
                      pred_name, confidence, correct
    arrays.safetensors  ``gate/<name>``: (N, C) gate values (float32 or float16);
                      ``logits``: (N, K) float32; for summary-only runs, no gate arrays but
                      ``summary_label/...`` and ``summary_pred/...`` (see :mod:`.summary`)

Runs are cached under a key (a hash of model, weights, data and preprocessing), so reopening
the app or repeating a CLI command does not recompute.
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

import numpy as np
import pandas as pd

__all__ = ["Run", "run_key", "RunStore", "default_store_root", "IMAGE_COLUMNS"]

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


@dataclass
class Run:
    """Images table, per-gate (N, C) arrays, logits, and the manifest that says where they came from."""

    images: pd.DataFrame
    gates: dict[str, np.ndarray]
    logits: np.ndarray
    manifest: dict
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["source", "reason"]))
    summaries: dict = field(default_factory=dict)  # "label"/"pred" -> GateSummary (summary-only runs)

    @property
    def gate_names(self) -> list[str]:
        return [g["name"] for g in self.manifest["gates"]]

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest["class_names"])

    @property
    def has_gate_arrays(self) -> bool:
        """False for summary-only runs, which keep statistics but no per-image gates."""
        return bool(self.gates) or not self.manifest.get("gates")

    @property
    def has_labels(self) -> bool:
        return bool((self.images["label"] >= 0).any())

    def gate_info(self) -> pd.DataFrame:
        """One row per gate: name, path, channels, depth, stage, block."""
        return pd.DataFrame(self.manifest["gates"])

    def __len__(self) -> int:
        return len(self.images)

    def save(self, folder: str | Path) -> Path:
        """Write the Run atomically (to a temporary folder, then renamed into place)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-run-", dir=folder.parent))
        try:
            manifest = {**self.manifest, "skipped": self.skipped.to_dict("records"), "summaries": sorted(self.summaries)}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            self.images.to_parquet(tmp / "images.parquet", index=False)
            arrays = {f"gate/{k}": np.ascontiguousarray(v) for k, v in self.gates.items()}
            arrays["logits"] = np.ascontiguousarray(self.logits, dtype=np.float32)
            for by, summary in self.summaries.items():
                arrays.update(summary.to_arrays(f"summary_{by}"))
            save_file(arrays, str(tmp / "arrays.safetensors"))
            _swap_into_place(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Run":
        from safetensors.numpy import load_file

        folder = Path(folder)
        if not (folder / "manifest.json").exists():
            raise FileNotFoundError(f"{folder} holds no Run (manifest.json missing)")
        manifest = json.loads((folder / "manifest.json").read_text())
        images = pd.read_parquet(folder / "images.parquet")
        arrays = load_file(str(folder / "arrays.safetensors"))
        gates = {g["name"]: arrays[f"gate/{g['name']}"] for g in manifest["gates"] if f"gate/{g['name']}" in arrays}
        skipped = pd.DataFrame(manifest.pop("skipped", []), columns=["source", "reason"])
        from .summary import GateSummary

        names = [g["name"] for g in manifest["gates"]]
        summaries = {by: GateSummary.from_stored(arrays, names, f"summary_{by}") for by in manifest.get("summaries", [])}
        return cls(images=images, gates=gates, logits=arrays["logits"], manifest=manifest, skipped=skipped,
                   summaries=summaries)


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
        return self.root / key

    def get(self, key: str) -> Run | None:
        p = self.path(key)
        return Run.load(p) if (p / "manifest.json").exists() else None

    def put(self, key: str, run: Run) -> Path:
        return run.save(self.path(key))
