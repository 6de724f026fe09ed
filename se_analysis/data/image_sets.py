"""Image sets: the bundled sample set, folders (by class, or flat), and uploaded files.

An image set is a list of :class:`ImageItem` (id, where it came from, label index or None, and
how to decode it) plus a fingerprint for the Run cache. Decoding happens lazily, in the
DataLoader; an image that fails to decode is skipped with its reason, never fatal.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from se_analysis.data.access import inside_roots
from se_analysis.data.decode import decode_image
from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids
from se_analysis.data.labels import (
    match_class,
    problems_for_files,
    read_labels_csv,
    wnids_for,
)
from se_analysis.data.layouts import (
    fingerprint,
    flat_val_labels,
    parquet_items,
    val_stem,
    wnid_stem,
)
from se_analysis.data.paths import IMAGENET_SAMPLE
from se_analysis.utils.text import plural

__all__ = ["IMAGE_EXTENSIONS", "ImageItem", "ImageSet", "SAMPLE_SET", "image_folder", "sample_set",
           "image_set_from_spec", "split_mask", "uploads"]


SAMPLE_SET = IMAGENET_SAMPLE  # the default model's bundled images
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}

@dataclass(frozen=True)
class ImageItem:
    """One image: ``load()`` returns a decoded PIL image (or raises with a readable reason)."""

    id: str
    source: str
    label: int | None
    load: Callable[[], Image.Image] = field(compare=False, repr=False)


@dataclass
class ImageSet:
    """A set of images with the class names its labels index into."""

    name: str
    items: list[ImageItem]
    class_names: list[str]
    fingerprint: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source, reason) found while listing
    spec: dict = field(default_factory=dict)  # how to list these images again (see image_set_from_spec)
    note: str = ""  # something the user should know about the labels (shown in the app and CLI)

    def __len__(self) -> int:
        return len(self.items)


_SPLITS = ("all", "reference", "eval")


def split_mask(labels: np.ndarray, split: str) -> np.ndarray:
    """Which images a split keeps: ``reference`` is the first half (in listed order) of each class,
    ``eval`` the rest, ``all`` everything."""
    if split == "all":
        return np.ones(len(labels), bool)
    rank = np.zeros(len(labels), int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    first_half = rank < np.bincount(labels)[labels] // 2
    return first_half if split == "reference" else ~first_half


def sample_set(split: str = "all", path: str | Path | None = None) -> ImageSet:
    """A bundled image set: by default the default model's 500 ImageNet validation images.

    Args:
        split: ``all``; ``reference`` (the first half of each class) or ``eval`` (the second
            half). The two halves are disjoint, for ablations whose means come from one
            split and are evaluated on the other.
        path: a folder of WordNet-id sub-folders (ImageNet) or an ``.npz`` of images and
            labels (the Fashion-MNIST set); see :attr:`SENet.sample` for a model's own set.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be all, reference or eval, not {split!r}")
    path = Path(path) if path is not None else SAMPLE_SET
    if path.is_dir():
        return _folder_sample(split, path)
    with np.load(path) as z:
        images, labels = z["images"], z["labels"].astype(np.int64)
        test_index = z["test_index"]
        class_names = [str(c) for c in z["class_names"]]
    keep = split_mask(labels, split)
    items = [
        ImageItem(f"fmnist-test-{int(test_index[i])}", f"sample_set[{i}]", int(labels[i]),
                  (lambda a=images[i]: Image.fromarray(a, mode="L")))
        for i in np.flatnonzero(keep)
    ]
    digest = hashlib.sha256(images.tobytes() + labels.tobytes() + split.encode()).hexdigest()[:16]
    return ImageSet(f"sample set ({split})", items, class_names, f"sample:{digest}",
                       spec={"kind": "sample", "split": split, "path": str(path)})


def _folder_sample(split: str, path: Path) -> ImageSet:
    """An ImageNet-style bundled set (WordNet-id folders), split into per-class halves by file name."""
    full = image_folder(path, imagenet_class_names(), imagenet_wnids())
    labels = np.array([it.label for it in full.items], dtype=np.int64)
    keep = split_mask(labels, split)
    items = [it for it, k in zip(full.items, keep) if k]
    digest = hashlib.sha256((full.fingerprint + split).encode()).hexdigest()[:16]
    return ImageSet(f"sample set ({split}): ImageNet val, {len(set(labels[keep].tolist()))} classes", items,
                       full.class_names, f"sample:{digest}", full.skipped,
                       spec={"kind": "sample", "split": split, "path": str(path)})


def image_folder(root: str | Path, class_names: Sequence[str] | None = None,
                 wnids: Sequence[str] | None = None, roots: list[Path] | None = None) -> ImageSet:
    """Images under ``root``: one sub-folder per class (ImageFolder), or a flat folder.

    Sub-folder names are matched to ``class_names`` (case-insensitive, ``_`` as space) or to
    ``wnids`` (WordNet ids such as ``n01443537``), folder by folder: a folder that names no class of
    the model leaves its own images unlabelled, the others keep their labels, and the note names it.
    Without ``class_names`` the folders are the classes, in sorted order. A flat folder is unlabelled
    unless it holds ``labels.csv`` (columns ``file`` and ``label``: a class name, WordNet id or index) or its files
    are named as ImageNet's train set names them, ``<WordNet id>_*.JPEG`` (labelled from that id, with ``wnids``).
    With ``roots`` (the app's data roots), files and class folders that link outside them are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    skipped: list[tuple[str, str]] = []
    subdirs = []
    note = ""
    for p in sorted(root.iterdir()):
        if p.is_dir() and roots is not None and not inside_roots(p, roots):
            skipped.append((str(p), _OUTSIDE))
        elif p.is_dir():
            subdirs.append(p)
        elif p.is_symlink() and not p.exists():
            skipped.append((str(p), "broken or looping symbolic link"))
    items: list[ImageItem] = []
    names: list[str]
    if subdirs:
        mapped = {d.name: (match_class(d.name, class_names, wnids) if class_names else None) for d in subdirs}
        names = list(class_names) if class_names is not None else [d.name for d in subdirs]
        counts: dict[str, int] = {}
        for k, d in enumerate(subdirs):
            label = mapped[d.name] if class_names is not None else k  # an unknown folder: its images unlabelled
            files = _image_files(d, skipped, roots)
            counts[d.name] = len(files)
            if not files:
                skipped.append((str(d), "empty class folder: no images"))
            items += [ImageItem(str(f.relative_to(root)), str(f), label, (lambda f=f: decode_image(f))) for f in files]
        if class_names is not None:
            note = _unknown_folders_note([d.name for d in subdirs if mapped[d.name] is None], counts)
    else:
        names = list(class_names or [])
        shards = parquet_items(root, len(names))
        if shards is not None:  # Hugging Face datasets parquet shards
            items = [ImageItem(i, src, lab, (lambda load=load: decode_image(load()))) for i, src, lab, load in shards]
            return ImageSet(f"parquet shards {root}", items, names,
                               f"parquet:{fingerprint(sorted(root.glob('*.parquet')))}", skipped,
                               spec={"kind": "folder", "root": str(root.resolve())})
        labels_csv = next((root / n for n in ("labels.csv", "labels.CSV") if (root / n).is_file()), None)
        by_file: dict[str, int | None] = {}
        files = _image_files(root, skipped, roots)
        named = (labels_csv is None and any(wnid_stem(f.name) for f in files)
                 and not any(val_stem(f.name) for f in files))  # ImageNet's train naming, n01440764_10026.JPEG
        imagenet = flat_val_labels(root) if labels_csv is None and not named else None
        if labels_csv is not None:
            by_file, names, problems = read_labels_csv(labels_csv, class_names, wnids)
            skipped += problems_for_files(problems, root)
            note = _labels_csv_note(labels_csv.name, problems)
            missing_reason = f"no label in {labels_csv.name}"
        elif imagenet is not None:  # the flat ILSVRC2012_img_val folder with devkit or Kaggle labels
            stem_to_wnid, note = imagenet
            index = {w: i for i, w in enumerate(wnids or [])}
            by_file = {f.name: index.get(stem_to_wnid[val_stem(f.name)]) for f in files
                       if val_stem(f.name) in stem_to_wnid}
            if not index:
                note += "; these WordNet ids are not classes of this model, so the images are analysed unlabelled"
            missing_reason = "not an ILSVRC2012 validation image named in the label file"
        elif named:
            by_file, note = _wnid_name_labels(files, wnids)
        elif files:
            note = _NO_LABELS_HINT
        if labels_csv is not None or imagenet is not None:
            skipped += [(str(f), missing_reason) for f in files if f.name not in by_file]
            files = [f for f in files if f.name in by_file]
        items = [ImageItem(str(f.relative_to(root)), str(f), by_file.get(f.name), (lambda f=f: decode_image(f)))
                 for f in files]
    h = hashlib.sha256()
    for it in items:
        st = os.stat(it.source)
        h.update(f"{it.id}|{it.label}|{st.st_size}|{st.st_mtime_ns}".encode())
    return ImageSet(f"folder {root}", items, names, f"folder:{h.hexdigest()[:16]}", skipped,
                       spec={"kind": "folder", "root": str(root.resolve())}, note=note)


_OUTSIDE = "links outside the allowed data roots"
_NO_LABELS_HINT = ("no labels in this flat folder: its images are analysed by predicted class, without accuracy; to "
                   "label them, put a labels.csv beside them with the columns file and label (file: an image's file "
                   "name; label: a class name, WordNet id or class index of this model), or, for an ImageNet model, "
                   "name the files as ImageNet's train set does, <WordNet id>_<number>.JPEG")


def _wnid_name_labels(files: Sequence[Path], wnids: Sequence[str] | None) -> tuple[dict[str, int | None], str]:
    """Labels of files named ``<WordNet id>_*`` (ImageNet's train set) and the note that says so; a file whose
    name starts with no WordNet id of the model's classes stays unlabelled and is counted."""
    index = {w: i for i, w in enumerate(wnids or [])}
    by_file = {f.name: index.get(wnid_stem(f.name) or "") for f in files}
    if not index:
        return by_file, ("the file names start with ImageNet WordNet ids (n01440764_...), which are not classes of "
                         "this model: the images are analysed by predicted class, without accuracy")
    rest = [name for name, label in by_file.items() if label is None]
    note = f"labelled from the WordNet id in each file name: {len(files) - len(rest)} of {plural(len(files), 'file')}"
    if rest:
        shown = ", ".join(rest[:5]) + (" …" if len(rest) > 5 else "")
        note += (f"; {plural(len(rest), 'file')} whose name starts with no WordNet id of this model's classes, "
                 f"analysed unlabelled: {shown}")
    return by_file, note


def _labels_csv_note(name: str, problems: dict[str, list]) -> str:
    """The note on labels.csv rows that name no class of the model (their images analysed unlabelled) and, counted
    apart, rows that name a file that is not there (nothing analysed: listed as skipped)."""
    missing = set(problems["missing"])
    unknown = [(f, lab) for f, lab in problems["unknown"] if f not in missing]
    parts = []
    if unknown:
        shown = ", ".join(f"{f} ({lab!r})" for f, lab in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        parts.append(f"{plural(len(unknown), 'row')} with no class of this model, analysed unlabelled: {shown}")
    if missing:
        parts.append(f"{plural(len(missing), 'row')} naming a file that is not there, skipped")
    return f"in {name}, " + "; ".join(parts) if parts else ""


def _unknown_folders_note(unknown: list[str], counts: dict[str, int]) -> str:
    """The note on class folders that name no class of the model ("" when every folder does)."""
    if not unknown:
        return ""
    shown = ", ".join(f"{name}/ ({plural(counts[name], 'image')})" for name in unknown[:5])
    shown += " …" if len(unknown) > 5 else ""
    if len(unknown) == len(counts):
        return (f"folder names ({shown}) are not classes of this model: the images are analysed by predicted "
                "class, without accuracy")
    return (f"class folders that name no class of this model, analysed unlabelled (by predicted class, without "
            f"accuracy): {shown}; the images of the other {plural(len(counts) - len(unknown), 'folder')} keep "
            "their labels")


def _image_files(folder: Path, skipped: list[tuple[str, str]], roots: list[Path] | None = None) -> list[Path]:
    """Image files directly in ``folder``; links that lead nowhere (or out of ``roots``) and non-files are
    skipped with a reason."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            if roots is not None and not inside_roots(p, roots):
                skipped.append((str(p), _OUTSIDE))
            elif p.is_symlink() and not p.exists():
                skipped.append((str(p), "broken or looping symbolic link"))
            elif not p.is_file():
                skipped.append((str(p), "not a regular file"))
            elif not os.access(p, os.R_OK):
                skipped.append((str(p), "unreadable: permission denied"))
            else:
                out.append(p)
        except OSError as e:
            skipped.append((str(p), f"unreadable: {e.strerror or e}"))
    return out


def uploads(files: Sequence[tuple[str, bytes]], labels: Sequence[int | None] | None = None,
            class_names: Sequence[str] = ()) -> ImageSet:
    """Images uploaded as (file name, bytes) pairs, optionally labelled."""
    labels = list(labels) if labels is not None else [None] * len(files)
    items = [ImageItem(f"upload-{i}-{name}", name, lab, (lambda b=data: decode_image(b)))
             for i, ((name, data), lab) in enumerate(zip(files, labels))]
    h = hashlib.sha256()
    for (name, data), lab in zip(files, labels):
        h.update(name.encode() + hashlib.sha256(data).digest() + str(lab).encode())
    return ImageSet("uploads", items, list(class_names), f"uploads:{h.hexdigest()[:16]}", spec={"kind": "uploads"})


def image_set_from_spec(spec: dict, class_names: Sequence[str]) -> ImageSet:
    """List a Run's images again from its manifest's ``data_spec`` (uploads cannot be re-listed)."""
    kind = spec.get("kind")
    if kind == "sample":
        return sample_set(spec["split"], spec.get("path", SAMPLE_SET))
    if kind == "folder":
        return image_folder(spec["root"], class_names, wnids_for(class_names))
    raise ValueError(f"the images of this run ({kind or 'unknown source'}) cannot be listed again; "
                     "re-run it from a folder or the sample set")
