"""The cost of the deployed (uint8 fake-quantised) activations against float, with the TFLite interpreter as anchor.

Three sides on the same images, in one process, their order alternating from repeat to repeat:
a full extraction of the default with float activations, the same with deployed activations
(``--activations deployed``), both through the same DataLoader (JPEG decoding included), and Google's
TFLite original in ai-edge-litert (one thread, reference kernels, decoding included). Prints images per
second of each and the per-repeat ratio deployed / float as median (min-max), and writes
benchmarks/results/deployed_default.json.

    python benchmarks/deployed_benchmark.py                 # the 500 bundled images, 5 repeats
    python benchmarks/deployed_benchmark.py --images 100 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import alternate, fmt, spread, write_results  # noqa: E402

from se_analysis.data.image_sets import sample_set
from se_analysis.data.paths import IMAGENET_TFLITE
from se_analysis.models.bundled.imagenet.deployed import with_activations
from se_analysis.models.bundled.imagenet.fidelity import run_interpreter
from se_analysis.models.bundled.imagenet.preprocess import tf_uint8_image
from se_analysis.models.zoo import load_model
from se_analysis.runs.extract import extract, resolve_device


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    args = p.parse_args()
    net = load_model("default")
    deployed = with_activations(net, "deployed")
    source = sample_set("all")
    source.items = source.items[:args.images]
    dev = resolve_device(args.device)

    def tflite() -> int:  # decode + crop + resize + invoke, one image at a time, one thread
        images = np.stack([tf_uint8_image(it.load()) for it in source.items])
        return len(run_interpreter(IMAGENET_TFLITE, images).logits)

    sides = {"float": lambda: len(extract(net, source, batch_size=args.batch_size, device=dev)),
             "deployed": lambda: len(extract(deployed, source, batch_size=args.batch_size, device=dev)),
             "tflite": tflite}
    sides["float"]()  # warm-up
    times = alternate(sides, args.repeats)
    n = len(source.items)
    rate = {k: [n / t for t in v] for k, v in times.items()}
    ratio = [d / f for d, f in zip(rate["deployed"], rate["float"])]
    vs_tflite = [d / t for d, t in zip(rate["deployed"], rate["tflite"])]
    print(f"default, {n} images, batch {args.batch_size}, device {dev}, {torch.get_num_threads()} threads, "
          f"{args.repeats} alternating repeats: median (min-max)")
    print(f"float activations      {fmt(rate['float'], 1)} images/s (extraction, decoding included)")
    print(f"deployed activations   {fmt(rate['deployed'], 1)} images/s")
    print(f"TFLite interpreter     {fmt(rate['tflite'], 1)} images/s (ai-edge-litert, 1 thread, reference kernels)")
    print(f"deployed / float       {fmt(ratio)}")
    print(f"deployed / TFLite      {fmt(vs_tflite)}")
    if not args.no_save:
        path = write_results("deployed_default", {
            "model": "default", "images": n, "batch_size": args.batch_size, "device": str(dev),
            "repeats": args.repeats, "images_per_s": {k: spread(v) for k, v in rate.items()},
            "ratio_deployed_over_float": spread(ratio), "ratio_deployed_over_tflite": spread(vs_tflite)})
        print(f"-> {path}")


if __name__ == "__main__":
    main()
