"""ImageNet-1k class names and WordNet ids, in the standard class-index order."""

from __future__ import annotations

import functools

__all__ = ["imagenet_class_names", "imagenet_wnids"]


@functools.lru_cache(maxsize=1)
def imagenet_class_names() -> list[str]:
    """Short English names of the 1000 classes (torchvision's list: ``tench``, ``goldfish``, ...)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


@functools.lru_cache(maxsize=1)
def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids (``n01440764`` ...) in class-index order (shipped with timm)."""
    from timm.data import ImageNetInfo

    return list(ImageNetInfo().label_names())
