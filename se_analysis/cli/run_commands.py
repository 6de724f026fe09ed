"""Commands that make and read Runs: ``models``, ``extract``, ``stats``."""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from se_analysis.analysis import stats
from se_analysis.analysis.quantiles import block_quantiles
from se_analysis.cli.common import (
    GROUP_BY_HELP,
    group_by_arg,
    image_source,
    keep_separation_tables,
    load_net,
    own_model_spec,
)
from se_analysis.data.suitability import input_warnings
from se_analysis.export.tables import write_table
from se_analysis.models.catalog import catalog_file, se_architectures
from se_analysis.models.user_code import MODELS_ENV, registered_models
from se_analysis.models.zoo import ZOO
from se_analysis.runs.distributed import extract_distributed, world
from se_analysis.runs.extract import extract
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["add_parsers"]


def _cmd_models(args: argparse.Namespace) -> int:
    if not args.all:
        for e in ZOO.values():
            print(f"{e.name:32s} {e.expected_gates:3d} SE gates  {e.description}")
        for name, code in registered_models(reserved=ZOO).items():
            print(f"{name:32s}   {'?':>1s} SE gates  your own code: {code} ({MODELS_ENV})")
        print("\n`models --all` lists every timm and torchvision architecture with SE gates; any of them loads as "
              "timm/<arch>[.<pretrained tag>] or torchvision/<arch>[.<weights>], and your own code as "
              "--model path/to/file.py:function")
        return 0
    with tqdm(total=None, unit="arch", desc="listing (once per library version)", disable=args.quiet,
              file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        catalog = se_architectures(refresh=args.refresh, workers=args.scan_workers, progress=progress)
    shown = [a for a in catalog.architectures if not args.pattern or fnmatch.fnmatch(a.name, f"*{args.pattern}*")]
    for a in shown:
        weights = f"  weights: {a.weights[0]} (default)" + "".join(f", {w}" for w in a.weights[1:]) if a.weights \
            else "  no pretrained weights"
        print(f"{a.name:40s} {a.gates:3d} SE gates{weights}")
    counts = catalog.counts()
    print(f"\n{plural(len(shown), 'architecture')} shown; with SE gates: {counts.get('timm', 0)} in timm "
          f"{catalog.versions['timm']}, {counts.get('torchvision', 0)} in torchvision "
          f"{catalog.versions['torchvision']}, of {catalog.scanned} scanned in {catalog.seconds:.0f} s "
          f"(cached in {catalog_file(catalog.versions)})", file=sys.stderr)
    if catalog.failed:
        print(f"{plural(len(catalog.failed), 'architecture')} could not be built and are left out: "
              + ", ".join(f"{k} ({v})" for k, v in catalog.failed.items()), file=sys.stderr)
    return 0


def _precompute(folder: str, quiet: bool) -> None:
    """Keep the saved Run's PCA and decodability in its folder, so the Depth page opens at once wherever it goes."""
    run = Run.load(folder)
    if run.has_gate_arrays and len(run):
        try:
            keep_separation_tables(run, quiet=quiet)
        except Exception as e:  # the Run is saved: the Depth page computes them on its first open instead
            print(f"warning: the PCA and decodability were not kept ({type(e).__name__}: {e}); the Depth page "
                  "computes them when first opened", file=sys.stderr)


def _cmd_extract(args: argparse.Namespace) -> int:
    spec = own_model_spec(args.model, args.classes, args.input_size, args.mean, args.std)
    net = load_net(args.model, args.random_weights, args.checkpoint, args.trust_pickle, args.activations,
                   spec=spec)
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
            _precompute(args.out, args.quiet)
            print(f"{plural(len(run), 'image')} from {plural(world_size, 'process', 'processes')}, "
                  f"{len(run.skipped)} skipped -> {args.out}")
        return 0
    partial = Path(f"{str(args.out).rstrip('/')}.partial")  # finished chunks: a killed run resumes from them
    with tqdm(total=len(source), unit="img", desc="extract", disable=args.quiet) as bar:
        reports = []  # extract reports once before its first batch: images done then came from resumed chunks

        def progress(done: int, total: int) -> None:
            if not reports and done > 0 and not args.quiet:
                bar.write(f"resuming: {plural(done, 'image')} already done in {partial}")
            reports.append(done)
            bar.update(done - bar.n)

        run = extract(net, source, batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                      progress=progress, resume_dir=None if args.summary_only else partial, **options)
    run.save(args.out)
    shutil.rmtree(partial, ignore_errors=True)
    _precompute(args.out, args.quiet)
    acc = run.images["correct"].dropna()
    print(f"{plural(len(run), 'image')}, {plural(len(run.gate_names), 'gate')}, "
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
        "quantiles": lambda: block_quantiles(run),
    }[args.kind]()
    path = write_table(table, args.out)
    if args.kind == "block":
        print(table[["block", "specificity", "saturation_high", "saturation_low"]].to_string(index=False,
                                                                                           float_format="%.3f"))
    print(f"{plural(len(table), 'row')} -> {path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``models``, ``extract`` and ``stats``."""
    p = sub.add_parser("models", help="list the SE architectures this tool knows (--all: every timm and "
                                      "torchvision one with SE gates)")
    p.add_argument("pattern", nargs="?", default=None, help="with --all: only names containing this (fnmatch "
                                                              "patterns too: 'efficientnet*b[0-3]')")
    p.add_argument("--all", action="store_true", help="every timm and torchvision architecture with SE gates, with "
                   "its gate count and pretrained weights (built once per library version, then cached)")
    p.add_argument("--refresh", action="store_true", help="with --all: build the listing again")
    p.add_argument("--scan-workers", type=int, default=None, help="with --all: processes that build the listing "
                                                                  "(default: one per CPU core, at most 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("extract", help="run a model over images and save a Run (gates, logits, predictions)")
    p.add_argument("--model", default="default", help="a name from `models` (default: the embedded default), "
                   "timm/<arch>[.<tag>], torchvision/<arch>[.<weights>] (`models --all`), or your own code: "
                   "path/to/file.py:function or package.module:function, the function returning an nn.Module "
                   "(THIS RUNS THAT CODE), or a name from SE_ANALYSIS_MODELS")
    p.add_argument("--classes", default=None, help="own code: a text file of class names, one a line (default: "
                   "the module's class_names, ImageNet's for 1000 outputs, else 'class <i>')")
    p.add_argument("--input-size", type=int, nargs="+", default=None, metavar="N",
                   help="own code: C H W, or one side (default: 3 224 224, or the module's pretrained_cfg)")
    p.add_argument("--mean", type=float, nargs="+", default=None, help="own code: per-channel mean (default: "
                   "ImageNet's 0.485 0.456 0.406; the manifest records which)")
    p.add_argument("--std", type=float, nargs="+", default=None, help="own code: per-channel std (default: "
                   "ImageNet's 0.229 0.224 0.225)")
    p.add_argument("--random-weights", action="store_true", help="use random initialisation instead of trained weights")
    p.add_argument("--activations", default="float", choices=["float", "deployed"],
                   help="the default only: 'deployed' quantises activations to uint8 as Google's TFLite file does")
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
    p.add_argument("--by", default="label", type=group_by_arg, help=f"group images by {GROUP_BY_HELP}")
    p.set_defaults(func=_cmd_stats)
