"""Folded against unfolded: CPU latency, parameters and FLOPs of the default with SE blocks folded away.

Means come from the bundled sample set's reference half. Both models run the same batch in one
process, their order alternating from repeat to repeat; prints per-repeat latency ratios
(folded / original) as median (min-max) and writes benchmarks/results/fold_<model>.json.

    python benchmarks/fold_benchmark.py --blocks SE_2_1,SE_4_1          # chosen blocks
    python benchmarks/fold_benchmark.py --blocks 9 --batch 1            # all nine, one image at a time
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import alternate, fmt, spread, write_results  # noqa: E402

from se_analysis.ablation.fold_search import fold_run
from se_analysis.data.image_sets import sample_set
from se_analysis.gates.blocks import parse_block_spec, select_blocks
from se_analysis.models.fold import count_flops, count_parameters
from se_analysis.models.zoo import load_model
from se_analysis.runs.extract import extract


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="default")
    p.add_argument("--blocks", default="9", help="as for the CLI: names, patterns, indices, or n = the last n")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    net = load_model(args.model)
    reference = extract(net, sample_set("reference", net.sample))
    blocks = select_blocks(reference.gate_names, parse_block_spec(args.blocks))
    folded, plan, _ = fold_run(net, reference, blocks, reference)
    source = sample_set("eval", net.sample)
    x = torch.stack([net.transform(it.load()) for it in source.items[:args.batch]])
    original = net.module.eval()

    def run(model):
        def go():
            with torch.inference_mode():
                model(x)
        return go

    run(original)(), run(folded)()  # warm-up
    times = alternate({"original": run(original), "folded": run(folded)}, args.repeats)
    ratio = [f / o for f, o in zip(times["folded"], times["original"])]
    ms = {k: [t * 1000 / len(x) for t in v] for k, v in times.items()}
    params = (count_parameters(original), count_parameters(folded))
    flops = (count_flops(original, x[:1]), count_flops(folded, x[:1]))
    print(f"model {net.name}, folded {', '.join(blocks)}; batch {len(x)}, {torch.get_num_threads()} threads, "
          f"{args.repeats} alternating repeats: median (min-max)")
    print(f"latency original      {fmt(ms['original'], 2)} ms per image")
    print(f"latency folded        {fmt(ms['folded'], 2)} ms per image")
    print(f"ratio folded/original {fmt(ratio)}")
    print(f"parameters            {params[0]:,} -> {params[1]:,} ({params[1] / params[0] - 1:+.2%})")
    print(f"FLOPs per image       {flops[0]:,} -> {flops[1]:,} ({flops[1] / flops[0] - 1:+.3%})")
    path = write_results(f"fold_{net.name.replace('/', '_')}_{len(blocks)}blocks_batch{len(x)}", {
        "model": net.name, "blocks": blocks, "batch": len(x), "repeats": args.repeats,
        "ms_per_image": {k: spread(v) for k, v in ms.items()}, "ratio_folded_over_original": spread(ratio),
        "parameters": params, "flops": flops})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
