"""Extraction overhead: a full extraction (gates recorded, Run filled) against a plain forward pass.

Both passes read the same images through the same DataLoader (decoding and preprocessing
included), in the same process, alternating A/B/A/B so that drift in machine load hits both
equally; the best of the repeats is compared. Prints images per second and the ratio
(extraction / plain; the target is >= 0.95).

    python benchmarks/extraction_benchmark.py                       # default model, sample set
    python benchmarks/extraction_benchmark.py --model timm/seresnet50 --images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from se_analysis.data import GateDataset, ImageItem, ImageSource, collate_skipping, sample_set  # noqa: E402
from se_analysis.extract import extract, resolve_device  # noqa: E402
from se_analysis.zoo import load_model  # noqa: E402


def synthetic_source(n: int, size: int) -> ImageSource:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(min(n, 32))]
    items = [ImageItem(f"img{i}", f"synthetic[{i}]", i % 10, (lambda a=arrays[i % len(arrays)]: Image.fromarray(a)))
             for i in range(n)]
    return ImageSource("synthetic", items, [], f"synthetic:{n}:{size}")


def benchmark_inputs(model: str, images: int) -> tuple:
    """The model (trained default, else random weights) and its images: the sample set, else synthetic photos."""
    net = load_model(model, pretrained=model == "default")
    if model == "default":
        source = sample_set("all")
        source.items = source.items[:images]
    else:
        source = synthetic_source(images, 256)
    return net, source


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    net, source = benchmark_inputs(args.model, args.images)
    dev = resolve_device(args.device)
    model = net.module.to(dev).eval()

    def plain() -> int:
        loader = torch.utils.data.DataLoader(GateDataset(source.items, net.transform), batch_size=args.batch_size,
                                             collate_fn=collate_skipping)
        n = 0
        with torch.inference_mode():
            for x, idx, _ in loader:
                model(x.to(dev)).float().cpu()
                n += len(idx)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return n

    def full() -> int:
        return len(extract(net, source, batch_size=args.batch_size, device=dev))

    plain()  # warm-up
    t_plain, t_full = [], []
    for _ in range(args.repeats):
        for fn, times in ((plain, t_plain), (full, t_full)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    n = len(source.items)
    ips_plain, ips_full = n / min(t_plain), n / min(t_full)
    print(f"model {net.name} ({len(net.gates)} SE gates), {n} images, batch {args.batch_size}, device {dev}, "
          f"{torch.get_num_threads()} threads")
    print(f"plain forward pass   {ips_plain:9.1f} images/s")
    print(f"full extraction      {ips_full:9.1f} images/s")
    print(f"ratio                {ips_full / ips_plain:9.3f}   (target >= 0.95)")


if __name__ == "__main__":
    main()
