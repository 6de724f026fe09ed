"""Mixed precision and channels_last: their effect on extraction throughput and on gate values.

Runs the same extraction in fp32, with autocast (bf16, and fp16 on CUDA), and with
channels_last, on the best device (CUDA, else MPS, else CPU), in one process, and prints
images per second and the largest |gate difference| against fp32.

    python benchmarks/precision_benchmark.py                                   # the default model
    python benchmarks/precision_benchmark.py --model timm/seresnet50 --images 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from extraction_benchmark import benchmark_inputs  # noqa: E402

from se_analysis.extract import extract, resolve_device  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--images", type=int, default=1000)
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
    base = None
    print(f"model {net.name}, {len(source.items)} images, batch {args.batch_size}, device {dev}")
    print(f"{'setting':22s} {'images/s':>10s} {'vs fp32':>8s} {'max |gate diff|':>16s} {'max |logit diff|':>17s}")
    for name, amp, cl in configs:
        t0 = time.perf_counter()
        run = extract(net, source, batch_size=args.batch_size, device=dev, amp_dtype=amp, channels_last=cl)
        ips = len(run) / (time.perf_counter() - t0)
        if base is None:
            base, base_ips = run, ips
        gate_diff = max(float(np.abs(run.gates[k] - base.gates[k]).max()) for k in base.gates)
        logit_diff = float(np.abs(run.logits - base.logits).max())
        print(f"{name:22s} {ips:10.1f} {ips / base_ips:8.2f} {gate_diff:16.2e} {logit_diff:17.2e}")


if __name__ == "__main__":
    main()
