"""Any timm or torchvision architecture as an :class:`SENet`, with weights from the local caches.

``timm/<arch>`` and ``timm/<arch>.<pretrained tag>`` (``timm/seresnet50.a1_in1k``) build through
``timm.create_model``, with the tag's preprocessing (``resolve_data_config``) and its classes;
``torchvision/<arch>`` and ``torchvision/<arch>.<weights>`` (``torchvision/regnet_y_16gf.IMAGENET1K_SWAG_E2E_V1``)
through ``torchvision.models.get_model``, with the weights enum's ``transforms()`` and
``meta["categories"]`` (``DEFAULT`` without a suffix).

Pretrained weights come from the Hugging Face cache (timm) or ``$TORCH_HOME/hub/checkpoints``
(torchvision), else a download with short time-outs; offline (``HF_HUB_OFFLINE``,
``SE_ANALYSIS_OFFLINE``) and uncached, :class:`PretrainedUnavailable` says so. Random weights vary
between images: timm's ``zero_init_last`` (which zeroes each residual branch's last norm, so that
every image's SE input is 0 and its gates are equal) is turned off.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2 as T

from se_analysis.data.imagenet import imagenet_class_names
from se_analysis.data.paths import IMAGENET_SAMPLE
from se_analysis.models.senet import SENet, file_sha256

__all__ = ["PretrainedUnavailable", "is_offline", "timm_senet", "torchvision_senet", "split_hub_name",
           "pil_rgb", "pil_safe", "class_names_for"]

NETWORK_TIMEOUT_S = 10
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm)


class PretrainedUnavailable(RuntimeError):
    """Pretrained weights are neither in a local cache nor downloadable now."""


def is_offline() -> bool:
    """True when an offline mode is set (``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE``, ``SE_ANALYSIS_OFFLINE``)."""
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes", "on"}
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SE_ANALYSIS_OFFLINE"))


def split_hub_name(name: str) -> tuple[str, str, str | None]:
    """``timm/seresnet50.a1_in1k`` -> (``timm``, ``seresnet50``, ``a1_in1k``); the tag is None without a dot."""
    library, _, rest = name.partition("/")
    arch, _, tag = rest.partition(".")
    return library, arch, tag or None


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
    """Path of timm's pretrained file for ``arch`` (``name`` or ``name.tag``): the Hugging Face cache, else a
    short download."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)  # with a tag, that tag's weights; without, the default tag's
    if cfg is None:
        raise PretrainedUnavailable(f"timm has no pretrained weights for {arch}")
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


def _unzero_norms(module: nn.Module) -> None:
    """Set to 1 the weight of every norm layer initialised to 0 (``zero_init_last`` under another name), so that
    random weights keep every residual branch, and so every SE block, in play."""
    for m in module.modules():
        w = getattr(m, "weight", None)
        if (isinstance(m, _NORMS) and isinstance(w, torch.Tensor) and not w.is_meta and w.numel()
                and not w.detach().any()):
            with torch.no_grad():
                w.fill_(1.0)


def _timm_random(arch: str) -> nn.Module:
    """A randomly initialised timm model whose gates vary between images.

    timm zero-initialises the last norm of each residual branch (``zero_init_last``), which makes
    the SE input zero and every image's gates identical; random baselines turn that off.
    """
    import timm

    try:
        module = timm.create_model(arch, pretrained=False, zero_init_last=False)
    except TypeError:  # architectures without the option
        module = timm.create_model(arch, pretrained=False)
    _unzero_norms(module)
    return module


def pil_rgb(tf: Callable) -> Callable[[Image.Image], torch.Tensor]:
    """A PIL transform for RGB models that also takes grayscale images."""
    return lambda img: tf(img.convert("RGB"))


def pil_safe(tf: Callable) -> Callable[[Image.Image], torch.Tensor]:
    """A tensor transform (torchvision's weights transforms) applied to a PIL image of any mode."""
    to_tensor = T.Compose([T.ToImage(), T.ToDtype(torch.float32, scale=True)])
    return lambda img: tf(to_tensor(img.convert("RGB")))


def class_names_for(num_classes: int, pretrained_cfg: dict | None = None) -> list[str]:
    """ImageNet-1k's short names for 1000 outputs; ImageNet-12k / 22k names where timm's config says so; else
    ``class <i>``."""
    if num_classes == 1000:
        return imagenet_class_names()
    if pretrained_cfg:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(pretrained_cfg)
        if subset:
            info = ImageNetInfo(subset)
            if info.num_classes() == num_classes:
                return [d.split(",")[0] for d in info.label_descriptions()]
    return [f"class {i}" for i in range(num_classes)]


def timm_senet(arch: str, pretrained: bool) -> SENet:
    """timm's ``arch`` (``seresnet50`` or ``seresnet50.a1_in1k``) as an SENet, pretrained or random."""
    import timm
    from timm.data import create_transform, resolve_data_config

    if not timm.is_model(arch.partition(".")[0]):
        raise KeyError(f"unknown model 'timm/{arch}': timm has no architecture {arch.partition('.')[0]!r} "
                       "(`python -m se_analysis models --all` lists those with SE gates)")
    if "." in arch:
        from timm.models import get_arch_pretrained_cfgs

        tags = [t.partition(".")[2] for t in get_arch_pretrained_cfgs(arch.partition(".")[0])]
        if arch.partition(".")[2] not in tags:
            raise KeyError(f"unknown model 'timm/{arch}': timm's tags for {arch.partition('.')[0]} are "
                           f"{', '.join(tags) or 'none'}")
    if pretrained:
        file = _timm_weights_file(arch)
        module = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": file})
        weights_id = f"timm:{arch}:{file_sha256(file)[:16]}"
    else:
        module, weights_id = _timm_random(arch), f"timm:{arch}:random"
    module.eval()
    cfg = resolve_data_config({}, model=module)
    pcfg = getattr(module, "pretrained_cfg", None) or {}
    return SENet(
        name=f"timm/{arch}", module=module, transform=pil_rgb(create_transform(**cfg)),
        class_names=class_names_for(module.num_classes, dict(pcfg)), pretrained=pretrained,
        weights=f"timm pretrained ({arch})" if pretrained else "random initialisation",
        weights_id=weights_id,
        preprocessing={k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        sample=str(IMAGENET_SAMPLE) if module.num_classes == 1000 else None,
    )


def _torchvision_weights(arch: str, member: str | None):
    """The weights enum member for ``arch`` (``DEFAULT`` when ``member`` is None)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(arch)
    except (KeyError, ValueError):
        raise KeyError(f"unknown model 'torchvision/{arch}': torchvision has no classification model {arch!r} "
                       "(`python -m se_analysis models --all` lists those with SE gates)") from None
    if member is None:
        return enum.DEFAULT
    try:
        return enum[member]
    except KeyError:
        raise KeyError(f"unknown model 'torchvision/{arch}.{member}': {enum.__name__} has "
                       f"{', '.join(w.name for w in enum)}") from None


def torchvision_senet(arch: str, pretrained: bool) -> SENet:
    """torchvision's ``arch`` (``regnet_y_400mf`` or ``regnet_y_16gf.IMAGENET1K_SWAG_E2E_V1``) as an SENet, with
    its weights enum's preprocessing and categories."""
    import torch.hub
    import torchvision

    base, _, member = arch.partition(".")
    weights = _torchvision_weights(base, member or None)
    module = torchvision.models.get_model(base, weights=None, num_classes=len(weights.meta["categories"]))
    weights_id = f"torchvision:{arch}:random"
    if pretrained:
        module.load_state_dict(_torchvision_state(weights))
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
        weights_id = f"torchvision:{arch}:{file_sha256(cached)[:16]}"  # the bytes loaded, not their name
    else:
        _unzero_norms(module)
    module.eval()
    categories = list(weights.meta["categories"])
    return SENet(
        name=f"torchvision/{arch}", module=module, transform=pil_safe(weights.transforms()),
        class_names=categories, pretrained=pretrained,
        weights=f"torchvision {weights}" if pretrained else "random initialisation",
        weights_id=weights_id,
        preprocessing={"weights_transforms": str(weights.transforms())},
        sample=str(IMAGENET_SAMPLE) if len(categories) == 1000 else None,
    )
