"""ImageNet as people keep it, besides WordNet-id folders.

* the flat ``ILSVRC2012_img_val`` folder with the devkit's ``ILSVRC2012_validation_ground_truth.txt``
  (one ILSVRC2012_ID per line, in file-name order; IDs map to WordNet ids through the devkit's
  ``data/meta.mat``, whose order differs from the standard class index);
* the same folder with Kaggle's ``LOC_val_solution.csv`` (``ImageId``, ``PredictionString`` whose
  first token is the WordNet id);
* a folder of Hugging Face ``datasets`` parquet shards (columns ``image`` = {bytes, path} and
  ``label`` = the standard class index);
* a flat folder of files named as ImageNet's train set names them, ``<WordNet id>_<number>.JPEG``
  (``n01440764_10026.JPEG``): each file labelled from its name's WordNet id (:func:`wnid_stem`).

The label files are looked for in the folder and in up to three folders above it (and in a
devkit folder there), where the devkit and Kaggle archives put them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

__all__ = ["GROUND_TRUTH", "KAGGLE_SOLUTION", "find_label_file", "flat_val_labels", "val_stem", "wnid_stem",
           "parquet_items", "fingerprint"]

GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
KAGGLE_SOLUTION = "LOC_val_solution.csv"
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")
_WNID_NAME = re.compile(r"(n\d{8})_", re.IGNORECASE)


def find_label_file(root: Path, name: str) -> Path | None:
    """``name`` in ``root`` or up to three folders above it, directly or under a devkit's ``data/``."""
    for folder in [root, *list(root.parents)[:3]]:
        for candidate in (folder / name, folder / "data" / name, *folder.glob(f"ILSVRC2012_devkit*/data/{name}")):
            if candidate.is_file():
                return candidate
    return None


def _devkit_wnids(meta: Path) -> dict[int, str]:
    """ILSVRC2012_ID -> WordNet id, from the devkit's ``meta.mat``."""
    from scipy.io import loadmat

    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["ILSVRC2012_ID"]) <= 1000}


def flat_val_labels(root: Path) -> tuple[dict[str, str], str] | None:
    """For a flat ImageNet val folder: (file stem -> WordNet id, where the labels came from), or None.

    Raises:
        ValueError: a devkit ground-truth file without the ``meta.mat`` that gives its IDs meaning.
    """
    solution = find_label_file(root, KAGGLE_SOLUTION)
    if solution is not None:
        table = pd.read_csv(solution, dtype=str)
        return ({str(i): str(p).split()[0] for i, p in zip(table["ImageId"], table["PredictionString"])},
                f"labels from Kaggle's {solution.name}")
    truth = find_label_file(root, GROUND_TRUTH)
    if truth is None:
        return None
    meta = next((p for p in (truth.parent / "meta.mat", root / "meta.mat") if p.is_file()), None)
    if meta is None:
        raise ValueError(f"{truth.name} numbers classes by the devkit's ILSVRC2012_ID, which is not the standard class "
                         "index: put the devkit's data/meta.mat beside it")
    ids = [int(line) for line in truth.read_text().split()]
    to_wnid = _devkit_wnids(meta)
    return ({f"ILSVRC2012_val_{i + 1:08d}": to_wnid[v] for i, v in enumerate(ids)},
            f"labels from the devkit's {truth.name} and meta.mat")


def val_stem(file_name: str) -> str | None:
    """``ILSVRC2012_val_00000001`` from any file name that holds it."""
    m = _VAL_NAME.search(file_name)
    return m.group(0) if m else None


def wnid_stem(file_name: str) -> str | None:
    """``n01440764`` from a file named as ImageNet's train set names them (``n01440764_10026.JPEG``), else None."""
    m = _WNID_NAME.match(file_name)
    return m.group(1).lower() if m else None


@functools.lru_cache(maxsize=4)
def _row_group(path: str, group: int) -> list:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=["image"]).column("image").to_pylist()


def parquet_items(root: Path, num_classes: int) -> list[tuple[str, str, int | None, Callable[[], bytes]]] | None:
    """(id, source, label, load bytes) for every row of the parquet shards in ``root``, or None if there are none.

    Image bytes are read lazily, one row group at a time, so memory does not grow with the data set.
    """
    import pyarrow.parquet as pq

    shards = sorted(root.glob("*.parquet"))
    if not shards:
        return None
    out = []
    for shard in shards:
        f = pq.ParquetFile(shard)
        names = f.schema_arrow.names
        if "image" not in names:
            raise ValueError(f"{shard.name} has no 'image' column (expected Hugging Face datasets shards with "
                             "image.bytes and label)")
        labels = (f.read(columns=["label"]).column("label").to_pylist() if "label" in names
                  else [None] * f.metadata.num_rows)
        row = 0
        for g in range(f.num_row_groups):
            for j in range(f.metadata.row_group(g).num_rows):
                lab = labels[row]
                label = int(lab) if lab is not None and 0 <= int(lab) < num_classes else None
                out.append((f"{shard.stem}/{row}", f"{shard}#{row}", label,
                            (lambda s=str(shard), g=g, j=j: _row_group(s, g)[j]["bytes"])))
                row += 1
    return out


def fingerprint(files: Sequence[Path]) -> str:
    """A short hash of the files' paths, sizes and modification times (changes when any file does)."""
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]
