"""New views: time to rebuild each new figure from cached tables, and to compute its table, at 500 to 50,000 images.

A synthetic Run with the default model's gate layout (9 blocks, 2,296 channels, 10 classes; gates
with a class signal) is built at each size. For every new view it times, alternating the views on
every repeat: the table (decodability, PCA, channel drill-down, class heatmap, two-run shift) and
the figure built from it and serialised to JSON (what Streamlit sends). The app caches the tables
per run, so a re-render costs the figure time; the first open costs both. Prints median (min-max)
in ms and writes benchmarks/results/new_views.json.

    python benchmarks/new_views_benchmark.py [--sizes 500,5000,50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import alternate, spread, write_results  # noqa: E402

from se_analysis import plots
from se_analysis.analysis import stats
from se_analysis.analysis.drilldown import channel_rank, channel_values, top_images
from se_analysis.analysis.separation import decodability, gate_pca
from se_analysis.analysis.two_runs import block_shift, channel_shift
from se_analysis.plots.separation import channel_violin, decodability_curve, pca_small_multiples
from se_analysis.plots.two_runs import difference_per_channel, shift_per_block
from se_analysis.runs.run import Run

LAYOUT = [("SE_2_1", 16), ("SE_4_1", 96), ("SE_4_2", 240), ("SE_4_3", 240), ("SE_5_1", 120), ("SE_5_2", 144),
          ("SE_6_1", 288), ("SE_6_2", 576), ("SE_6_3", 576)]


def synthetic_run(n: int, k: int = 10, seed: int = 0) -> Run:
    """n images, the default's 9 blocks; each class lifts a random tenth of each block's channels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    gates = {}
    for name, c in LAYOUT:
        lift = rng.random((k, c)) < 0.1
        gates[name] = np.clip(rng.beta(2, 5, (n, c)) + 0.3 * lift[y], 0, 1).astype(np.float32)
    logits = rng.normal(size=(n, k)).astype(np.float32)
    names = [f"class {i}" for i in range(k)]
    images = pd.DataFrame({"index": np.arange(n), "image_id": [f"img{i}" for i in range(n)], "source": "",
                           "label": y, "label_name": [names[i] for i in y], "pred": logits.argmax(1),
                           "pred_name": [names[i] for i in logits.argmax(1)], "confidence": 0.5,
                           "correct": pd.array(logits.argmax(1) == y, dtype="boolean")})
    manifest = {"class_names": names, "pretrained": True, "format": 2,
                "gates": [{"name": nm, "path": nm, "se_path": nm, "channels": c, "depth": i, "stage": 0, "position": i}
                          for i, (nm, c) in enumerate(LAYOUT)]}
    return Run(images=images, gate_values=gates, logits=logits, manifest=manifest)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,5000,50000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    out = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        run = synthetic_run(n)
        other = synthetic_run(n, seed=1)
        cs = stats.channel_stats(run)
        cached = {"decodability": decodability(run), "pca": gate_pca(run),
                  "channel": (top_images(run, "SE_6_3", 7), channel_values(run, "SE_6_3", 7),
                              channel_rank(cs, "SE_6_3", 7)),
                  "heatmap": stats.heatmap_table(cs, "SE_6_3", centre=True, sort="specificity"),
                  "shift": channel_shift(run, other)}
        tables = {
            "decodability": lambda: decodability(run),
            "pca": lambda: gate_pca(run),
            "channel": lambda: (top_images(run, "SE_6_3", 7), channel_values(run, "SE_6_3", 7),
                                channel_rank(cs, "SE_6_3", 7)),
            "heatmap": lambda: stats.heatmap_table(cs, "SE_6_3", centre=True, sort="specificity"),
            "shift": lambda: channel_shift(run, other),
        }
        figures = {
            "decodability": lambda: decodability_curve(cached["decodability"]).to_json(),
            "pca": lambda: pca_small_multiples(cached["pca"]).to_json(),
            "channel": lambda: channel_violin(cached["channel"][1], cached["channel"][2]).to_json(),
            "heatmap": lambda: plots.class_heatmap(cached["heatmap"], centred=True).to_json(),
            "shift": lambda: (shift_per_block(block_shift(cached["shift"])).to_json(),
                              difference_per_channel(cached["shift"], "SE_6_3").to_json()),
        }
        t_tab = alternate(tables, args.repeats)
        t_fig = alternate(figures, args.repeats)
        out[n] = {v: {"table_ms": spread([t * 1000 for t in t_tab[v]]), "figure_ms": spread([t * 1000 for t in t_fig[v]])}
                  for v in tables}
        print(f"\n{n} images x 2,296 channels")
        print(f"{'view':14s} {'figure from cached table (ms)':>32s} {'table (ms)':>26s}")
        for v, r in out[n].items():
            f, t = r["figure_ms"], r["table_ms"]
            flag = "ok" if f["median"] < 300 else "SLOW"
            print(f"{v:14s} {f['median']:10.0f} ({f['min']:.0f}-{f['max']:.0f}) {flag:4s} "
                  f"{t['median']:14.0f} ({t['min']:.0f}-{t['max']:.0f})")
    print(f"-> {write_results('new_views', {'repeats': args.repeats, 'by_images': out})}")


if __name__ == "__main__":
    main()
