"""One-block-at-a-time sweep: suffix re-evaluation against the naive sweep, in one run.

Prints, for the embedded default on the sample set's eval half (or --model/--size with random
weights), the wall time of

* one plain forward pass over all images (the unit),
* the naive sweep: N full forward passes with the gates of one block replaced each time,
* the suffix sweep: one baseline pass, then only the part downstream of each replaced gate,

both from the same pre-decoded batches, plus the end-to-end library call
(``ablate.evaluate_ablations``, decoding included) with method ``full`` and ``suffix``, and
the largest |logit difference| between the two sweeps.

    python benchmarks/sweep_benchmark.py            # the default model, 1000 images
    python benchmarks/sweep_benchmark.py --quick    # 200 images, for CI
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from se_analysis import ablate  # noqa: E402
from se_analysis.data import GateDataset, sample_set  # noqa: E402
from se_analysis.extract import extract  # noqa: E402
from se_analysis.gates import override  # noqa: E402
from se_analysis.suffix import SuffixRunner, try_trace  # noqa: E402
from se_analysis.zoo import load_model  # noqa: E402


def timed(fn, repeats: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="200 images")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    net = load_model("default")
    source = sample_set("eval")
    if args.quick:
        source.items = source.items[:: 5]
    run = extract(net, source, batch_size=args.batch_size)
    model = net.module.eval()
    names = run.gate_names
    n_blocks = len(names)
    ds = GateDataset(source.items, net.transform)
    x_all = torch.stack([ds[i][0] for i in range(len(ds))])
    batches = list(torch.split(x_all, args.batch_size))
    means = {b: torch.from_numpy(run.gates[b].mean(0)) for b in names}

    def plain():
        with torch.inference_mode():
            return torch.cat([model(x) for x in batches])

    def naive():
        out = []
        with torch.inference_mode():
            for b in names:
                with override(model, {b: means[b]}):
                    out.append(torch.cat([model(x) for x in batches]))
        return out

    gm = try_trace(model, net.gates)
    runner = SuffixRunner(gm, net.gates)
    runner.plan([(b,) for b in names])

    def suffix():
        out = [[] for _ in names]
        with torch.inference_mode():
            for x in batches:
                runner.baseline(x)
                for j, b in enumerate(names):
                    shape = runner.env[runner.gate_node[b]].shape
                    out[j].append(runner.ablate({b: means[b].view(1, -1, 1, 1).expand(shape)})[0])
        return [torch.cat(o) for o in out]

    plain()  # warm-up
    t_plain, _ = timed(plain, args.repeats)
    t_naive, naive_out = timed(naive, args.repeats)
    t_suffix, suffix_out = timed(suffix, args.repeats)
    max_diff = max(float((a - b).abs().max()) for a, b in zip(naive_out, suffix_out))

    ablations = ablate.sweep_ablations(names, "one-at-a-time", "mean")
    t_lib_full, full_runs = timed(lambda: ablate.evaluate_ablations(net, source, run, ablations, run, method="full",
                                                                    batch_size=args.batch_size))
    t_lib_suffix, suffix_runs = timed(lambda: ablate.evaluate_ablations(net, source, run, ablations, run,
                                                                        method="suffix", batch_size=args.batch_size))
    lib_diff = max(float(np.abs(a.logits - b.logits).max()) for a, b in zip(full_runs, suffix_runs))

    print(f"model: {net.name} ({n_blocks} SE blocks), {len(x_all)} images, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, device cpu")
    print(f"plain forward pass            {t_plain:8.3f} s   (1.00 pass)")
    print(f"naive sweep, {n_blocks} full passes    {t_naive:8.3f} s   ({t_naive / t_plain:.2f} passes)")
    print(f"suffix sweep                  {t_suffix:8.3f} s   ({t_suffix / t_plain:.2f} passes; target < N/2 = "
          f"{n_blocks / 2:.1f})")
    print(f"ratio suffix / naive          {t_suffix / t_naive:8.3f}")
    print(f"max |logit difference|        {max_diff:.2e}")
    print(f"library, decoding included: full {t_lib_full:.3f} s, suffix {t_lib_suffix:.3f} s, ratio "
          f"{t_lib_suffix / t_lib_full:.3f}, max |logit difference| {lib_diff:.2e}")


if __name__ == "__main__":
    main()
