"""Convert Google's quantised MobileNetV3-Small TFLite file into PyTorch weights for timm.

The TFLite graph (TensorFlow Models' ``MobilenetV3`` release, uint8, batch norm already folded
into the convolutions) maps one-to-one onto timm's ``tf_mobilenetv3_small_100``, which has the
same 2,542,856 parameters and TF "same" padding (asymmetric at stride 2). The conversion:

* dequantises every weight and bias as ``(q - zero_point) * scale`` (one scale per tensor);
* pairs the graph's CONV_2D / DEPTHWISE_CONV_2D ops, in execution order, with timm's Conv2d and
  Linear modules in forward order, checking every shape;
* transposes TF layouts (conv OHWI, depthwise 1HWO) into PyTorch's OIHW;
* puts the folded bias of a convolution that timm follows with batch norm into that BN, made
  an exact identity scale (weight 1, mean 0, var ``1 - eps`` so that ``var + eps`` rounds to 1);
* drops output 0 (background) of the 1001-way classifier, leaving the 1000 ImageNet classes.

The result is a plain timm state dict (safetensors), loadable by ``timm.create_model(...,
pretrained=False).load_state_dict`` and by the Hugging Face cache path.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from se_analysis.models.senet import file_sha256

__all__ = ["TIMM_ARCH", "TFLITE_SOURCE", "ConversionReport", "tflite_interpreter", "dequantize", "convert_tflite",
           "build_timm_mobilenetv3", "write_converted"]

TIMM_ARCH = "tf_mobilenetv3_small_100"
TFLITE_SOURCE = {
    "origin": "TensorFlow Models' MobileNetV3 release (research/slim/nets/mobilenet), MobileNetV3-Small 1.0 224, "
              "post-training uint8 quantised TFLite",
    "repository": "https://github.com/weilly0912/ATU_Model_Zoo",
    "commit": "16742989779cd175d708afd02c3c748a86494027",
    "path": "Classification/mobilenet_v3/v3-small_224_1.0_uint8.tflite",
    "licence": "Apache-2.0 (TensorFlow Models)",
}
_CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def tflite_interpreter(path: str | Path, delegates: bool = False, preserve: bool = True):
    """A TFLite interpreter from ``ai-edge-litert``; without the default (XNNPACK) delegates unless asked.

    ``preserve`` keeps every intermediate tensor readable, so gates can be read after ``invoke``.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        raise RuntimeError("reading TFLite files needs `pip install ai-edge-litert`") from e
    kind = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=kind,
                     experimental_preserve_all_tensors=preserve, num_threads=1)
    it.allocate_tensors()
    return it


def dequantize(interpreter, detail: dict) -> np.ndarray:
    """A constant or preserved tensor as float64: ``(q - zero_point) * scale`` (float tensors as they are)."""
    q = interpreter.get_tensor(detail["index"])
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float64)
    if scales.size == 0 or not np.issubdtype(q.dtype, np.integer):
        return np.asarray(q, dtype=np.float64)
    zps = np.asarray(params["zero_points"], dtype=np.float64)
    if scales.size > 1:  # per-channel: broadcast along the quantised dimension
        shape = [1] * q.ndim
        shape[params.get("quantized_dimension", 0)] = -1
        scales, zps = scales.reshape(shape), zps.reshape(shape)
    return (q.astype(np.float64) - zps) * scales


@dataclass
class ConversionReport:
    """What the conversion did, for the model card."""

    tensors: int
    parameters: int
    max_requantisation_error: float  # max |w - round-trip(w)| over weights, in units of each tensor's scale
    pairs: list[tuple[str, str]]  # (TFLite weight tensor, timm module)


def build_timm_mobilenetv3(num_classes: int = 1000) -> nn.Module:
    """timm's ``tf_mobilenetv3_small_100`` with random weights (the architecture the weights map onto)."""
    import timm

    return timm.create_model(TIMM_ARCH, pretrained=False, num_classes=num_classes).eval()


def _weight_layers(model: nn.Module) -> list[tuple[str, nn.Module, nn.BatchNorm2d | None]]:
    """(path, Conv2d or Linear, the BatchNorm that follows it or None), in forward order."""
    layers: list[list] = []
    for path, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            layers.append([path, m, None])
        elif isinstance(m, nn.BatchNorm2d):
            owner = next((entry for entry in reversed(layers) if entry[2] is None and entry[1].bias is None), None)
            if owner is None or owner[1].out_channels != m.num_features:
                raise ValueError(f"cannot pair batch norm {path} with a preceding convolution")
            owner[2] = m
    return [tuple(entry) for entry in layers]


def convert_tflite(path: str | Path) -> tuple[dict[str, torch.Tensor], ConversionReport]:
    """Read the TFLite file and return timm ``tf_mobilenetv3_small_100`` weights (1000 classes).

    Raises:
        ValueError: when the graph does not map onto the architecture (op count or a shape differs).
    """
    it = tflite_interpreter(path, preserve=False)
    details = {d["index"]: d for d in it.get_tensor_details()}
    ops = [op for op in it._get_ops_details() if op["op_name"] in _CONV_OPS]
    model = build_timm_mobilenetv3()
    layers = _weight_layers(model)
    if len(ops) != len(layers):
        raise ValueError(f"the TFLite graph has {len(ops)} convolutions, {TIMM_ARCH} has {len(layers)} weight layers: "
                         "this is not Google's MobileNetV3-Small 1.0")
    pairs, worst = [], 0.0
    with torch.no_grad():
        for op, (mpath, module, bn) in zip(ops, layers):
            wd, bd = details[op["inputs"][1]], details[op["inputs"][2]]
            w, b = dequantize(it, wd), dequantize(it, bd)
            scale = float(np.asarray(wd["quantization_parameters"]["scales"]).max())
            worst = max(worst, float(np.abs(w / scale - np.round(w / scale)).max()))
            if op["op_name"] == "DEPTHWISE_CONV_2D":
                w = w.transpose(3, 0, 1, 2)  # 1HWO -> O1HW
            else:
                w = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            if isinstance(module, nn.Linear):  # the 1001-way logits conv: drop background (output 0)
                w, b = w.reshape(w.shape[0], -1)[1:], b[1:]
            if tuple(w.shape) != tuple(module.weight.shape):
                raise ValueError(f"{wd['name']} has shape {w.shape}, {mpath} expects {tuple(module.weight.shape)}")
            module.weight.copy_(torch.from_numpy(w.astype(np.float32)))
            target = module if module.bias is not None else bn
            if target is None:
                raise ValueError(f"{mpath} has neither a bias nor a batch norm to take {bd['name']}")
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)  # var + eps == 1.0 in float32: an exact identity scale
            target.bias.copy_(torch.from_numpy(b.astype(np.float32)))
            pairs.append((wd["name"], mpath))
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters())
    return state, ConversionReport(len(pairs) * 2, n_params, worst, pairs)


def write_converted(tflite_path: str | Path, out: str | Path, metadata: dict | None = None) -> ConversionReport:
    """Convert and write ``out`` (.safetensors) with the source described in its metadata."""
    from safetensors.torch import save_file

    state, report = convert_tflite(tflite_path)
    meta = {"architecture": TIMM_ARCH, "tflite_sha256": file_sha256(tflite_path), **TFLITE_SOURCE,
            "conversion": " ".join(["python -m se_analysis convert-tflite", *sys.argv[2:]])
            if sys.argv[1:2] == ["convert-tflite"] else "se_analysis.models.bundled.imagenet.convert.write_converted",
            **(metadata or {})}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    Path(out).chmod(0o644)
    return report
