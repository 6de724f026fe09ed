"""How faithful the converted default is: PyTorch against the TFLite interpreter, image by image.

Both sides get the same uint8 224x224 input (:func:`~se_analysis.models.bundled.imagenet.preprocess.tf_uint8_image`).
The interpreter runs the quantised graph (reference kernels without the default delegates, or
XNNPACK); PyTorch runs the dequantised weights with float activations, and (``deployed``) with its
activations fake-quantised as the interpreter's (:mod:`~se_analysis.models.bundled.imagenet.deployed`). Top-1 agreement is
bounded by the interpreter's fixed-point rounding, which flips nearly tied images: its own two
backends agree on only about 84 % of the 500 bundled images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from se_analysis.gates.hooks import record
from se_analysis.models.bundled.imagenet.convert import dequantize, tflite_interpreter
from se_analysis.models.bundled.imagenet.deployed import deployed_default
from se_analysis.models.bundled.imagenet.preprocess import float_input, tf_uint8_image
from se_analysis.models.senet import SENet
from se_analysis.utils.numeric import softmax

__all__ = ["TFLITE_GATE_TENSORS", "TFLITE_LOGITS", "InterpreterOutputs", "run_interpreter", "run_torch",
           "fidelity_tables"]

# The gate (hard-sigmoid output) of each SE block in Google's graph, in forward order.
TFLITE_GATE_TENSORS = [f"MobilenetV3/expanded_conv{s}/squeeze_excite/Conv_1/mul"
                       for s in ("", "_3", "_4", "_5", "_6", "_7", "_8", "_9", "_10")]
TFLITE_LOGITS = "MobilenetV3/Logits/SpatialSqueeze"


@dataclass
class InterpreterOutputs:
    """Logits (N, 1000; background dropped), gates per block (N, C) or empty, and images per second."""

    logits: np.ndarray
    gate_values: dict[str, np.ndarray]
    images_per_s: float


def run_interpreter(tflite_path: str | Path, images: np.ndarray, delegates: bool = False,
                    gate_names: Sequence[str] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> InterpreterOutputs:
    """Run the TFLite file on uint8 images (N, 224, 224, 3), one at a time, on one thread.

    Gates are read (dequantised) only without delegates, where every tensor is preserved.
    """
    it = tflite_interpreter(tflite_path, delegates=delegates, preserve=True)
    details = {d["name"]: d for d in it.get_tensor_details()}
    inp = it.get_input_details()[0]["index"]
    want_gates = gate_names is not None and not delegates  # inside a delegate, intermediates are not written
    logits, gates = [], {n: [] for n in (gate_names or [])} if want_gates else {}
    start = time.perf_counter()
    for i, img in enumerate(images):
        it.set_tensor(inp, img[None])
        it.invoke()
        # The logits before the uint8 softmax (whose 1/256 steps would tie near-equal classes).
        logits.append(dequantize(it, details[TFLITE_LOGITS])[0, 1:])
        if want_gates:
            for name, tensor in zip(gate_names, TFLITE_GATE_TENSORS):
                gates[name].append(dequantize(it, details[tensor]).reshape(-1))
        if progress:
            progress(i + 1, len(images))
    rate = len(images) / max(time.perf_counter() - start, 1e-9)
    return InterpreterOutputs(np.array(logits), {k: np.array(v) for k, v in gates.items()}, rate)


def run_torch(net: SENet, images: np.ndarray, batch_size: int = 100) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The converted model's logits (N, 1000) and gates on the same uint8 images (float or deployed activations,
    as ``net`` has them)."""
    logits, gates = [], {}
    with torch.inference_mode(), record(net.module) as rec:
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(images[s:s + batch_size]).permute(0, 3, 1, 2)
            logits.append(net.module(float_input(x)).numpy())
            for k, v in rec.pop().items():
                gates.setdefault(k, []).append(v.numpy())
    return np.concatenate(logits), {k: np.concatenate(v) for k, v in gates.items()}


def fidelity_tables(net: SENet, files: Sequence[str | Path], labels: np.ndarray, tflite_path: str | Path,
                    delegates: Sequence[bool] = (False, True), activations: Sequence[str] = ("float", "deployed"),
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Compare PyTorch with the interpreter on image files.

    ``net`` is the float default; ``activations`` the PyTorch sides to compare (``float``, and ``deployed``:
    a copy with the file's activation quantisation).

    Returns:
        ``summary``: one row per PyTorch activations and interpreter backend (``reference``, ``xnnpack``): n,
        top-1 of each, top-1 agreement overall and where the interpreter's top probability is >= 0.5, the share
        of images whose interpreter top-1 is in PyTorch's top-5, images/s of each side;
        ``gates``: per activations and block, the mean and max |gate difference| against the reference kernels;
        ``images``: one row per image, activations and backend (file, label, both predictions).
    """
    images = np.stack([tf_uint8_image(Image.open(f)) for f in files])
    sides = {}
    for mode in activations:
        side = deployed_default(net, tflite_path) if mode == "deployed" else net
        start = time.perf_counter()
        pt_logits, pt_gates = run_torch(side, images)
        sides[mode] = (pt_logits, pt_gates, len(images) / max(time.perf_counter() - start, 1e-9))
    rows, gate_rows, image_rows = [], [], []
    for delegated in delegates:
        backend = "xnnpack" if delegated else "reference"
        out = run_interpreter(tflite_path, images, delegated, gate_names=[g.name for g in net.gates])
        tf_pred = out.logits.argmax(1)
        confident = softmax(out.logits).max(1) >= 0.5
        for mode, (pt_logits, pt_gates, pt_rate) in sides.items():
            pt_pred, pt_top5 = pt_logits.argmax(1), np.argsort(-pt_logits, 1)[:, :5]
            agree = tf_pred == pt_pred
            rows.append({
                "activations": mode, "backend": backend, "n": len(images),
                "top1_tflite": float((tf_pred == labels).mean()), "top1_torch": float((pt_pred == labels).mean()),
                "agreement": float(agree.mean()),
                "agreement_confident": float(agree[confident].mean()) if confident.any() else np.nan,
                "n_confident": int(confident.sum()),
                "tflite_top1_in_torch_top5": float((pt_top5 == tf_pred[:, None]).any(1).mean()),
                "images_per_s_tflite": out.images_per_s, "images_per_s_torch": pt_rate,
            })
            for name, g in out.gate_values.items():
                d = np.abs(g - pt_gates[name])
                gate_rows.append({"activations": mode, "block": name, "channels": g.shape[1],
                                  "mean_abs_diff": float(d.mean()), "max_abs_diff": float(d.max())})
            image_rows.append(pd.DataFrame({"activations": mode, "backend": backend, "file": [str(f) for f in files],
                                            "label": labels, "pred_tflite": tf_pred, "pred_torch": pt_pred}))
    return pd.DataFrame(rows), pd.DataFrame(gate_rows), pd.concat(image_rows, ignore_index=True)
