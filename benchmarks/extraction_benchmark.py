"""Extraction overhead: a full extraction (gates recorded, Run filled) against a plain forward pass.

Both passes read the same images through the same DataLoader (JPEG decoding and preprocessing
included), in the same process, their order alternating from repeat to repeat. Prints images per
second and the per-repeat ratio (extraction / plain; the target is >= 0.95) as median (min-max).
For the default model it also times Google's TFLite original in ai-edge-litert on the same images
(one thread, decoding included), and writes everything to benchmarks/results/extraction.json.

    python benchmarks/extraction_benchmark.py                       # default model, its 500 images
    python benchmarks/extraction_benchmark.py --model timm/seresnet50 --images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import alternate, fmt, spread, write_results  # noqa: E402

from se_analysis.data.dataset import ImageDataset, collate_skipping
from se_analysis.data.image_sets import ImageItem, ImageSet, sample_set
from se_analysis.models.zoo import load_model
from se_analysis.runs.extract import extract, resolve_device


def synthetic_source(n: int, size: int) -> ImageSet:
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(min(n, 32))]
    items = [ImageItem(f"img{i}", f"synthetic[{i}]", i % 10, (lambda a=arrays[i % len(arrays)]: Image.fromarray(a)))
             for i in range(n)]
    return ImageSet("synthetic", items, [], f"synthetic:{n}:{size}")


def benchmark_inputs(model: str, images: int) -> tuple:
    """The model (trained default, else random weights) and its images: the sample set, else synthetic photos."""
    net = load_model(model, pretrained=model == "default")
    if net.sample is not None and net.pretrained:
        source = sample_set("all", net.sample)
        source.items = source.items[:images]
    else:
        source = synthetic_source(images, 256)
    return net, source


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    net, source = benchmark_inputs(args.model, args.images)
    dev = resolve_device(args.device)
    model = net.module.to(dev).eval()

    def plain() -> int:
        loader = torch.utils.data.DataLoader(ImageDataset(source.items, net.transform), batch_size=args.batch_size,
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

    sides = {"plain": plain, "extraction": full}
    if args.model == "default":
        from se_analysis.data.paths import IMAGENET_TFLITE
        from se_analysis.models.bundled.imagenet.fidelity import run_interpreter
        from se_analysis.models.bundled.imagenet.preprocess import tf_uint8_image

        def tflite() -> int:  # decode + crop + resize + invoke, one image at a time, one thread
            images = np.stack([tf_uint8_image(it.load()) for it in source.items])
            return len(run_interpreter(IMAGENET_TFLITE, images).logits)
        sides["tflite"] = tflite
    plain()  # warm-up
    times = alternate(sides, args.repeats)
    n = len(source.items)
    rate = {k: [n / t for t in v] for k, v in times.items()}
    ratio = [f / p for f, p in zip(rate["extraction"], rate["plain"])]
    print(f"model {net.name} ({len(net.gates)} SE gates), {n} images, batch {args.batch_size}, device {dev}, "
          f"{torch.get_num_threads()} threads, {args.repeats} alternating repeats: median (min-max)")
    print(f"plain forward pass   {fmt(rate['plain'], 1)} images/s")
    print(f"full extraction      {fmt(rate['extraction'], 1)} images/s")
    print(f"ratio                {fmt(ratio)}   (target >= 0.95)")
    if "tflite" in rate:
        print(f"TFLite interpreter   {fmt(rate['tflite'], 1)} images/s (ai-edge-litert, 1 thread, reference kernels)")
    if not args.no_save:
        path = write_results(f"extraction_{net.name.replace('/', '_')}", {
            "model": net.name, "images": n, "batch_size": args.batch_size, "device": str(dev),
            "repeats": args.repeats, "images_per_s": {k: spread(v) for k, v in rate.items()},
            "ratio_extraction_over_plain": spread(ratio)})
        print(f"-> {path}")


if __name__ == "__main__":
    main()
