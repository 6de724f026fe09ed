"""Shared fixtures: tiny, seeded, CPU-only; the Run store lives in a temporary folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from se_analysis.models import catalog
from se_analysis.models.bundled.fmnist.se_resnet import SEResNet, SEResNetConfig
from se_analysis.models.zoo import SENet, fmnist_transform
from se_analysis.runs.run import Run


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch, request):
    monkeypatch.setenv("SE_ANALYSIS_HOME", str(tmp_path_factory.mktemp("se_home")))
    monkeypatch.setenv("SE_ANALYSIS_OFFLINE", "1")  # tests never reach for the network
    # The app reads folders inside its data roots only: the tests' temporary folders are the root.
    monkeypatch.setenv("SE_ANALYSIS_DATA_ROOTS", str(tmp_path_factory.getbasetemp()))
    if request.node.get_closest_marker("shipped_catalog") is None:  # a fresh machine: no listing, none shipped
        monkeypatch.setattr(catalog, "shipped_catalog_file", lambda versions=None: tmp_path_factory.getbasetemp() / "none")
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


def make_run(n_per_class=(5, 7, 0, 4), channels=(3, 5), seed=0, labels=True) -> Run:
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, k) for k, n in enumerate(n_per_class)])
    n = len(y)
    gates = {f"SE_{2 + i}_1": rng.uniform(0, 1, size=(n, c)).astype(np.float32) for i, c in enumerate(channels)}
    k = len(n_per_class)
    logits = rng.normal(size=(n, k)).astype(np.float32)
    pred = logits.argmax(1)
    images = pd.DataFrame({"index": np.arange(n), "image_id": [f"i{i}" for i in range(n)], "source": "x",
                           "label": y if labels else -1, "label_name": "x", "pred": pred, "pred_name": "x",
                           "confidence": 0.5, "correct": pd.array(pred == y if labels else [None] * n, dtype="boolean")})
    manifest = {"class_names": [f"c{i}" for i in range(k)], "pretrained": True,
                "gates": [{"name": name, "path": name, "channels": v.shape[1], "depth": i, "stage": 2 + i, "position": 1}
                          for i, (name, v) in enumerate(gates.items())]}
    return Run(images=images, gate_values=gates, logits=logits, manifest=manifest)
