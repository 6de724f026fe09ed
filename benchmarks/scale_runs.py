"""Synthetic ImageNet-scale Runs in the Run format, for the scale benchmarks (not a test fixture).

A Run of 1000 ImageNet classes x ``per_class`` images (50: ImageNet val) with the gate layout of
the embedded default (MobileNetV3-Small: 9 blocks, 2,376 channels) or of SE-ResNet-50 (16 blocks,
15,104 channels), written with :meth:`Run.save` exactly as ``extract`` would write it. Gates are
structured like real ones: a per-class offset on a per-channel mean, squashed by a sigmoid, with
some channels saturated near 1 (as the paper's SE_5_2), so every statistic has something to find.
Logits make the true class win for about 70 % of images.

    python benchmarks/scale_runs.py --layout default --out /tmp/scale/default     # ~1 GB, ~1 min
    python benchmarks/scale_runs.py --layout se_resnet50 --out /tmp/scale/rn50    # ~2 GB float16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from se_analysis.runs.run import IMAGE_COLUMNS, Run, is_run_folder  # noqa: E402

LAYOUTS = {  # (stage, block, channels) per SE block
    "default": [(1, 1, 16), (2, 1, 96), (2, 2, 240), (2, 3, 240), (3, 1, 120), (3, 2, 144), (4, 1, 288),
                (4, 2, 576), (4, 3, 576)],
    "se_resnet50": [(2, b, 256) for b in (1, 2, 3)] + [(3, b, 512) for b in (1, 2, 3, 4)]
                   + [(4, b, 1024) for b in range(1, 7)] + [(5, b, 2048) for b in (1, 2, 3)],
}


def make_scale_run(layout: str = "default", n_classes: int = 1000, per_class: int = 50, dtype=np.float16,
                   seed: int = 0) -> Run:
    """The synthetic Run (in memory); its class names and WordNet-id order are ImageNet's."""
    from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids

    rng = np.random.default_rng(seed)
    names, wnids = imagenet_class_names()[:n_classes], imagenet_wnids()[:n_classes]
    y = np.repeat(np.arange(n_classes), per_class)
    n = len(y)
    gates, records = {}, []
    blocks = LAYOUTS[layout]
    for depth, (stage, block, c) in enumerate(blocks):
        name = f"SE_{stage}_{block}"
        specific = depth / max(len(blocks) - 1, 1)  # later blocks more class-specific, as in the paper
        base = rng.normal(0.5, 1.0, c).astype(np.float32)
        offsets = (rng.normal(0, 1.5 * specific, (n_classes, c))).astype(np.float32)
        x = base + offsets[y] + rng.normal(0, 1.0, (n, c)).astype(np.float32)
        if stage == max(s for s, _, _ in blocks) and block == 2:  # saturates towards 1 (an identity)
            x += 6.0
        gates[name] = (1.0 / (1.0 + np.exp(-x))).astype(dtype)
        records.append({"name": name, "path": f"blocks.{depth}.se.gate", "se_path": f"blocks.{depth}.se",
                        "channels": c, "depth": depth, "stage": stage, "position": block})
    logits = rng.normal(0, 1, (n, n_classes)).astype(np.float32)
    logits[np.arange(n), y] += np.where(rng.uniform(size=n) < 0.7, 6.0, 0.0)
    pred = logits.argmax(1)
    e = np.exp(logits - logits.max(1, keepdims=True))
    conf = (e.max(1) / e.sum(1)).astype(np.float32)
    ids = [f"{wnids[k]}/ILSVRC2012_val_{i + 1:08d}.JPEG" for i, k in enumerate(y)]
    labels = np.array(names, dtype=object)
    images = pd.DataFrame({"index": np.arange(n), "image_id": ids, "source": [f"/data/imagenet/val/{i}" for i in ids],
                           "label": y, "label_name": labels[y], "pred": pred, "pred_name": labels[pred],
                           "confidence": conf, "correct": pd.array(pred == y, dtype="boolean")})[IMAGE_COLUMNS]
    manifest = {"format": 3, "model": "timm/seresnet50" if layout == "se_resnet50" else "default",
                "weights": "synthetic gates (benchmark)", "weights_id": f"synthetic-{layout}", "pretrained": True,
                "checkpoint": None, "activations": "float", "model_spec": None,
                "data": f"ImageNet val, {n_classes} classes x {per_class} (synthetic gates)",
                "data_fingerprint": f"synthetic-{layout}-{n_classes}-{per_class}",
                "data_spec": {"kind": "folder", "root": "/data/imagenet/val"}, "preprocessing": {},
                "class_names": names, "gates": records, "created": "2026-12-01T00:00:00+00:00", "host": "gpu-box",
                "device": "cuda", "amp_dtype": None, "batch_size": 256, "channels_last": False, "n_images": n,
                "n_skipped": 0, "summary_only": False}
    return Run(images=images, gate_values=gates, logits=logits, manifest=manifest)


def ensure_scale_run(folder: str | Path, layout: str = "default", **kwargs) -> Path:
    """The Run folder at ``folder``, written once (reused when it is already there)."""
    folder = Path(folder)
    if not is_run_folder(folder):
        make_scale_run(layout, **kwargs).save(folder)
    return folder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layout", choices=sorted(LAYOUTS), default="default")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    print(ensure_scale_run(a.out, a.layout, n_classes=a.classes, per_class=a.per_class))


if __name__ == "__main__":
    main()
