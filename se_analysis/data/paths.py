"""Where the bundled models and images live (``data/``), in one place for every module."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "IMAGENET_DIR", "IMAGENET_TFLITE", "IMAGENET_WEIGHTS", "IMAGENET_SAMPLE", "FMNIST_DIR",
           "FMNIST_WEIGHTS", "FMNIST_SAMPLE"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"

IMAGENET_DIR = DATA_DIR / "imagenet"
IMAGENET_WEIGHTS = IMAGENET_DIR / "mobilenetv3_small_100.safetensors"  # converted from Google's TFLite file
IMAGENET_SAMPLE = IMAGENET_DIR / "val_10x50"  # ImageNet val: 10 classes x 50 images, WordNet-id folders

FMNIST_DIR = DATA_DIR / "fashion_mnist"
FMNIST_WEIGHTS = FMNIST_DIR / "se_resnet.safetensors"
FMNIST_SAMPLE = FMNIST_DIR / "sample_set.npz"
IMAGENET_TFLITE = IMAGENET_DIR / "mobilenet_v3_small_224_1.0_uint8.tflite"  # Google's original, for fidelity checks
