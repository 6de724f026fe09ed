"""The DataLoader side of an image set: decode and preprocess each item, skipping the ones that fail.

:class:`ImageDataset` never raises for a bad file: it yields the failure's reason instead, and
:func:`collate_skipping` stacks the images that decoded and passes the failures on, so that a
Run records every skipped file with its reason and one broken image never stops an extraction.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from PIL import Image

from se_analysis.data.image_sets import ImageItem

__all__ = ["ImageDataset", "collate_skipping"]


class ImageDataset(torch.utils.data.Dataset):
    """Decodes and preprocesses items; yields (tensor or None, index, error or None)."""

    def __init__(self, items: Sequence[ImageItem], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, int, str | None]:
        try:
            return self.transform(self.items[i].load()), i, None
        except Exception as e:  # noqa: BLE001 - every decode failure becomes a per-file reason
            return None, i, f"{type(e).__name__}: {e}"


def collate_skipping(batch: list[tuple[torch.Tensor | None, int, str | None]]):
    """Stack the images that decoded; return (tensor or None, their indices, [(index, reason)])."""
    ok = [(x, i) for x, i, err in batch if err is None]
    failed = [(i, err) for x, i, err in batch if err is not None]
    if not ok:
        return None, [], failed
    return torch.stack([x for x, _ in ok]), [i for _, i in ok], failed
