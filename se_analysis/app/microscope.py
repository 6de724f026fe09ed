"""The gate microscope's library calls for the pages, cached: reference squeezes, explain maps, own images,
what opens a gate most.

The model is the Run's shared one (:func:`se_analysis.app.common.run_model`): every call that hooks it runs
under its lock (:func:`se_analysis.gates.locks.model_lock`), and the library removes its hooks on exit.
Cached functions take the model and the Run as ``_net`` / ``_run`` (not hashed): the run key says which.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Callable

import numpy as np
import streamlit as st
import torch

from se_analysis.analysis.single import OneImage, forward_one, stored_inputs
from se_analysis.app.common import first_line, get_model
from se_analysis.data.decode import decode_image
from se_analysis.gates.locks import model_lock
from se_analysis.microscope import Explanation, explain, reference_squeeze
from se_analysis.microscope.preprocess import model_view
from se_analysis.microscope.visualize import Visualization, cached_visualize
from se_analysis.models.senet import SENet
from se_analysis.runs.run import Run

__all__ = ["REFERENCE_LIMIT", "REFERENCES", "gradient_net", "explained", "own_image", "reference_for", "visualization"]

REFERENCE_LIMIT = 64  # of the run's images, spread over it, make the mean squeeze
REFERENCES = {"mean": "mean squeeze over the run's images", "zero": "zero squeeze"}


@st.cache_resource(show_spinner="Loading the run's reference images…", max_entries=2)
def _reference_inputs(run_key: str, _net: SENet, _run: Run) -> tuple[torch.Tensor, int]:
    return stored_inputs(_run, _net, REFERENCE_LIMIT)


@st.cache_data(show_spinner="Squeezing the run's reference images…", max_entries=64)
def _reference_squeeze(run_key: str, block: str, _net: SENet, _run: Run) -> tuple[np.ndarray | None, int]:
    x, n = _reference_inputs(run_key, _net, _run)
    if not n:
        return None, 0
    with model_lock(_net.module):
        return reference_squeeze(_net, x, block).numpy(), n


def gradient_net(net: SENet) -> SENet:
    """The model the microscope differentiates: ``net`` itself, or for the default "as deployed" (whose
    uint8-rounded activations have no gradient) the same weights with float activations."""
    return net if net.activations == "float" else get_model(net.name, net.pretrained, "float")


def reference_for(run: Run, key: str, net: SENet, block: str, choice: str) -> tuple[torch.Tensor | None, str]:
    """(z0, the reference in words) for ``choice`` ``mean`` (the mean squeeze over up to
    :data:`REFERENCE_LIMIT` of the run's images) or ``zero``. Where none of the run's images is on this
    machine, the zero squeeze, said so."""
    net = gradient_net(net)
    if choice == "mean":
        z0, n = _reference_squeeze(key, block, net, run)
        if z0 is not None:
            return torch.from_numpy(z0), f"reference: mean squeeze over {n} of this run's images"
        return None, "reference: zero squeeze (none of the run's images is on this machine for a mean)"
    return None, "reference: zero squeeze (z0 = 0)"


@st.cache_data(show_spinner="Explaining the gate…", max_entries=256)
def _explained(key: str, image_id: str, block: str, channel: int | None, reference: str, steps: int,
               _net: SENet, _x: torch.Tensor, _z0: torch.Tensor | None) -> tuple[Explanation, np.ndarray]:
    with model_lock(_net.module):
        e = explain(_net, _x, block, channel=channel, z0=_z0, reference=reference, steps=steps)
    return e, model_view(_net, _x)


def explained(key: str, image_id: str, net: SENet, x: torch.Tensor, block: str, channel: int | None,
              z0: torch.Tensor | None, reference: str, steps: int = 64) -> tuple[Explanation, np.ndarray]:
    """(the explain map of one image, the image as the model sees it (H, W, 3) uint8), cached by run key,
    ``image_id`` (a run's image, or an upload's digest), block, channel and reference. A deployed model's map
    is that of its float twin (:func:`gradient_net`), and the reference says so."""
    if net.activations != "float":
        reference += " · float activations (uint8 rounding has no gradient)"
    return _explained(key, image_id, block, channel, reference, steps, gradient_net(net), x, z0)


@st.cache_data(show_spinner="Running your image through the model…", max_entries=16)
def _own_image(key: str, digest: str, _net: SENet, _data: bytes) -> OneImage | str:
    try:
        img = decode_image(_data)
    except Exception as e:  # noqa: BLE001 - any file the user gives: its reason, not a traceback
        return f"This file is not an image that can be read: {first_line(e)}."
    try:
        return forward_one(_net, img)
    except Exception as e:  # noqa: BLE001
        return f"The model could not take this image: {first_line(e)}."


def own_image(key: str, net: SENet, data: bytes) -> tuple[OneImage | str, str]:
    """(one image's forward pass, or why it failed, in a sentence; its digest), cached by run key and content."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return _own_image(key, digest, net, data), digest


def visualization(net: SENet, block: str, channel: int, steps: int,
                  progress: Callable[[int, int], None] | None = None) -> Visualization:
    """What opens the gate of ``channel`` at ``block`` most (:func:`~se_analysis.microscope.visualize.cached_visualize`:
    kept on disk per model, weights, block, channel and steps). The optimisation takes a minute on a CPU, so it
    runs on a private copy of the model: the shared one is locked only while it is copied, and other sessions
    go on meanwhile."""
    net = gradient_net(net)
    with model_lock(net.module):
        private = dataclasses.replace(net, module=copy.deepcopy(net.module), _gates=None)
    return cached_visualize(private, net.name, block, channel, steps=steps, progress=progress)
