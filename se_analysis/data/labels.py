"""Labels for images in folders: class folder names and ``labels.csv`` files matched to a model's classes.

A class folder's name is a class name (case-insensitive, ``_`` as a space) or an ImageNet
WordNet id (for 1000-class models); a ``labels.csv`` label may also be a class index. Rows that
match no class, name a missing file or repeat a file are reported rather than guessed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from se_analysis.data.hierarchy import superclass_name
from se_analysis.data.imagenet import imagenet_wnids

__all__ = ["folder_labels", "match_class", "problems_for_files", "read_labels_csv", "wnids_for"]

WNID = re.compile(r"n\d{8}")


def wnids_for(class_names: Sequence[str]) -> list[str] | None:
    """WordNet ids for a 1000-class (ImageNet-1k) model, else None."""
    return imagenet_wnids() if len(class_names) == 1000 else None


def folder_labels(folders: Sequence[str], class_names: Sequence[str]) -> list[str]:
    """Display names of class folders, in their order: a folder named by a WordNet id (ImageNet's
    ``n01443537``) reads as its class and the id, ``goldfish (n01443537)``, so that grouping by folder
    shows what each group is, not a bare id. The name is the model's own where the id is one of its
    classes (1000-class models), else WordNet's; other folders, and ids WordNet does not hold, keep
    their names. Names stay unique: a label that would repeat another folder's name is not used.
    """
    wnids = wnids_for(class_names)
    index = {w: i for i, w in enumerate(wnids)} if wnids is not None else {}
    labels = []
    for f in folders:
        name = class_names[index[f]] if f in index and index[f] < len(class_names) else (
            superclass_name(f) if WNID.fullmatch(f) else f)
        labels.append(f if name == f else f"{name} ({f})")
    taken = set(folders)
    return [label if label == f or label not in taken else f for label, f in zip(labels, folders)]


def match_class(folder: str, class_names: Sequence[str], wnids: Sequence[str] | None) -> int | None:
    """The class index that ``folder`` (a class name or WordNet id) names, or None."""
    key = folder.strip().lower().replace("_", " ")
    lowered = [c.lower() for c in class_names]
    if key in lowered:
        return lowered.index(key)
    if wnids is not None and folder in wnids:
        return list(wnids).index(folder)
    return None


def read_labels_csv(path: Path, class_names: Sequence[str] | None, wnids: Sequence[str] | None
                     ) -> tuple[dict[str, int | None], list[str], dict[str, list]]:
    """Labels from a CSV with columns file/filename/image and label/class.

    With the model's ``class_names``, each row's label is matched on its own (a class name,
    WordNet id or index): a row that matches nothing keeps its image unlabelled and is reported,
    and every known label stays as it is. Without class names, the CSV's own sorted names are
    the classes.

    Returns:
        (file name -> label index or None, class names, {"unknown": [(file, label)],
        "missing": [file], "duplicate": [file]}).
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    cols = {c.lower().strip(): c for c in table.columns}
    file_col = next((cols[c] for c in ("file", "filename", "image", "path", "name") if c in cols), None)
    label_col = next((cols[c] for c in ("label", "class", "class_name", "target", "y") if c in cols), None)
    if file_col is None or label_col is None:
        raise ValueError(f"{path.name} needs a file column (file/filename/image) and a label column (label/class)")
    files = [Path(f.strip()).name for f in table[file_col].astype(str)]
    raw = table[label_col].astype(str).str.strip().tolist()
    problems: dict[str, list] = {"unknown": [], "missing": [], "duplicate": []}
    by_file: dict[str, int | None] = {}
    if class_names:
        names = list(class_names)
        for f, r in zip(files, raw):
            idx = int(r) if r.isdigit() and int(r) < len(names) else match_class(r, names, wnids)
            if idx is None:
                problems["unknown"].append((f, r))
            if f in by_file:
                problems["duplicate"].append(f)
            by_file[f] = idx
    else:
        names = sorted(set(raw))
        for f, r in zip(files, raw):
            if f in by_file:
                problems["duplicate"].append(f)
            by_file[f] = names.index(r)
    problems["missing"] = [f for f in by_file if not (path.parent / f).exists()]
    return by_file, names, problems


def problems_for_files(problems: dict[str, list], root: Path) -> list[tuple[str, str]]:
    """Skip reasons for labels.csv rows that name a missing file or repeat a file."""
    out = [(str(root / f), "listed in labels.csv but not found") for f in problems["missing"]]
    return out + [(str(root / f), "listed more than once in labels.csv; the last row counts")
                  for f in dict.fromkeys(problems["duplicate"])]
