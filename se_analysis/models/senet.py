"""The :class:`SENet`: a model ready for analysis (module, preprocessing, classes, provenance)."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn

from se_analysis.gates.find import Gate, find_gates

__all__ = ["SENet", "file_sha256"]


@dataclass
class SENet:
    """A model ready for analysis: module, preprocessing, class names and weight provenance.

    Attributes:
        name: zoo name (``default``, ``timm/seresnet50`` ...).
        module: the network, in eval mode.
        transform: PIL image -> (C, H, W) float tensor, the model's own preprocessing.
        class_names: names of the output classes, index-aligned with the logits.
        weights: human-readable description of the weights ("trained: ...", "random ...").
        weights_id: a hash identifying the weights (part of a Run's cache key).
        pretrained: False for random weights; figures built from them carry a warning.
        preprocessing: a JSON-able description of ``transform`` for the manifest.
        sample: the bundled image set that suits this model (a folder or an ``.npz``), if any.
        activations: ``float``, or ``deployed`` for the default with its activations quantised as the TFLite
            interpreter quantises them (:mod:`se_analysis.models.bundled.imagenet.deployed`).
        spec: how to build the model again when its name alone does not say (the user's own code:
            :func:`se_analysis.models.user_code.model_spec`); a Run's manifest keeps it as ``model_spec``.
    """

    name: str
    module: nn.Module
    transform: Callable[[Image.Image], torch.Tensor]
    class_names: list[str]
    weights: str
    weights_id: str
    pretrained: bool
    preprocessing: dict = field(default_factory=dict)
    checkpoint: str | None = None
    sample: str | None = None
    activations: str = "float"
    spec: dict | None = None
    _gates: list[Gate] | None = None

    @property
    def gates(self) -> list[Gate]:
        """The module's SE gates (found once, then cached)."""
        if self._gates is None:
            self._gates = find_gates(self.module)
        return self._gates


_HASHES: dict[tuple[str, int, int], str] = {}
_HASHES_LOCK = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) so that large weights are hashed once."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    with _HASHES_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with _HASHES_LOCK:
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]
