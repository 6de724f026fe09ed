"""The bundled Fashion-MNIST SE-ResNet: shipped weights, model card, sample set, and the training code itself."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import torch

from se_analysis.data.image_sets import sample_set
from se_analysis.data.paths import FMNIST_DIR as DATA_DIR
from se_analysis.data.paths import FMNIST_SAMPLE
from se_analysis.models.bundled.fmnist.idx import CLASS_NAMES, read_idx
from se_analysis.models.bundled.fmnist.se_resnet import SEResNetConfig
from se_analysis.models.bundled.fmnist.train import TrainSettings, evaluate, train_fmnist
from se_analysis.models.zoo import load_fmnist


def test_model_card_agrees_with_the_weights_on_held_out_images():
    """The card's per-class test accuracy (10,000 images) against the shipped weights measured here on the
    2,000-image sample of that test split: each class within three binomial standard errors."""
    card = json.loads((DATA_DIR / "model_card.json").read_text())
    net = load_fmnist()
    with np.load(DATA_DIR / "sample_set.npz") as z:
        images, labels = z["images"], z["labels"].astype(np.int64)
    with torch.no_grad():
        x = (torch.from_numpy(images).float().unsqueeze(1) / 255 - 0.2860) / 0.3530
        pred = torch.cat([net.module(x[i:i + 500]) for i in range(0, len(x), 500)]).argmax(1).numpy()
    assert card["test_n"] == 10_000 and card["test_top1"] >= 0.92
    for c, name in enumerate(CLASS_NAMES):
        measured = (pred[labels == c] == c).mean()
        p = card["test_per_class"][name]
        assert abs(measured - p) <= 3 * np.sqrt(p * (1 - p) / 200) + 1e-9, name


def test_shipped_weights_classify_the_held_out_sample_set():
    net = load_fmnist()
    with np.load(DATA_DIR / "sample_set.npz") as z:
        images, labels = z["images"], z["labels"].astype(np.int64)
    result = evaluate(net.module, images, labels)
    assert result["top1"] >= 0.90  # held-out test images; the card says 93.8% on all 10,000
    assert (DATA_DIR / "se_resnet.safetensors").stat().st_size < 5 * 2**20


def test_sample_set_is_balanced_labelled_and_split():
    with np.load(DATA_DIR / "sample_set.npz") as z:
        assert z["images"].shape == (2000, 28, 28) and z["images"].dtype == np.uint8
        assert np.bincount(z["labels"]).tolist() == [200] * 10
        assert len(np.unique(z["test_index"])) == 2000
        assert [str(c) for c in z["class_names"]] == list(CLASS_NAMES)
    ref, ev = sample_set("reference", FMNIST_SAMPLE), sample_set("eval", FMNIST_SAMPLE)
    assert len(ref) == len(ev) == 1000 and {i.id for i in ref.items}.isdisjoint({i.id for i in ev.items})


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x-idx3-ubyte.gz", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte"), a)


def test_training_runs_end_to_end_on_tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "fmnist"
    d.mkdir()
    for split, n in (("train", 256), ("t10k", 400)):
        labels = np.tile(np.arange(10), n // 10 + 1)[:n]
        images = (rng.integers(0, 60, (n, 28, 28)) + labels[:, None, None] * 19).astype(np.uint8)  # learnable
        _write_idx(d / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(d / f"{split}-labels-idx1-ubyte.gz", labels)
    torch.set_num_threads(2)
    card = train_fmnist(tmp_path / "out", TrainSettings(epochs=2, batch_size=32, seed=1),
                         SEResNetConfig(widths=(8, 8, 8), depths=(1, 1, 1)), fmnist_dir=str(d),
                         log=lambda s: None, sample_per_class=20)
    assert len(card["history"]) == 2 and card["test_n"] == 400
    assert (tmp_path / "out" / "se_resnet.safetensors").exists()
    net = load_fmnist(tmp_path / "out" / "se_resnet.safetensors")
    assert net.module.config.widths == (8, 8, 8)
    with np.load(tmp_path / "out" / "sample_set.npz") as z:
        assert np.bincount(z["labels"]).tolist() == [20] * 10
