"""The two bundled models, which work offline on a fresh machine.

* ``default``: Google's ImageNet-trained MobileNetV3-Small 1.0/224 (9 SE blocks, hard-sigmoid
  gates), converted from its uint8 TFLite file (see :mod:`se_analysis.models.bundled.imagenet.convert`) onto timm's
  ``tf_mobilenetv3_small_100``, analysed with float activations. Its images: 50 ImageNet
  validation images for each of 10 classes (the paper's Fig. 6 protocol).
* ``fmnist-se-resnet``: a small SE-ResNet trained here on Fashion-MNIST (28x28 grayscale),
  with 2,000 held-out test images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torchvision.transforms import v2 as T

from se_analysis.data.imagenet import imagenet_class_names
from se_analysis.data.paths import (
    FMNIST_SAMPLE,
    FMNIST_WEIGHTS,
    IMAGENET_SAMPLE,
    IMAGENET_WEIGHTS,
)
from se_analysis.models.bundled.fmnist.idx import CLASS_NAMES as FMNIST_CLASSES
from se_analysis.models.bundled.fmnist.se_resnet import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    SEResNet,
    SEResNetConfig,
)
from se_analysis.models.bundled.imagenet.convert import build_timm_mobilenetv3
from se_analysis.models.bundled.imagenet.preprocess import TFInput
from se_analysis.models.senet import SENet, file_sha256

__all__ = ["DEFAULT_TITLE", "load_default", "load_fmnist", "fmnist_transform", "mobilenetv3_senet"]

DEFAULT_TITLE = "MobileNetV3-Small, ImageNet (Google's weights)"


def mobilenetv3_senet(module: torch.nn.Module, name: str, weights: str, weights_id: str,
                      pretrained: bool) -> SENet:
    """Wrap a ``tf_mobilenetv3_small_100`` module with TF's preprocessing and the ImageNet sample set."""
    tf = TFInput()
    return SENet(name=name, module=module.eval(), transform=tf, class_names=imagenet_class_names(),
                 weights=weights, weights_id=weights_id, pretrained=pretrained, preprocessing=tf.describe(),
                 sample=str(IMAGENET_SAMPLE))


def load_default(weights: str | Path | None = None) -> SENet:
    """The embedded default: MobileNetV3-Small with Google's ImageNet weights, from ``data/imagenet``."""
    from safetensors.torch import load_file

    path = Path(weights) if weights else IMAGENET_WEIGHTS
    if not path.exists():
        raise FileNotFoundError(f"default weights not found at {path}; convert them with `python -m se_analysis "
                                "convert-tflite mobilenet_v3_small_224_1.0_uint8.tflite --out " f"{path}`")
    module = build_timm_mobilenetv3()
    module.load_state_dict(load_file(str(path)), strict=True)
    return mobilenetv3_senet(module, "default", f"Google's ImageNet weights, converted from TFLite ({path.name})",
                             file_sha256(path)[:16], True)


def fmnist_transform() -> Callable[[Image.Image], torch.Tensor]:
    """Any image -> grayscale 28x28, scaled to [0, 1], normalised as in training."""
    return T.Compose([
        T.Grayscale(num_output_channels=1),
        T.Resize((28, 28), antialias=True),
        T.ToImage(),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize([FASHION_MNIST_MEAN], [FASHION_MNIST_STD]),
    ])


def load_fmnist(weights: str | Path | None = None) -> SENet:
    """The second bundled model: the SE-ResNet trained on Fashion-MNIST, from ``data/fashion_mnist``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(weights) if weights else FMNIST_WEIGHTS
    if not path.exists():
        raise FileNotFoundError(f"Fashion-MNIST weights not found at {path}; train them with "
                                "`python -m se_analysis train-fmnist`")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    config = SEResNetConfig.from_dict(json.loads(meta["config"])) if "config" in meta else SEResNetConfig()
    model = SEResNet(config)
    model.load_state_dict(load_file(str(path)), strict=True)
    model.eval()
    return SENet(
        name="fmnist-se-resnet", module=model, transform=fmnist_transform(), class_names=list(FMNIST_CLASSES),
        weights=f"trained on Fashion-MNIST ({path.name})", weights_id=file_sha256(path)[:16], pretrained=True,
        preprocessing={"grayscale": True, "size": [28, 28], "mean": [FASHION_MNIST_MEAN], "std": [FASHION_MNIST_STD]},
        sample=str(FMNIST_SAMPLE if not weights else Path(weights).parent / "sample_set.npz"),
    )
