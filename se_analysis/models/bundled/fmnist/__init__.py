"""The Fashion-MNIST SE-ResNet: its architecture, its training and the idx reader."""

from .idx import CLASS_NAMES, DEFAULT_DIRS, find_dir, load_split, read_idx
from .se_resnet import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    BasicSEBlock,
    SEBlock,
    SEResNet,
    SEResNetConfig,
)
from .train import TrainSettings, evaluate, train_fmnist, write_sample_set

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_DIRS",
    "find_dir",
    "read_idx",
    "load_split",
    "SEBlock",
    "BasicSEBlock",
    "SEResNetConfig",
    "SEResNet",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "TrainSettings",
    "train_fmnist",
    "evaluate",
    "write_sample_set",
]
