"""Models by name: the bundled ones, any timm or torchvision SE architecture, the user's own code.

:func:`load_model` takes

* a :data:`ZOO` name: ``default`` (the embedded MobileNetV3-Small), ``fmnist-se-resnet``, and twelve
  timm / torchvision SE families with a description (what ``python -m se_analysis models`` lists);
* ``timm/<arch>`` or ``timm/<arch>.<pretrained tag>``, ``torchvision/<arch>`` or
  ``torchvision/<arch>.<weights>``: any architecture of those libraries (:mod:`.hub`; the ones with SE
  gates are listed by :mod:`.catalog`);
* ``path/to/file.py:function`` or ``package.module:function``, or a name from ``SE_ANALYSIS_MODELS``:
  the user's own code (:mod:`.user_code`).

Each builds an :class:`SENet`: the ``nn.Module`` together with the preprocessing it expects, its
class names, and a description of its weights (what, from where, hash), which goes into every
Run's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from se_analysis.models.bundled.fmnist.se_resnet import SEResNet
from se_analysis.models.bundled.imagenet.convert import build_timm_mobilenetv3
from se_analysis.models.bundled.load import (
    DEFAULT_TITLE,
    fmnist_transform,
    load_default,
    load_fmnist,
    mobilenetv3_senet,
)
from se_analysis.models.hub import PretrainedUnavailable, is_offline, timm_senet, torchvision_senet
from se_analysis.models.senet import SENet, file_sha256
from se_analysis.models.user_code import is_code_spec, load_user_model, model_spec, registered_models

__all__ = ["SENet", "ZooEntry", "ZOO", "load_model", "load_default", "load_fmnist", "file_sha256",
           "fmnist_transform", "PretrainedUnavailable", "is_offline"]


@dataclass(frozen=True)
class ZooEntry:
    """A named architecture: where it comes from, what it is, how many SE gates it has."""

    name: str
    family: str
    description: str
    expected_gates: int
    build: Callable[[bool], SENet]


def _timm_entry(arch: str, description: str, gates: int) -> ZooEntry:
    return ZooEntry(f"timm/{arch}", "timm", description, gates, lambda pretrained: timm_senet(arch, pretrained))


def _tv_entry(arch: str, description: str, gates: int) -> ZooEntry:
    return ZooEntry(f"torchvision/{arch}", "torchvision", description, gates,
                    lambda pretrained: torchvision_senet(arch, pretrained))


def _default_entry() -> ZooEntry:
    def build(pretrained: bool) -> SENet:
        if pretrained:
            return load_default()
        torch.manual_seed(0)
        return mobilenetv3_senet(build_timm_mobilenetv3(), "default", "random initialisation", "default:random", False)
    return ZooEntry("default", "se_analysis", f"{DEFAULT_TITLE}: 9 hard-sigmoid SE blocks; works offline", 9, build)


def _fmnist_entry() -> ZooEntry:
    def build(pretrained: bool) -> SENet:
        net = load_fmnist()
        if not pretrained:
            torch.manual_seed(0)
            net.module = SEResNet(net.module.config).eval()
            net.weights, net.weights_id, net.pretrained = "random initialisation", "fmnist-se-resnet:random", False
        return net
    return ZooEntry("fmnist-se-resnet", "se_analysis",
                    "SE-ResNet (16/32/64 wide, 3 blocks per stage) trained here on Fashion-MNIST 28x28; works offline",
                    9, build)


ZOO: dict[str, ZooEntry] = {e.name: e for e in [
    _default_entry(),
    _fmnist_entry(),
    _timm_entry("tf_mobilenetv3_small_100", "MobileNetV3-Small, TF port with 'same' padding (timm); the default's "
                                            "architecture", 9),
    _timm_entry("mobilenetv3_small_100", "MobileNetV3-Small, timm's own training (timm)", 9),
    _timm_entry("seresnet50", "SE-ResNet-50, the paper's model (timm)", 16),
    _timm_entry("seresnext50_32x4d", "SE-ResNeXt-50 32x4d (timm)", 16),
    _timm_entry("legacy_seresnet50", "SE-ResNet-50, Cadene's port of the original Caffe weights", 16),
    _timm_entry("legacy_senet154", "SENet-154, the ILSVRC 2017 winner", 50),
    _timm_entry("efficientnet_b0", "EfficientNet-B0: MBConv blocks with SE (timm)", 16),
    _timm_entry("mobilenetv3_large_100", "MobileNetV3-Large: hard-sigmoid SE in some blocks (timm)", 8),
    _timm_entry("regnety_040", "RegNetY-4.0GF: RegNet with SE (timm)", 22),
    _tv_entry("mobilenet_v3_large", "MobileNetV3-Large (torchvision); gates SE_<index in features>", 8),
    _tv_entry("efficientnet_b0", "EfficientNet-B0 (torchvision)", 16),
    _tv_entry("regnet_y_400mf", "RegNetY-400MF (torchvision)", 16),
]}


def load_model(name: str = "default", pretrained: bool = True, spec: dict | None = None) -> SENet:
    """A model by name (see the module's docstring), pretrained or with random weights.

    Args:
        name: a :data:`ZOO` name, ``timm/<arch>[.<tag>]``, ``torchvision/<arch>[.<weights>]``, model code
            (``file.py:function``, ``package.module:function``) or an ``SE_ANALYSIS_MODELS`` name.
        pretrained: False for random weights (user code: every layer re-initialised).
        spec: a Run's ``model_spec`` (user code with its options); it builds the model, named ``name``.

    Raises:
        KeyError: an unknown name. PretrainedUnavailable: weights neither cached nor downloadable.
        NoSEGatesError: user code whose model has no SE gate that can be found.
    """
    if spec and spec.get("code"):
        return load_user_model(spec, pretrained, name=name)
    if name in ZOO:
        return ZOO[name].build(pretrained)
    if name.startswith(("timm/", "torchvision/")):
        build = timm_senet if name.startswith("timm/") else torchvision_senet
        net = build(name.partition("/")[2], pretrained)
        net.gates  # noqa: B018 - an architecture without SE gates is refused here, with the reason
        return net
    registered = registered_models(reserved=ZOO)
    if name in registered:
        return load_user_model(model_spec(registered[name]), pretrained, name=name)
    if is_code_spec(name):
        return load_user_model(model_spec(name), pretrained)
    raise KeyError(f"unknown model {name!r}: give one of {', '.join(ZOO)}, timm/<arch>, torchvision/<arch> "
                   "(`python -m se_analysis models --all` lists every one with SE gates), or your own code as "
                   "path/to/file.py:function or package.module:function")
