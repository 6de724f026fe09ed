"""The two bundled models, which work offline on a fresh machine."""

from .load import (
    DEFAULT_TITLE,
    fmnist_transform,
    load_default,
    load_fmnist,
    mobilenetv3_senet,
)

__all__ = [
    "DEFAULT_TITLE",
    "load_default",
    "load_fmnist",
    "fmnist_transform",
    "mobilenetv3_senet",
]
