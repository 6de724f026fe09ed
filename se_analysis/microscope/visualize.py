"""What opens an SE gate most: feature visualisation of one gate channel (Lucid's recipe).

:func:`visualize` optimises an image to maximise the channel's gate *pre-activation* (the input
of the sigmoid / hard-sigmoid, which keeps a gradient where the gate saturates), with Lucid's
recipe (:mod:`.fourier`): a decorrelated Fourier parameterisation (1/f-scaled spectrum, ImageNet
colour decorrelation, sigmoid to [0, 1]), random pad / jitter / scale / rotation before every
step, and Adam (learning rate 0.05) for a few hundred steps. The RGB image is mapped to the
network's input by the model's own preprocessing (:func:`~se_analysis.microscope.preprocess.input_map`:
``(x - 128) / 127`` for the default, the mean/std normalisation of timm / torchvision weights,
gray + normalise for Fashion-MNIST), inside the optimisation. The forward pass stops at the gate.

Why no library: Captum 0.9 (PyPI) installs beside torch 2.14.1 but its feature-visualisation
package ``captum.optim`` is not in the PyPI release (only on a GitHub branch); ``torch-lucent``
0.1.8 (2021, unmaintained) pins ``kornia<=0.4.1`` and pulls in IPython, pytest, coveralls and
scikit-learn as runtime dependencies. The recipe is about a hundred lines, written here.

:func:`cached_visualize` keeps results on disk (PNG + JSON) under ``$SE_ANALYSIS_HOME/microscope``
(else ``~/.cache/se_analysis/microscope``), keyed by model, weights, block, channel, steps, size and seed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from se_analysis.microscope.excitation import channel_of, check_differentiable, gate_of, network_preactivation
from se_analysis.microscope.fourier import random_spectrum, random_transform, spectrum_scale, spectrum_to_image, to_rgb
from se_analysis.microscope.preprocess import input_map
from se_analysis.models.senet import SENet
from se_analysis.runs.run import default_store_root

__all__ = ["Visualization", "visualize", "cached_visualize", "visualization_key", "default_microscope_root",
           "LEARNING_RATE", "RECIPE"]

LEARNING_RATE = 0.05
RECIPE = "lucid-fft-decorrelated-v1"  # part of the cache key: change it when the recipe changes


@dataclass
class Visualization:
    """An image that opens one gate channel.

    Attributes:
        block: gate name.
        channel: the channel.
        image: (H, W, 3) uint8 RGB.
        preactivation: the channel's gate pre-activation for ``image`` (as uint8, through the
            model's preprocessing, without the random transforms).
        steps: optimisation steps.
        seconds: how long the optimisation took (of the run that made it, for a cached one).
        seed: the seed of the spectrum and transforms.
    """

    block: str
    channel: int
    image: np.ndarray
    preactivation: float
    steps: int
    seconds: float
    seed: int


def visualize(model: SENet, block: str, channel: int, steps: int = 256, size: int | None = None, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> Visualization:
    """Optimise an image to open the gate of ``channel`` at ``block`` (see the module docstring).

    Args:
        model: the network (left in eval mode; its parameters get no gradients).
        block: gate name, e.g. ``SE_6_3``.
        channel: the channel of the block.
        steps: Adam steps.
        size: the image side; default: the network input size of the model's preprocessing.
        seed: fixes the initial spectrum and every random transform (deterministic on the CPU).
        progress: called as ``progress(step, steps)`` after each step.

    Raises:
        ValueError: unknown block, channel out of range, steps < 1, rounded (``deployed``) activations.
    """
    channel = channel_of(gate_of(model, block), channel)
    check_differentiable(model)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    imap = input_map(model)
    h, w = (size, size) if size else imap.size
    device = next(model.module.parameters()).device
    gen, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    spectrum = random_spectrum(h, w, gen).to(device).requires_grad_(True)
    scale = spectrum_scale(h, w).to(device)
    opt = torch.optim.Adam([spectrum], lr=LEARNING_RATE)
    was_training = model.module.training
    model.module.eval()
    start = time.perf_counter()
    try:
        for step in range(steps):
            rgb = to_rgb(spectrum_to_image(spectrum, scale, h, w))
            pre = network_preactivation(model, imap(random_transform(rgb, rng)), block)[:, channel]
            (grad,) = torch.autograd.grad(-pre.mean(), [spectrum])
            spectrum.grad = grad
            opt.step()
            if progress is not None:
                progress(step + 1, steps)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            rgb = to_rgb(spectrum_to_image(spectrum, scale, h, w))[0]
            image = (rgb.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)
            value = float(network_preactivation(model, imap(x), block)[0, channel])
    finally:
        model.module.train(was_training)
    return Visualization(block=block, channel=channel, image=image, preactivation=value, steps=steps,
                         seconds=seconds, seed=seed)


def default_microscope_root() -> Path:
    """``$SE_ANALYSIS_HOME/microscope``, else ``~/.cache/se_analysis/microscope`` (beside the Run store)."""
    return default_store_root().parent / "microscope"


def visualization_key(model: SENet, model_id: str, block: str, channel: int, steps: int, size: int | None,
                      seed: int) -> str:
    """The cache key: model id, weights hash, activations, block, channel, steps, size, seed and recipe."""
    parts = {"model": model_id, "weights": model.weights_id, "activations": model.activations, "block": block,
             "channel": int(channel), "steps": int(steps), "size": size, "seed": int(seed), "recipe": RECIPE}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def _png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached_visualize(model: SENet, model_id: str, block: str, channel: int, steps: int = 256,
                     size: int | None = None, seed: int = 0, progress: Callable[[int, int], None] | None = None,
                     cache_dir: Path | None = None) -> Visualization:
    """:func:`visualize`, kept on disk as ``<key>.png`` + ``<key>.json`` (see :func:`visualization_key`).

    Args:
        model_id: names the model in the key (e.g. ``default``, ``timm/seresnet50.a1_in1k``).
        cache_dir: where to keep them; default :func:`default_microscope_root`.
    """
    channel = channel_of(gate_of(model, block), channel)
    root = Path(cache_dir) if cache_dir is not None else default_microscope_root()
    key = visualization_key(model, model_id, block, channel, steps, size, seed)
    png, meta = root / f"{key}.png", root / f"{key}.json"
    if png.exists() and meta.exists():
        try:
            info = json.loads(meta.read_text())
            with Image.open(png) as img:
                image = np.array(img.convert("RGB"), dtype=np.uint8)
            if progress is not None:
                progress(steps, steps)
            return Visualization(block=info["block"], channel=int(info["channel"]), image=image,
                                 preactivation=float(info["preactivation"]), steps=int(info["steps"]),
                                 seconds=float(info["seconds"]), seed=int(info["seed"]))
        except (OSError, ValueError, KeyError):  # a damaged entry is made again
            pass
    vis = visualize(model, block, channel, steps=steps, size=size, seed=seed, progress=progress)
    root.mkdir(parents=True, exist_ok=True)
    info = {k: v for k, v in asdict(vis).items() if k != "image"}
    info.update(model=model_id, weights=model.weights_id, activations=model.activations, size=size, recipe=RECIPE)
    _write_atomic(png, _png_bytes(vis.image))
    _write_atomic(meta, json.dumps(info, indent=1).encode())
    return vis
