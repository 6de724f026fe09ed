"""Loading user weights safely: safetensors, or ``torch.load(weights_only=True)`` state dicts.

A checkpoint never runs code: ``.pt``/``.pth`` files are read with ``weights_only=True``, and a
file that needs more (a pickled whole model, custom classes) is refused with a clear message.
Only the CLI can load such a file, behind ``--trust-pickle``, which says that it runs code.

Matching is strict by default: missing keys, unexpected keys and shape mismatches are listed
in a readable report, after stripping the usual wrapper prefixes (``module.``, ``model.``,
...). A wrong checkpoint never silently gives a half-random model.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from se_analysis.models.fold import FOLD_METADATA_KEY, remove_se_blocks
from se_analysis.models.senet import SENet

__all__ = ["CheckpointError", "MatchReport", "read_state_dict", "match_state_dict", "load_checkpoint",
           "non_finite_tensors"]

_PREFIXES = ("module.", "model.", "net.", "network.", "backbone.", "_orig_mod.", "ema.", "model_ema.")
_NESTED = ("state_dict", "model_state_dict", "model", "state_dict_ema", "model_ema", "net", "weights")


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint for this model; the message says why in one line."""


def read_state_dict(source: str | os.PathLike | bytes, name: str | None = None,
                    trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file (or its bytes), without executing pickled code.

    Args:
        source: a path, or the file's bytes (``name`` then gives its extension).
        trust_pickle: allow a full unpickle (runs code from the file!). CLI only.
    """
    name = name or (str(source) if not isinstance(source, (bytes, bytearray)) else "checkpoint")
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    label = Path(name).name
    if not data:
        raise CheckpointError(f"{label} is empty (0 bytes): not a checkpoint")
    if name.endswith(".safetensors") or data[8:9] == b"{":
        from safetensors.torch import load as load_safetensors

        try:
            return load_safetensors(data)
        except Exception as e:  # noqa: BLE001
            raise CheckpointError(f"{label} is not a valid safetensors file ({type(e).__name__}: {e})") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"{label} holds pickled objects beyond tensors (e.g. a whole model); it was refused so that no "
                "code from it runs. Save `model.state_dict()` (or safetensors) instead"
                + (", or pass --trust-pickle in the CLI if you trust the file." if not trust_pickle else ".")
            ) from None
        raise CheckpointError(f"{label} is not a PyTorch checkpoint ({str(e).splitlines()[0]})") from None
    except Exception as e:  # noqa: BLE001 - zip errors, truncated files, text files ...
        raise CheckpointError(f"{label} is not a PyTorch checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in _NESTED:
            if isinstance(obj.get(key), dict) and any(isinstance(v, torch.Tensor) for v in obj[key].values()):
                obj = obj[key]
                break
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise CheckpointError(f"{label} holds no tensors by name (found {type(obj).__name__}): not a state dict")


@dataclass
class MatchReport:
    """How a state dict fits a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # key, checkpoint shape, model shape
    stripped_prefix: str = ""
    matched: int = 0

    @property
    def ok(self) -> bool:
        """Whether every key matched: nothing missing, unexpected or of another shape."""
        return not (self.missing or self.unexpected or self.mismatched)

    def text(self, limit: int = 5) -> str:
        """A readable summary; the first ``limit`` keys of each kind are named."""
        def few(keys: list[str]) -> str:
            more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        parts = [f"{self.matched} tensors match"]
        if self.stripped_prefix:
            parts.append(f"prefix '{self.stripped_prefix}' removed")
        if self.missing:
            parts.append(f"{len(self.missing)} missing from the checkpoint: {few(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected: {few(self.unexpected)}")
        if self.mismatched:
            shown = [f"{k} {tuple(a)} vs model {tuple(b)}" for k, a, b in self.mismatched]
            parts.append(f"{len(self.mismatched)} with other shapes: {few(shown)}")
        return "; ".join(parts)


def _strip(state: dict[str, torch.Tensor], model_keys: set[str]) -> tuple[dict[str, torch.Tensor], str]:
    """Remove the wrapper prefix (``module.`` ...) that makes the most keys match, if any."""
    best, best_prefix = state, ""
    best_hits = len(model_keys & set(state))
    for prefix in _PREFIXES:
        if any(k.startswith(prefix) for k in state):
            stripped = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
            hits = len(model_keys & set(stripped))
            if hits > best_hits:
                best, best_prefix, best_hits = stripped, prefix, hits
    return best, best_prefix


def match_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], MatchReport]:
    """The state dict with its prefix removed, and a report of how it fits ``model``."""
    own = model.state_dict()
    state, prefix = _strip(state, set(own))
    report = MatchReport(stripped_prefix=prefix)
    ignorable = ("num_batches_tracked",)
    report.missing = [k for k in own if k not in state and not k.endswith(ignorable)]
    report.unexpected = [k for k in state if k not in own and not k.endswith(ignorable)]
    for k, v in state.items():
        if k in own:
            if tuple(v.shape) != tuple(own[k].shape):
                report.mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
            else:
                report.matched += 1
    return state, report


def _folded_blocks(data: bytes) -> list[dict]:
    """The ``fold`` metadata of a safetensors file (blocks removed, where their gates went), else []."""
    if len(data) < 8:
        return []
    size = struct.unpack("<Q", data[:8])[0]
    if size > len(data) - 8 or size > 100_000_000:
        return []
    try:
        meta = json.loads(data[8:8 + size]).get("__metadata__") or {}
        return json.loads(meta[FOLD_METADATA_KEY])["folded"] if FOLD_METADATA_KEY in meta else []
    except (ValueError, KeyError, TypeError):
        return []


def non_finite_tensors(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding NaN or infinity."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]


def load_checkpoint(net, source: str | os.PathLike | bytes, name: str | None = None, strict: bool = True,
                    trust_pickle: bool = False):
    """A copy of ``net`` (an :class:`~se_analysis.models.senet.SENet`) with the checkpoint's weights.

    The model is copied, so a model shared between app sessions is never changed.

    Raises:
        CheckpointError: not a checkpoint, refused pickle, or (strict) a checkpoint that does
            not fit the architecture, with the report of missing/unexpected/mismatched keys.
    """
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    name = name or str(source)
    state = read_state_dict(data, name=name, trust_pickle=trust_pickle)
    module = copy.deepcopy(net.module)
    folded = _folded_blocks(data)
    if folded:  # written by `fold`: the same SE blocks come out of the architecture before loading
        remove_se_blocks(module, [f["se_path"] for f in folded])
    state, report = match_state_dict(module, state)
    if strict and not report.ok:
        raise CheckpointError(f"{Path(name).name} does not fit {net.name}: {report.text()}")
    fitting = {k: v for k, v in state.items() if k not in {m for m, _, _ in report.mismatched}}
    bad = non_finite_tensors(fitting)
    if bad:
        raise CheckpointError(f"{Path(name).name} holds NaN or infinite weights in {len(bad)} tensors "
                              f"({', '.join(bad[:3])}{' …' if len(bad) > 3 else ''}): refused, since every gate and "
                              "prediction would be meaningless")
    module.load_state_dict(fitting, strict=False)
    module.eval()
    digest = hashlib.sha256(data).hexdigest()
    what = f"folded ({', '.join(f['block'] for f in folded)} removed) " if folded else ""
    return SENet(
        name=net.name, module=module, transform=net.transform, class_names=list(net.class_names),
        weights=f"{what}checkpoint {Path(name).name} (sha256 {digest[:12]})", weights_id=f"ckpt:{digest[:16]}",
        pretrained=True, preprocessing=net.preprocessing, checkpoint=str(name), sample=net.sample, spec=net.spec,
    )
