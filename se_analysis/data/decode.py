"""Decoding images the same way everywhere: any file or bytes to a PIL image in mode ``L`` or ``RGB``.

:func:`decode_image` refuses oversized images before decoding them (decompression bombs),
applies the EXIF orientation and maps every PIL mode onto ``L`` or ``RGB``
(:func:`to_standard_mode`), so that models see the same pixels whatever the file format.
:func:`load_source_image` finds the image behind a Run row again, for thumbnails.
"""

from __future__ import annotations

import functools
import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from se_analysis.data.paths import FMNIST_SAMPLE

__all__ = ["MAX_PIXELS", "decode_image", "load_source_image", "to_standard_mode"]


MAX_PIXELS = 64_000_000  # larger images are refused before decoding (decompression bombs)


def decode_image(data: bytes | str | os.PathLike) -> Image.Image:
    """Decode bytes or a file to a loaded PIL image in mode ``L`` or ``RGB``, EXIF orientation applied.

    Raises on anything that is not a decodable image of at most :data:`MAX_PIXELS` pixels; the
    message becomes the file's skip reason.
    """
    fp = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with Image.open(fp) as img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ValueError(f"image too large ({w}x{h} = {w * h / 1e6:.0f} Mpx > {MAX_PIXELS / 1e6:.0f} Mpx): "
                             "possible decompression bomb")
        img.load()
        img = ImageOps.exif_transpose(img)
        return to_standard_mode(img)


def to_standard_mode(img: Image.Image) -> Image.Image:
    """Any PIL mode -> ``L`` (one channel) or ``RGB``: 16-bit and float scaled to 8 bits, alpha dropped."""
    if img.mode in ("L", "RGB"):
        return img.copy()
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" and arr.max(initial=0) <= 1.0 else (255.0 if arr.max(initial=0) <= 255 else 65535.0)
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("1", "LA", "La") or (img.mode == "P" and img.palette is not None and img.palette.mode == "L"):
        return img.convert("L")
    return img.convert("RGB")  # RGBA, P, CMYK, YCbCr, LAB, HSV ...


@functools.lru_cache(maxsize=2)
def _sample_arrays(path: str) -> np.ndarray:
    with np.load(path) as z:
        return z["images"]


def load_source_image(source: str, sample_path: str | Path = FMNIST_SAMPLE) -> Image.Image | None:
    """The image behind a Run row's ``source`` (a file path or ``sample_set[i]``), or None if gone."""
    m = re.fullmatch(r"sample_set\[(\d+)\]", source)
    try:
        if m:
            return Image.fromarray(_sample_arrays(str(sample_path))[int(m.group(1))], mode="L")
        if os.path.isfile(source):
            return decode_image(source)
    except Exception:  # noqa: BLE001 - a missing thumbnail is not an error
        return None
    return None
