"""Training the Fashion-MNIST SE-ResNet (``fmnist-se-resnet``), and writing its model card and sample set.

Deterministic given the seed (single-threaded data order, seeded augmentation). Run with
``python -m se_analysis train-fmnist``; it writes ``data/fashion_mnist/se_resnet.safetensors``,
``MODEL_CARD.md``/``model_card.json`` and ``sample_set.npz`` beside it.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from se_analysis.models.bundled.fmnist.idx import CLASS_NAMES, load_split
from se_analysis.models.bundled.fmnist.se_resnet import (
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    SEResNet,
    SEResNetConfig,
)

__all__ = ["TrainSettings", "train_fmnist", "evaluate", "write_sample_set"]


class TrainSettings:
    """Hyper-parameters of the Fashion-MNIST SE-ResNet's training run."""

    def __init__(self, epochs: int = 15, batch_size: int = 128, max_lr: float = 0.1,
                 weight_decay: float = 5e-4, label_smoothing: float = 0.0, seed: int = 0,
                 threads: int | None = None) -> None:
        self.epochs, self.batch_size, self.max_lr = epochs, batch_size, max_lr
        self.weight_decay, self.label_smoothing, self.seed = weight_decay, label_smoothing, seed
        self.threads = threads

    def to_dict(self) -> dict:
        return dict(vars(self))


def _normalise(x_uint8: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float, normalised with the training-set statistics."""
    return ((x_uint8.float() / 255.0) - FASHION_MNIST_MEAN).div_(FASHION_MNIST_STD).unsqueeze(1)


def _augment(x: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random shifts of up to ``pad`` pixels (zero-padded crop) and random horizontal flips."""
    n, _, h, w = x.shape
    bg = (0.0 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    padded = F.pad(x, (pad, pad, pad, pad), value=bg)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # (N, H)
    cols = (dx[:, None] + torch.arange(w)[None, :])  # (N, W)
    idx_n = torch.arange(n)[:, None, None]
    out = padded[idx_n, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


@torch.inference_mode()
def evaluate(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> dict:
    """Top-1 accuracy overall and per class of ``model`` on uint8 images (N, 28, 28)."""
    model.eval()
    preds = []
    for i in range(0, len(images), batch_size):
        x = _normalise(torch.from_numpy(images[i : i + batch_size]))
        preds.append(model(x).argmax(1))
    pred = torch.cat(preds).numpy()
    correct = pred == labels
    per_class = {CLASS_NAMES[c]: float(correct[labels == c].mean()) for c in range(len(CLASS_NAMES))}
    return {"top1": float(correct.mean()), "per_class": per_class, "n": int(len(labels))}


def write_sample_set(path: Path, images: np.ndarray, labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Save ``per_class`` test images of each class (seeded choice) to a compressed .npz; return their test-set indices."""
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([
        np.sort(rng.choice(np.flatnonzero(labels == c), per_class, replace=False)) for c in range(len(CLASS_NAMES))
    ])
    np.savez_compressed(
        path, images=images[chosen], labels=labels[chosen].astype(np.uint8), test_index=chosen.astype(np.int32),
        class_names=np.array(CLASS_NAMES),
    )
    return chosen


def train_fmnist(out_dir: str | Path = "data/fashion_mnist", settings: TrainSettings | None = None,
                  config: SEResNetConfig | None = None, fmnist_dir: str | None = None,
                  log: Callable[[str], None] = print, sample_per_class: int = 200) -> dict:
    """Train the default SE-ResNet on the Fashion-MNIST training set; write weights, card and samples."""
    s = settings or TrainSettings()
    config = config or SEResNetConfig()
    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    x_train, y_train = load_split("train", fmnist_dir)
    x_test, y_test = load_split("test", fmnist_dir)
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)

    model = SEResNet(config)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0}],
                          lr=s.max_lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(xt) // s.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.max_lr, epochs=s.epochs, steps_per_epoch=steps_per_epoch,
                                                pct_start=0.2)
    history = []
    start = time.time()
    for epoch in range(s.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total_loss, seen = 0.0, 0
        t0 = time.time()
        for step in range(steps_per_epoch):
            idx = perm[step * s.batch_size : (step + 1) * s.batch_size]
            x = _augment(_normalise(xt[idx]), gen)
            loss = F.cross_entropy(model(x), yt[idx], label_smoothing=s.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss.detach()) * len(idx)
            seen += len(idx)
        ev = evaluate(model, x_test, y_test)
        history.append({"epoch": epoch + 1, "train_loss": total_loss / seen, "test_top1": ev["top1"],
                        "seconds": time.time() - t0})
        log(f"epoch {epoch + 1}/{s.epochs} loss {total_loss / seen:.4f} test top-1 {ev['top1']:.4f} "
            f"({time.time() - t0:.0f}s)")
    wall = time.time() - start

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "se_analysis.default", "config": json.dumps(config.to_dict())}
    save_file(state, str(out / "se_resnet.safetensors"), metadata=meta)
    final = evaluate(model, x_test, y_test)
    sample_idx = write_sample_set(out / "sample_set.npz", x_test, y_test, sample_per_class, s.seed)
    card = {
        "name": "se-resnet-fmnist",
        "architecture": "SE-ResNet (basic blocks, SE on the residual branch before the addition)",
        "config": config.to_dict(),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "training": {**s.to_dict(), "optimizer": "SGD nesterov momentum 0.9, one-cycle LR",
                     "augmentation": "random shift <=2 px, horizontal flip", "train_images": int(len(xt))},
        "command": f"python -m se_analysis train-fmnist --epochs {s.epochs} --seed {s.seed}",
        "wall_time_seconds": round(wall, 1),
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "test_top1": final["top1"],
        "test_n": final["n"],
        "test_per_class": final["per_class"],
        "history": history,
        "sample_set": {"file": "sample_set.npz", "per_class": sample_per_class, "source": "Fashion-MNIST test split",
                       "n": int(len(sample_idx))},
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2))
    (out / "MODEL_CARD.md").write_text(_card_markdown(card))
    return card


def _card_markdown(card: dict) -> str:
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in card["test_per_class"].items())
    hist = "\n".join(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['test_top1']:.4f} | {h['seconds']:.0f} |"
                     for h in card["history"])
    c = card["config"]
    return f"""# Model card: {card['name']} (the bundled Fashion-MNIST SE-ResNet)

**Architecture.** {card['architecture']}. Stem conv3x3 -> stages 2, 3, 4 of widths {c['widths']}
with {c['depths']} blocks each (28x28, 14x14, 7x7), SE reduction ratio {c['reduction']} (at least 8
hidden units), global average pool, linear head. {card['parameters']:,} parameters.
Gates: `SE_<stage>_<block>`, stage 2..4, block from 1.

**Data.** Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT licence), 60,000 training images;
evaluated on the full 10,000-image test set. Input: 28x28 grayscale, scaled to [0, 1] and
normalised with mean 0.2860, std 0.3530.

**Training.** `{card['command']}`; {card['training']['optimizer']}, max LR {card['training']['max_lr']},
batch {card['training']['batch_size']}, weight decay {card['training']['weight_decay']}, augmentation:
{card['training']['augmentation']}. Seed {card['training']['seed']}. Wall time {card['wall_time_seconds'] / 60:.1f} min on
{card['machine']}.

**Test top-1: {card['test_top1'] * 100:.2f}%** on {card['test_n']:,} images.

| class | test accuracy |
|---|---|
{rows}

| epoch | train loss | test top-1 | seconds |
|---|---|---|---|
{hist}

**Sample set.** `data/fashion_mnist/{card['sample_set']['file']}`: {card['sample_set']['n']} images
({card['sample_set']['per_class']} per class) drawn with the seed from the test split; they were never trained on.
"""
