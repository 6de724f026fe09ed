"""Does this input plainly not suit the model? Colour photos for a grayscale model, or a very different size.

A few images are decoded and compared with the model's preprocessing, so that the app and the
CLI can say so before a run whose gates would describe resized-beyond-recognition inputs.
"""

from __future__ import annotations

import numpy as np

from se_analysis.data.image_sets import ImageSet

__all__ = ["input_warnings"]

SIZE_FACTOR = 4.0  # images this many times larger or smaller than the model's input get a warning


def _is_colour(img) -> bool:
    if img.mode in ("L", "1", "I", "I;16", "F"):
        return False
    a = np.asarray(img.convert("RGB").resize((32, 32)), dtype=np.int16)
    return bool(np.abs(a - a.mean(2, keepdims=True)).max() > 8)  # channels differ: not a gray image stored as RGB


def input_warnings(images: ImageSet, preprocessing: dict, sample: int = 8) -> list[str]:
    """Sentences about how the first ``sample`` decodable images of ``source`` do not suit the model."""
    size = preprocessing.get("size")
    if not size or not images.items:
        return []
    imgs = []
    for item in images.items[:sample * 2]:
        try:
            imgs.append(item.load())
        except Exception:  # noqa: BLE001 - undecodable files are reported by the run itself
            continue
        if len(imgs) == sample:
            break
    if not imgs:
        return []
    out = []
    colour = sum(_is_colour(im) for im in imgs)
    if preprocessing.get("grayscale") and colour:
        out.append(f"{colour} of {len(imgs)} sampled images are colour photos, but the model reads grayscale "
                   f"{size[0]}x{size[1]} images: they are converted to gray and shrunk, far from what it was trained on")
    elif not preprocessing.get("grayscale") and colour == 0:
        out.append(f"the {len(imgs)} sampled images are grayscale, but the model expects colour photos: gray is copied "
                   "into three channels")
    side = float(np.median([min(im.size) for im in imgs]))
    want = float(min(size))
    if side > want * SIZE_FACTOR or side * SIZE_FACTOR < want:
        out.append(f"the sampled images are about {side:.0f} px on their short side, the model's input is "
                   f"{size[0]}x{size[1]}: they are resized by a factor of {max(side / want, want / side):.0f}")
    return out
