"""Commands that make and read Runs: ``models``, ``extract``, ``stats``."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from se_analysis.analysis import stats
from se_analysis.cli.common import image_source, load_net
from se_analysis.data.suitability import input_warnings
from se_analysis.export.tables import write_table
from se_analysis.models.zoo import ZOO
from se_analysis.runs.distributed import extract_distributed, world
from se_analysis.runs.extract import extract
from se_analysis.runs.run import Run

__all__ = ["add_parsers"]


def _cmd_models(args: argparse.Namespace) -> int:
    for e in ZOO.values():
        print(f"{e.name:32s} {e.expected_gates:3d} SE gates  {e.description}")
    return 0


def _cmd_extract(args: argparse.Namespace) -> int:
    net = load_net(args.model, args.random_weights, args.checkpoint, args.trust_pickle)
    source = image_source(args.data, args.split, net)
    if len(source) == 0:
        print(f"error: no images found in {args.data}", file=sys.stderr)
        return 2
    if source.note:
        print(f"note: {source.note}", file=sys.stderr)
    for warning in input_warnings(source, net.preprocessing):
        print(f"warning: {warning}", file=sys.stderr)
    rank, world_size, _ = world()
    options = dict(summary_only=args.summary_only, store_dtype=np.float16 if args.float16 else np.float32,
                   channels_last=args.channels_last,
                   amp_dtype={"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp))
    if world_size > 1:  # started by torchrun: each rank extracts its shard, rank 0 merges
        run = extract_distributed(net, source, args.out, batch_size=args.batch_size, device=args.device,
                                  num_workers=args.workers, **options)
        if rank == 0:
            print(f"{len(run)} images from {world_size} processes, {len(run.skipped)} skipped -> {args.out}")
        return 0
    partial = Path(f"{str(args.out).rstrip('/')}.partial")  # finished chunks: a killed run resumes from them
    with tqdm(total=len(source), unit="img", desc="extract", disable=args.quiet) as bar:
        def progress(done: int, total: int) -> None:
            if bar.n == 0 and done > 0 and not args.quiet:
                bar.write(f"resuming: {done} images were already done in {partial}")
            bar.update(done - bar.n)

        run = extract(net, source, batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                      progress=progress, resume_dir=None if args.summary_only else partial, **options)
    run.save(args.out)
    shutil.rmtree(partial, ignore_errors=True)
    acc = run.images["correct"].dropna()
    print(f"{len(run)} images, {len(run.gate_names)} gates, "
          + (f"top-1 {acc.mean() * 100:.2f}%" if len(acc) else "no labels")
          + f", {len(run.skipped)} skipped -> {args.out}")
    for src, reason in run.skipped.itertuples(index=False):
        print(f"  skipped {src}: {reason}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    run = Run.load(args.run)
    table = {
        "channel": lambda: stats.channel_stats(run, by=args.by),
        "block": lambda: stats.block_stats(run, by=args.by),
        "quantiles": lambda: stats.block_quantiles(run),
    }[args.kind]()
    path = write_table(table, args.out)
    if args.kind == "block":
        print(table[["block", "specificity", "saturation_high", "saturation_low"]].to_string(index=False,
                                                                                           float_format="%.3f"))
    print(f"{len(table)} rows -> {path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``models``, ``extract`` and ``stats``."""
    p = sub.add_parser("models", help="list the SE architectures this tool knows")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("extract", help="run a model over images and save a Run (gates, logits, predictions)")
    p.add_argument("--model", default="default", help="zoo name (see `models`); default: the embedded default")
    p.add_argument("--random-weights", action="store_true", help="use random initialisation instead of trained weights")
    p.add_argument("--checkpoint", default=None, help="weights for --model: .safetensors, or a .pt/.pth state dict "
                                                        "(loaded with weights_only=True; strict key matching)")
    p.add_argument("--trust-pickle", action="store_true", help="allow a checkpoint holding a pickled whole model: "
                                                                 "THIS RUNS CODE FROM THE FILE; only for files you trust")
    p.add_argument("--data", default="sample", help="'sample' (the model's bundled images: for the default, "
                   "ImageNet val, 10 classes x 50) or a folder of images (one sub-folder per class, or flat)")
    p.add_argument("--split", default="all", choices=["all", "reference", "eval"], help="part of the sample set")
    p.add_argument("--out", required=True, help="folder to write the Run to")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu, cuda, mps; default: the best available")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--summary-only", action="store_true", help="keep only statistics per block and class (memory "
                                                                 "grows with classes x channels, not images)")
    p.add_argument("--float16", action="store_true", help="store gate arrays as float16 (half the size)")
    p.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="mixed precision (autocast) for the forward pass")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for the convolutions")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("stats", help="write a statistics table of a Run (CSV or Parquet by extension)")
    p.add_argument("--run", required=True, help="a Run folder written by `extract`")
    p.add_argument("--out", required=True, help="FILE.csv or FILE.parquet")
    p.add_argument("--kind", default="channel", choices=["channel", "block", "quantiles"],
                   help="channel: mean/std per block x channel x class; block: specificity and saturation per "
                        "block; quantiles: gate distribution per block")
    p.add_argument("--by", default="label", choices=["label", "pred"], help="group images by true label or prediction")
    p.set_defaults(func=_cmd_stats)
