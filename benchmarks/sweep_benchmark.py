"""One-block-at-a-time sweep: suffix re-evaluation against the naive sweep, in one run.

Prints, for a bundled model (default: the ImageNet default) on its sample set's eval half, the wall
time, as median (min-max) over alternating repeats, of

* one plain forward pass over all images (the unit),
* the naive sweep: N full forward passes with the gates of one block replaced each time,
* the suffix sweep: one baseline pass, then only the part downstream of each replaced gate,

both from the same pre-decoded batches, plus the end-to-end library call
(``ablate.evaluate_ablations``, decoding included) with method ``full`` and ``suffix``, and
the largest |logit difference| between the two sweeps.

    python benchmarks/sweep_benchmark.py                              # the default, 250 images
    python benchmarks/sweep_benchmark.py --model fmnist-se-resnet     # the Fashion-MNIST SE-ResNet, 1000 images
    python benchmarks/sweep_benchmark.py --quick                      # a fifth of the images
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from se_analysis import ablation as ablate
from se_analysis.ablation.suffix import SuffixRunner, try_trace
from se_analysis.data.dataset import ImageDataset
from se_analysis.data.image_sets import sample_set
from se_analysis.gates.hooks import override
from se_analysis.models.zoo import load_model
from se_analysis.runs.extract import extract

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternate, fmt, spread, write_results  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="200 images")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default="default")
    args = p.parse_args()
    torch.manual_seed(0)
    net = load_model(args.model)
    source = sample_set("eval", net.sample)
    if args.quick:
        source.items = source.items[:: 5]
    run = extract(net, source, batch_size=args.batch_size)
    model = net.module.eval()
    names = run.gate_names
    n_blocks = len(names)
    ds = ImageDataset(source.items, net.transform)
    x_all = torch.stack([ds[i][0] for i in range(len(ds))])
    batches = list(torch.split(x_all, args.batch_size))
    means = {b: torch.from_numpy(run.gate_values[b].mean(0)) for b in names}

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

    gm, _ = try_trace(model, net.gates)
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
    outs = {}
    times = alternate({"plain": plain, "naive": lambda: outs.__setitem__("naive", naive()),
                       "suffix": lambda: outs.__setitem__("suffix", suffix())}, args.repeats)
    max_diff = max(float((a - b).abs().max()) for a, b in zip(outs["naive"], outs["suffix"]))
    passes_naive = [n / p for n, p in zip(times["naive"], times["plain"])]
    passes_suffix = [s_ / p for s_, p in zip(times["suffix"], times["plain"])]
    ratio = [s_ / n for s_, n in zip(times["suffix"], times["naive"])]

    ablations = ablate.sweep_ablations(names, "one-at-a-time", "mean")
    lib = {}
    lib_times = alternate({m: (lambda m=m: lib.__setitem__(m, ablate.evaluate_ablations(
        net, source, run, ablations, run, method=m, batch_size=args.batch_size))) for m in ("full", "suffix")},
        args.repeats)
    lib_diff = max(float(np.abs(a.logits - b.logits).max()) for a, b in zip(lib["full"], lib["suffix"]))
    lib_ratio = [s_ / f for s_, f in zip(lib_times["suffix"], lib_times["full"])]

    print(f"model: {net.name} ({n_blocks} SE blocks), {len(x_all)} images, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, device cpu, {args.repeats} alternating repeats: median (min-max)")
    print(f"plain forward pass            {fmt(times['plain'])} s   (1 pass)")
    print(f"naive sweep, {n_blocks} full passes    {fmt(passes_naive, 2)} passes")
    print(f"suffix sweep                  {fmt(passes_suffix, 2)} passes (target < N/2 = {n_blocks / 2:.1f})")
    print(f"ratio suffix / naive          {fmt(ratio)}")
    print(f"max |logit difference|        {max_diff:.2e}")
    print(f"library, decoding included: suffix / full {fmt(lib_ratio)}, max |logit difference| {lib_diff:.2e}")
    path = write_results(f"sweep_{net.name}", {
        "model": net.name, "images": len(x_all), "repeats": args.repeats, "passes_naive": spread(passes_naive),
        "passes_suffix": spread(passes_suffix), "ratio_suffix_over_naive": spread(ratio),
        "library_ratio_suffix_over_full": spread(lib_ratio), "max_logit_diff": max_diff, "library_max_logit_diff": lib_diff})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
