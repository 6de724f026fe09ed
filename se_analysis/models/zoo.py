"""Named SE architectures: the embedded default, timm and torchvision families.

Each entry builds an :class:`SENet`: the ``nn.Module`` together with the preprocessing it
expects, its class names, and a description of its weights (what, from where, hash), which
goes into every Run's manifest.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torchvision.transforms import v2 as T

from se_analysis.data.imagenet import imagenet_class_names
from se_analysis.data.paths import IMAGENET_SAMPLE
from se_analysis.models.bundled.fmnist.se_resnet import SEResNet
from se_analysis.models.bundled.imagenet.convert import build_timm_mobilenetv3
from se_analysis.models.bundled.load import (
    DEFAULT_TITLE,
    fmnist_transform,
    load_default,
    load_fmnist,
    mobilenetv3_senet,
)
from se_analysis.models.senet import SENet, file_sha256

__all__ = ["SENet", "ZooEntry", "ZOO", "load_model", "load_default", "load_fmnist", "file_sha256",
           "fmnist_transform", "PretrainedUnavailable", "is_offline"]

NETWORK_TIMEOUT_S = 10


class PretrainedUnavailable(RuntimeError):
    """Pretrained weights are neither in a local cache nor downloadable now."""


def is_offline() -> bool:
    """True when an offline mode is set (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``, ``SE_ANALYSIS_OFFLINE``)."""
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes", "on"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SE_ANALYSIS_OFFLINE"))


@contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (DNS included)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _timm_weights_file(arch: str) -> str:
    """Path of timm's pretrained file for ``arch``: the Hugging Face cache, else a short download."""
    import timm
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(timm.models.get_arch_name(arch) if hasattr(timm.models, "get_arch_name") else arch)
    if cfg is None:
        cfg = timm.create_model(arch, pretrained=False).pretrained_cfg
    cfg = cfg if isinstance(cfg, dict) else cfg.to_dict()
    if cfg.get("file") and os.path.exists(cfg["file"]):
        return cfg["file"]
    repo = cfg.get("hf_hub_id")
    if not repo:
        raise PretrainedUnavailable(f"timm has no Hugging Face weights for {arch}")
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

    for filename in ("model.safetensors", "pytorch_model.bin"):
        cached = try_to_load_from_cache(repo, filename)
        if isinstance(cached, str):
            return cached
    if is_offline():
        raise PretrainedUnavailable(f"pretrained weights for {arch} ({repo}) are not in the local Hugging Face cache, "
                                    "and offline mode is on")
    endpoint = constants.ENDPOINT.split("://")[-1].split("/")[0]
    if not _reachable(endpoint):
        raise PretrainedUnavailable(f"pretrained weights for {arch} ({repo}) are not in the local Hugging Face cache, "
                                    f"and {endpoint} cannot be reached")
    constants.HF_HUB_ETAG_TIMEOUT = NETWORK_TIMEOUT_S
    constants.HF_HUB_DOWNLOAD_TIMEOUT = NETWORK_TIMEOUT_S
    try:
        return hf_hub_download(repo, "model.safetensors")
    except Exception as e:  # noqa: BLE001 - no network, no such file, rate limits ...
        raise PretrainedUnavailable(f"pretrained weights for {arch} ({repo}) are not cached and could not be "
                                    f"downloaded: {type(e).__name__}") from None


def _torchvision_state(weights) -> dict:
    """State dict of torchvision weights: from ``$TORCH_HOME/hub/checkpoints``, else a short download."""
    import torch.hub

    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if not cached.exists() and is_offline():
        raise PretrainedUnavailable(f"{weights} is not in {cached.parent}, and offline mode is on")
    try:
        with _socket_timeout(NETWORK_TIMEOUT_S):
            return torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=False,
                                                      weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise PretrainedUnavailable(f"{weights} is not cached in {cached.parent} and could not be downloaded: "
                                    f"{type(e).__name__}") from None

@dataclass(frozen=True)
class ZooEntry:
    """A named architecture: where it comes from, what it is, how many SE gates it has."""

    name: str
    family: str
    description: str
    expected_gates: int
    build: Callable[[bool], SENet]


def _timm_random(arch: str):
    """A randomly initialised timm model whose gates vary between images.

    timm zero-initialises the last BN of each residual branch (``zero_init_last``), which makes
    the SE input zero and every image's gates identical; random baselines turn that off.
    """
    import timm

    try:
        return timm.create_model(arch, pretrained=False, zero_init_last=False)
    except TypeError:  # architectures without the option
        return timm.create_model(arch, pretrained=False)


def _timm_entry(arch: str, description: str, gates: int) -> ZooEntry:
    def build(pretrained: bool) -> SENet:
        import timm
        from timm.data import create_transform, resolve_data_config

        if pretrained:
            file = _timm_weights_file(arch)
            module = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": file})
            weights_id = f"timm:{arch}:{file_sha256(file)[:16]}"
        else:
            module, weights_id = _timm_random(arch), f"timm:{arch}:random"
        module.eval()
        cfg = resolve_data_config({}, model=module)
        return SENet(
            name=f"timm/{arch}", module=module, transform=_pil_rgb(create_transform(**cfg)),
            class_names=_imagenet_names(module.num_classes), pretrained=pretrained,
            weights=f"timm pretrained ({arch})" if pretrained else "random initialisation",
            weights_id=weights_id,
            preprocessing={k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
            sample=str(IMAGENET_SAMPLE) if module.num_classes == 1000 else None,
        )
    return ZooEntry(f"timm/{arch}", "timm", description, gates, build)


def _tv_entry(arch: str, weights_enum: str, description: str, gates: int) -> ZooEntry:
    def build(pretrained: bool) -> SENet:
        import torch.hub
        import torchvision

        weights = getattr(torchvision.models, weights_enum).DEFAULT
        module = torchvision.models.get_model(arch, weights=None)
        weights_id = f"torchvision:{arch}:random"
        if pretrained:
            module.load_state_dict(_torchvision_state(weights))
            cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
            weights_id = f"torchvision:{arch}:{file_sha256(cached)[:16]}"  # the bytes loaded, not their name
        module.eval()
        return SENet(
            name=f"torchvision/{arch}", module=module, transform=_pil_safe(weights.transforms()),
            class_names=list(weights.meta["categories"]), pretrained=pretrained,
            weights=f"torchvision {weights}" if pretrained else "random initialisation",
            weights_id=weights_id,
            preprocessing={"weights_transforms": str(weights.transforms())}, sample=str(IMAGENET_SAMPLE),
        )
    return ZooEntry(f"torchvision/{arch}", "torchvision", description, gates, build)


def _pil_rgb(tf: Callable) -> Callable[[Image.Image], torch.Tensor]:
    """A PIL transform for RGB models that also takes grayscale images."""
    return lambda img: tf(img.convert("RGB"))


def _pil_safe(tf: Callable) -> Callable[[Image.Image], torch.Tensor]:
    to_tensor = T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True)])
    return lambda img: tf(to_tensor(img.convert("RGB")))


def _imagenet_names(num_classes: int) -> list[str]:
    return imagenet_class_names() if num_classes == 1000 else [f"class {i}" for i in range(num_classes)]


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
    _tv_entry("mobilenet_v3_large", "MobileNet_V3_Large_Weights", "MobileNetV3-Large (torchvision); gates SE_<index in features>", 8),
    _tv_entry("efficientnet_b0", "EfficientNet_B0_Weights", "EfficientNet-B0 (torchvision)", 16),
    _tv_entry("regnet_y_400mf", "RegNet_Y_400MF_Weights", "RegNetY-400MF (torchvision)", 16),
]}


def load_model(name: str = "default", pretrained: bool = True) -> SENet:
    """Build a zoo model by name (see :data:`ZOO`)."""
    if name not in ZOO:
        raise KeyError(f"unknown model {name!r}; choose one of: {', '.join(ZOO)}")
    return ZOO[name].build(pretrained)
