"""One image through a Run's model: its input as the model sees it, its prediction, its gates against a class.

:func:`forward_one` preprocesses one PIL image with the model's own transform and records every gate
(hooks removed on exit, under the model's lock); :func:`top_predictions` ranks its classes;
:func:`gates_against_class` lays its gates next to a Run's class means in the columns of
:func:`se_analysis.analysis.stats.image_gates`, so that :func:`se_analysis.plots.image_gates_figure`
draws an image from anywhere as it draws a Run's own. :func:`stored_inputs` turns a Run's images
back into model inputs (for a reference squeeze).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from se_analysis.analysis.stats import ALL
from se_analysis.data.decode import load_source_image
from se_analysis.gates.hooks import record
from se_analysis.gates.locks import model_lock
from se_analysis.models.senet import SENet
from se_analysis.runs.run import Run

__all__ = ["OneImage", "forward_one", "gates_against_class", "stored_inputs", "top_predictions"]


@dataclass
class OneImage:
    """One image after one forward pass.

    Attributes:
        input: (C, H, W) float tensor, the model's preprocessed input (on the CPU).
        logits: (K,) float64.
        gates: block -> (channels,) float64 gate values.
    """

    input: torch.Tensor
    logits: np.ndarray
    gates: dict[str, np.ndarray]


def _device(module: torch.nn.Module) -> torch.device:
    return next((p.device for p in module.parameters()), torch.device("cpu"))


def forward_one(net: SENet, image: Image.Image) -> OneImage:
    """Preprocess ``image`` as the model's own transform does and run it once, recording every gate.

    The model is used under its lock, in eval mode (its mode restored after), on the device it is on.
    """
    x = net.transform(image)
    with model_lock(net.module):
        was_training = net.module.training
        try:
            net.module.eval()
            with record(net.module, net.gates) as rec, torch.inference_mode():
                logits = net.module(x[None].to(_device(net.module)))
                values = rec.pop()
        finally:
            net.module.train(was_training)
    return OneImage(x.cpu(), logits[0].double().cpu().numpy(),
                    {name: v[0].double().cpu().numpy() for name, v in values.items()})


def top_predictions(logits: np.ndarray, class_names: Sequence[str], k: int = 5) -> pd.DataFrame:
    """The ``k`` most probable classes: columns ``rank`` (1 = top), ``class``, ``class_index``, ``probability``
    (softmax over all the logits)."""
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")[:k]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), "class": [class_names[i] for i in order],
                         "class_index": order, "probability": p[order]})


def gates_against_class(gates: Mapping[str, np.ndarray], cs: pd.DataFrame, cls: str,
                        blocks: Sequence[str] | None = None) -> pd.DataFrame:
    """An image's gates next to the mean gates of class ``cls`` in a Run (its :func:`channel_stats` table ``cs``).

    The columns of :func:`se_analysis.analysis.stats.image_gates`: ``block, depth, channel, value,
    class_mean, class``. Where the Run has no image of ``cls`` (an image of a class the Run never saw),
    the mean over all its images stands in, and ``class`` says ``all``.

    Raises:
        ValueError: a block of ``gates`` that the Run lacks, or with another number of channels.
    """
    have = set(cs.loc[cs["class_index"] >= 0, "class"])
    name = cls if cls in have else ALL
    frames = []
    for block in blocks or list(gates):
        means = cs[(cs["block"] == block) & (cs["class"] == name)].sort_values("channel")
        v = np.asarray(gates[block], dtype=np.float64).ravel()
        if len(means) != len(v):
            raise ValueError(f"{block}: the image has {len(v)} gates and the run's table {len(means)}: "
                             "not the run's model")
        frames.append(pd.DataFrame({"block": block, "depth": int(means["depth"].iloc[0]), "channel": np.arange(len(v)),
                                    "value": v, "class_mean": means["mean"].to_numpy(np.float64), "class": name}))
    return pd.concat(frames, ignore_index=True)


def stored_inputs(run: Run, net: SENet, limit: int = 64) -> tuple[torch.Tensor, int]:
    """Up to ``limit`` of a Run's images, spread evenly over the Run, preprocessed for ``net``.

    Returns:
        ((n, C, H, W) float tensor, n): the images still on this machine (n may be 0: then an empty tensor).
    """
    n = len(run)
    rows = np.unique(np.linspace(0, n - 1, num=min(limit, n)).round().astype(int)) if n else []
    xs = [net.transform(img) for img in (load_source_image(run.images["source"].iloc[i]) for i in rows)
          if img is not None]
    return (torch.stack(xs) if xs else torch.empty(0)), len(xs)

