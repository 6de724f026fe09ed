"""Mixed precision and channels_last: their effect on extraction throughput and on gate values.

Runs the same extraction in fp32, with autocast (bf16, and fp16 on CUDA), and with
channels_last, on the best device (CUDA, else MPS, else CPU), in one process, the settings'
order alternating from repeat to repeat. Prints each setting's speed-up over fp32 per repeat as
median (min-max), and the largest |gate difference| against fp32; writes
benchmarks/results/precision_<model>.json.

    python benchmarks/precision_benchmark.py                                   # the default model
    python benchmarks/precision_benchmark.py --model timm/seresnet50 --images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extraction_benchmark import benchmark_inputs  # noqa: E402
from timing import alternate, fmt, spread, write_results  # noqa: E402

from se_analysis.runs.extract import extract, resolve_device


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--images", type=int, default=250)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    net, source = benchmark_inputs(args.model, args.images)
    dev = resolve_device(args.device)
    configs = [("fp32", None, False), ("bf16 autocast", torch.bfloat16, False), ("fp32 channels_last", None, True),
               ("bf16 + channels_last", torch.bfloat16, True)]
    if dev.type == "cuda":
        configs.insert(2, ("fp16 autocast", torch.float16, False))
    extract(net, source, batch_size=args.batch_size, device=dev)  # warm-up
    runs = {}

    def side(name, amp, cl):
        def go():
            runs[name] = extract(net, source, batch_size=args.batch_size, device=dev, amp_dtype=amp, channels_last=cl)
        return go

    times = alternate({name: side(name, amp, cl) for name, amp, cl in configs}, args.repeats)
    base = runs["fp32"]
    n = len(source.items)
    print(f"model {net.name}, {n} images, batch {args.batch_size}, device {dev}, {args.repeats} alternating repeats")
    print(f"{'setting':22s} {'images/s':>22s} {'speed-up vs fp32':>22s} {'max |gate diff|':>16s}")
    results = {}
    for name, _, _ in configs:
        speedup = [tb / t for t, tb in zip(times[name], times["fp32"])]
        gate_diff = max(float(np.abs(runs[name].gate_values[k] - base.gate_values[k]).max()) for k in base.gate_values)
        print(f"{name:22s} {fmt([n / t for t in times[name]], 1):>22s} {fmt(speedup, 2):>22s} {gate_diff:16.2e}")
        results[name] = {"images_per_s": spread([n / t for t in times[name]]), "speedup_vs_fp32": spread(speedup),
                         "max_gate_diff": gate_diff}
    print(f"-> {write_results(f'precision_{net.name.replace(chr(47), chr(95))}', {'model': net.name, 'images': n, 'repeats': args.repeats, 'settings': results})}")


if __name__ == "__main__":
    main()
