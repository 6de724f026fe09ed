"""Shared fixtures: tiny, seeded, CPU-only; the Run store lives in a temporary folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from se_analysis.default_model import SEResNet, SEResNetConfig
from se_analysis.zoo import SENet, fmnist_transform


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SE_ANALYSIS_HOME", str(tmp_path_factory.mktemp("se_home")))
    monkeypatch.setenv("SE_ANALYSIS_OFFLINE", "1")  # tests never reach for the network
    torch.manual_seed(0)


def tiny_senet(seed: int = 0, widths=(8, 16, 16), depths=(2, 2, 1)) -> SENet:
    """A small random SE-ResNet with Fashion-MNIST preprocessing and class names."""
    torch.manual_seed(seed)
    model = SEResNet(SEResNetConfig(widths=widths, depths=depths)).eval()
    # Random BN statistics make the gates vary between images.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    return SENet("tiny", model, fmnist_transform(), names, "random (test)", f"tiny:{seed}", False)


@pytest.fixture
def tiny_net() -> SENet:
    return tiny_senet()


@pytest.fixture
def synthetic_sample(tmp_path):
    """A sample-set file of 60 random 28x28 images, 6 per class."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 6).astype(np.uint8)
    images = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    path = tmp_path / "sample.npz"
    np.savez_compressed(path, images=images, labels=labels, test_index=np.arange(60, dtype=np.int32),
                        class_names=np.array(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                              "Shirt", "Sneaker", "Bag", "Ankle boot"]))
    return path
