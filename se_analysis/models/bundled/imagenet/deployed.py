"""The default as Google deployed it: float weights, activations fake-quantised as the TFLite interpreter does.

The TFLite file stores a scale and zero point for every activation tensor, and the interpreter
rounds each op's output to uint8 with them. This module reads those parameters with the
interpreter's ``get_tensor_details()``, maps every quantised tensor onto the timm
``tf_mobilenetv3_small_100`` module output it corresponds to (the mapping of
:mod:`~se_analysis.models.bundled.imagenet.convert`), and fake-quantises there with forward hooks:

* convolution outputs (after the fused ReLU where TFLite fuses one; before the hard-swish, which
  TFLite quantises separately) and every hard-swish;
* the SE path: the pooled mean (``.../squeeze_excite/AvgPool``), the two 1x1 convolutions (the first
  after its fused ReLU), the hard-sigmoid in TFLite's two pieces, ``ADD 3`` with a fused ``RELU6``
  and then ``MUL 1/6`` (both constants as stored, dequantised), and the gated features;
* the residual adds, the head's pool, ``Conv_2``, its hard-swish and the logits.

Rounding follows the interpreter's requantisation, as measured tensor by tensor against its reference
kernels: a half-step rounds up, towards +inf (not away from zero: -2.5 steps becomes -2), then the
value is clamped to the stored type's range ([0, 255] for uint8, [-128, 127] for int8). Where the
interpreter rescales with a fixed-point multiplier ``M = M0 * 2^-k`` (convolutions, MUL), it rounds
twice, first to ``2^-k`` of an output step and then to a step (gemmlowp's ``MultiplyByQuantizedMultiplier``),
so a value just below a half-step rounds up too (``QuantParams.shift``). Both matter: without them the
first blocks' outputs already differ from the interpreter's by a step in 1-5 % of elements, and the
difference grows with depth. Hard-swish and ADD keep their float formula (the interpreter's fixed-point versions differ by
a step now and then). The weights stay as converted.

The hooks are registered with ``prepend=True``, so that they run before any hook of
:mod:`se_analysis.gates` on the same module: the recorded gate is the quantised gate, as the
interpreter's ``.../squeeze_excite/Conv_1/mul`` tensor is, and an override replaces it.
:func:`deployed_activations` installs them for a ``with`` block and always removes them;
:func:`deployed_default` gives a separate copy of the default that keeps them for its lifetime,
so the float model (shared between app sessions) is never hooked.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from se_analysis.data.paths import IMAGENET_TFLITE
from se_analysis.models.bundled.imagenet.convert import dequantize, tflite_interpreter
from se_analysis.models.senet import SENet, file_sha256

__all__ = ["ACTIVATIONS", "QuantParams", "QuantPoint", "deployed_activations", "deployed_default", "fake_quant",
           "install_fake_quant", "quant_plan", "read_quantisation", "with_activations"]

# The activation modes of the default: the converted float network, or as the interpreter runs it.
ACTIVATIONS = {"float": "float32 activations", "deployed": "uint8 activations as deployed (TFLite scales and zero points)"}
_ROOT = "MobilenetV3"
_NOT_ACTIVATIONS = ("RESHAPE", "SOFTMAX")  # outputs equal to an input already mapped, or after the logits


@dataclass(frozen=True)
class QuantParams:
    """One tensor's quantisation as stored: ``q = clamp(round(x / scale) + zero_point, qmin, qmax)``.

    ``shift`` > 0: the op producing it rounds first to ``2^-shift`` of a step (its multiplier's exponent).
    """

    tensor: str
    scale: float
    zero_point: int
    qmin: int
    qmax: int
    shift: int = 0


@dataclass(frozen=True)
class QuantPoint:
    """Where one TFLite tensor is fake-quantised: a module's ``output``, its ``input``, or a hard-sigmoid ``gate``.

    A ``gate`` point replaces the module's output by TFLite's two ops computed from its input:
    ``mid`` quantises ``relu6(x + add)``, ``params`` quantises ``mid * mul``.
    """

    path: str
    where: str
    params: QuantParams
    mid: QuantParams | None = None
    add: float = 3.0
    mul: float = 1.0 / 6.0


def fake_quant(x: torch.Tensor, p: QuantParams) -> torch.Tensor:
    """Quantise and dequantise ``x`` (any shape) as the interpreter does; returned in ``x``'s dtype.

    A step's half rounds up (towards +inf), as gemmlowp's rounding does; with ``shift`` it rounds first to
    ``2^-shift`` of a step, then to a step. In float32 both roundings are exact for ``shift`` <= 15 (scaling
    by a power of two is exact and ``255 * 2^15 < 2^24``); larger shifts are computed in float64.
    """
    v = x.float() / p.scale if p.shift <= 15 else x.double() / p.scale
    if p.shift:
        v = v.mul_(2.0 ** p.shift).add_(0.5).floor_().mul_(2.0 ** -p.shift)
    q = v.add_(0.5).floor_().add_(p.zero_point).clamp_(p.qmin, p.qmax)
    return q.sub_(p.zero_point).mul_(p.scale).to(x.dtype)


def _shift(multiplier: float) -> int:
    """The right shift of TFLite's fixed-point multiplier ``M0 * 2^-shift`` (M0 in [0.5, 1)); 0 for M >= 1."""
    return max(-math.frexp(multiplier)[1], 0) if multiplier > 0 else 0


def read_quantisation(tflite_path: str | Path = IMAGENET_TFLITE) -> tuple[dict[str, QuantParams], dict[str, float],
                                                                            list[str]]:
    """The file's activation quantisation: (params by tensor name, dequantised scalar constants by name,
    the names of every op output the interpreter quantises, in execution order)."""
    it = tflite_interpreter(tflite_path, preserve=False)
    details = it.get_tensor_details()
    by_index = {d["index"]: d for d in details}
    ops = [op for op in it._get_ops_details() if op["op_name"] not in _NOT_ACTIVATIONS]

    def scale(i: int) -> float:
        return float(np.asarray(by_index[i]["quantization_parameters"]["scales"]).max())

    shifts = {}  # the ops that requantise with one multiplier: M = bias scale (input x weight) / output scale
    for op in ops:
        out = op["outputs"][0]
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            shifts[by_index[out]["name"]] = _shift(scale(op["inputs"][2]) / scale(out))
        elif op["op_name"] == "MUL":
            shifts[by_index[out]["name"]] = _shift(scale(op["inputs"][0]) * scale(op["inputs"][1]) / scale(out))
    params, constants = {}, {}
    for d in details:
        qp = d.get("quantization_parameters") or {}
        scales = np.asarray(qp.get("scales", []))
        if scales.size != 1 or not np.issubdtype(d["dtype"], np.integer):
            continue  # per-channel or float tensors; per-tensor weights and biases stay in, unused by any plan
        info = np.iinfo(d["dtype"])
        params[d["name"]] = QuantParams(d["name"], float(scales[0]), int(qp["zero_points"][0]), int(info.min),
                                        int(info.max), shifts.get(d["name"], 0))
        if d["name"].endswith(("/add/y", "/mul/y")):
            constants[d["name"]] = float(dequantize(it, d).reshape(-1)[0])
    outputs = [by_index[op["outputs"][0]]["name"] for op in ops]
    return params, constants, outputs


def _conv_points(bn_path: str, ns: str, names: set[str]) -> list[tuple[str, str, str]]:
    """A convolution and its (BatchNormAct2d) activation: TFLite quantises after a fused ReLU, and both before
    and after a hard-swish."""
    if f"{ns}/hard_swish/mul_1" in names:
        return [(f"{bn_path}.act", "input", f"{ns}/add_fold"), (bn_path, "output", f"{ns}/hard_swish/mul_1")]
    if f"{ns}/Relu" in names:
        return [(bn_path, "output", f"{ns}/Relu")]
    return [(bn_path, "output", f"{ns}/add_fold")]


def _se_points(se_path: str, ns: str) -> list[tuple[str, str, str]]:
    ns = f"{ns}/squeeze_excite"
    return [(f"{se_path}.conv_reduce", "input", f"{ns}/AvgPool"), (f"{se_path}.act1", "output", f"{ns}/Conv/Relu"),
            (f"{se_path}.conv_expand", "output", f"{ns}/Conv_1/BiasAdd"), (f"{se_path}.gate", "gate", f"{ns}/Conv_1/mul"),
            (se_path, "output", f"{ns}/mul")]


def _timm_points(model: nn.Module, names: set[str]) -> list[tuple[str, str, str]]:
    """(module path, where, TFLite tensor) for timm's ``tf_mobilenetv3_small_100``, in forward order."""
    points = _conv_points("bn1", f"{_ROOT}/Conv", names)
    k = 0
    for s, stage in enumerate(model.blocks):
        for j, block in enumerate(stage):
            path, kind = f"blocks.{s}.{j}", type(block).__name__
            if kind == "ConvBnAct":  # the last 1x1 convolution before the head
                points += _conv_points(f"{path}.bn1", f"{_ROOT}/Conv_1", names)
                continue
            ns = f"{_ROOT}/expanded_conv" + (f"_{k}" if k else "")
            k += 1
            if kind == "DepthwiseSeparableConv":
                points += _conv_points(f"{path}.bn1", f"{ns}/depthwise", names)
                points += _se_points(f"{path}.se", ns) if not isinstance(block.se, nn.Identity) else []
                points += _conv_points(f"{path}.bn2", f"{ns}/project", names)
            elif kind == "InvertedResidual":
                points += _conv_points(f"{path}.bn1", f"{ns}/expand", names)
                points += _conv_points(f"{path}.bn2", f"{ns}/depthwise", names)
                points += _se_points(f"{path}.se", ns) if not isinstance(block.se, nn.Identity) else []
                points += _conv_points(f"{path}.bn3", f"{ns}/project", names)
            else:
                raise ValueError(f"{path} is a {kind}: not a block of Google's MobileNetV3-Small")
            if getattr(block, "has_skip", False):
                points.append((path, "output", f"{ns}/add"))
    return points + [("global_pool", "output", f"{_ROOT}/AvgPool2D/AvgPool"),
                     ("act2", "input", f"{_ROOT}/Conv_2/BiasAdd"), ("act2", "output", f"{_ROOT}/Conv_2/hard_swish/mul_1"),
                     ("classifier", "input", f"{_ROOT}/Logits/AvgPool"),
                     ("classifier", "output", f"{_ROOT}/Logits/Conv2d_1c_1x1/BiasAdd")]


def quant_plan(model: nn.Module, tflite_path: str | Path = IMAGENET_TFLITE) -> list[QuantPoint]:
    """Every activation tensor the interpreter quantises, mapped onto ``model``'s modules (forward order).

    Raises:
        ValueError: when a mapped tensor or module is missing, or a quantised tensor of the graph is not mapped.
    """
    params, constants, outputs = read_quantisation(tflite_path)
    modules = dict(model.named_modules())
    points, mapped = [], set()
    for path, where, tensor in _timm_points(model, set(params)):
        if path not in modules:
            raise ValueError(f"{path} is not a module of this model")
        if tensor not in params:
            raise ValueError(f"{tensor} is not a quantised tensor of the TFLite graph")
        mapped.add(tensor)
        if where == "gate":
            ns = tensor.rsplit("/", 1)[0]
            mapped.add(f"{ns}/Relu6")
            points.append(QuantPoint(path, where, params[tensor], mid=params[f"{ns}/Relu6"],
                                     add=constants[f"{ns}/add/y"], mul=constants[f"{ns}/mul/y"]))
        else:
            points.append(QuantPoint(path, where, params[tensor]))
    missing = [t for t in outputs if t not in mapped]
    if missing:
        raise ValueError(f"{len(missing)} quantised tensors of the TFLite graph are not mapped, e.g. {missing[:3]}")
    return points


def _hook(point: QuantPoint):
    p = point.params
    if point.where == "input":
        return lambda _m, args: (fake_quant(args[0], p), *args[1:])
    if point.where == "gate":
        mid = point.mid

        def gate(_m, args, _out):
            relu6 = fake_quant(torch.clamp(args[0] + point.add, 0.0, 6.0), mid)  # ADD 3, fused RELU6
            return fake_quant(relu6 * point.mul, p)  # MUL 1/6
        return gate
    return lambda _m, _args, out: fake_quant(out, p)


def install_fake_quant(model: nn.Module, plan: list[QuantPoint]) -> list[torch.utils.hooks.RemovableHandle]:
    """Register the plan's hooks on ``model`` (first among each module's hooks); returns their handles."""
    modules = dict(model.named_modules())
    handles = []
    try:
        for point in plan:
            m = modules[point.path]
            register = m.register_forward_pre_hook if point.where == "input" else m.register_forward_hook
            handles.append(register(_hook(point), prepend=True))
    except BaseException:
        for h in handles:
            h.remove()
        raise
    return handles


@contextmanager
def deployed_activations(model: nn.Module, plan: list[QuantPoint] | None = None,
                         tflite_path: str | Path = IMAGENET_TFLITE) -> Iterator[list[QuantPoint]]:
    """Fake-quantised activations on ``model`` for the ``with`` block; the hooks are always removed."""
    plan = quant_plan(model, tflite_path) if plan is None else plan
    handles = install_fake_quant(model, plan)
    try:
        yield plan
    finally:
        for h in handles:
            h.remove()


def deployed_default(net: SENet, tflite_path: str | Path = IMAGENET_TFLITE) -> SENet:
    """A copy of the default (Google's weights) whose activations are quantised as deployed.

    The module is a deep copy that keeps its hooks; ``net`` itself is left as it was. Its
    ``activations`` is ``"deployed"`` (recorded in a Run's manifest and cache key).
    """
    if not net.pretrained or net.checkpoint:
        raise ValueError("deployed activations use the TFLite file's scales, which fit only Google's weights "
                         "(not random weights or a checkpoint)")
    module = copy.deepcopy(net.module).eval()
    install_fake_quant(module, quant_plan(module, tflite_path))
    return replace(net, module=module, activations="deployed", _gates=None,
                   weights=f"{net.weights}; {ACTIVATIONS['deployed']}",
                   weights_id=f"{net.weights_id}:deployed-{file_sha256(tflite_path)[:8]}")


def with_activations(net: SENet, activations: str = "float") -> SENet:
    """``net`` itself for ``float``; for ``deployed``, the default as Google deployed it (a hooked copy).

    Raises:
        ValueError: an unknown mode, or ``deployed`` for a model other than the default with Google's weights.
    """
    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {', '.join(ACTIVATIONS)}, not {activations!r}")
    if activations == "float" or net.activations == activations:
        return net
    if net.name != "default":
        raise ValueError(f"deployed activations exist only for the default (Google's TFLite file), not {net.name}")
    return deployed_default(net)
