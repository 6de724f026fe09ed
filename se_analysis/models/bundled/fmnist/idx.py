"""Fashion-MNIST (Xiao et al. 2017, MIT licence): reading the idx files offline.

Debian's ``dataset-fashion-mnist`` installs the four idx files (gzip) under
``/usr/share/datasets/fashion-mnist``; torchvision's ``FashionMNIST`` download leaves the
same files under ``<root>/FashionMNIST/raw``. Either folder works here.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["CLASS_NAMES", "DEFAULT_DIRS", "find_dir", "read_idx", "load_split"]

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

DEFAULT_DIRS: tuple[str, ...] = (
    "/usr/share/datasets/fashion-mnist",
    os.path.expanduser("~/.cache/fashion-mnist"),
    "data/FashionMNIST/raw",
)

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The first folder that holds the Fashion-MNIST idx files, or a FileNotFoundError saying how to get them."""
    candidates = [Path(explicit)] if explicit else [Path(d) for d in DEFAULT_DIRS]
    for d in candidates:
        if any((d / (name + ext)).exists() for name in _FILES["test"] for ext in ("", ".gz")):
            return d
    raise FileNotFoundError(
        "Fashion-MNIST idx files not found in "
        + ", ".join(str(c) for c in candidates)
        + ". Install them with `apt-get install dataset-fashion-mnist` or pass --fmnist-dir."
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (optionally gzipped) into a numpy array of its stored dtype and shape."""
    path = Path(path)
    if not path.exists() and path.with_suffix(path.suffix + ".gz").exists():
        path = path.with_suffix(path.suffix + ".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(shape).copy()


def load_split(split: str, root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of ``split`` ('train' or 'test')."""
    d = find_dir(root)
    img_name, lbl_name = _FILES[split]
    images = read_idx(d / img_name)
    labels = read_idx(d / lbl_name).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{d}: {len(images)} images but {len(labels)} labels")
    return images, labels
