"""Headless commands: ``python -m se_analysis {models,extract,stats,train-default} --help``.

The CLI calls the same library functions as the app, and writes the same tidy tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

__all__ = ["main", "write_table"]


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as CSV or Parquet, chosen by the file's extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def _cmd_models(args: argparse.Namespace) -> int:
    from .zoo import ZOO

    for e in ZOO.values():
        print(f"{e.name:32s} {e.expected_gates:3d} SE gates  {e.description}")
    return 0


def _source(spec: str, split: str, class_names: list[str]):
    from .data import image_folder, sample_set

    if spec == "sample":
        return sample_set(split)
    return image_folder(spec, class_names)


def _cmd_extract(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .extract import extract
    from .zoo import load_model

    net = load_model(args.model, pretrained=not args.random_weights)
    source = _source(args.data, args.split, net.class_names)
    if len(source) == 0:
        print(f"error: no images found in {args.data}", file=sys.stderr)
        return 2
    with tqdm(total=len(source), unit="img", desc="extract", disable=args.quiet) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        run = extract(net, source, batch_size=args.batch_size, device=args.device, num_workers=args.workers,
                      progress=progress)
    run.save(args.out)
    acc = run.images["correct"].dropna()
    print(f"{len(run)} images, {len(run.gate_names)} gates, "
          + (f"top-1 {acc.mean() * 100:.2f}%" if len(acc) else "no labels")
          + f", {len(run.skipped)} skipped -> {args.out}")
    for src, reason in run.skipped.itertuples(index=False):
        print(f"  skipped {src}: {reason}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from . import stats
    from .runs import Run

    run = Run.load(args.run)
    table = {
        "channel": lambda: stats.channel_stats(run, by=args.by),
        "block": lambda: stats.block_summary(run, by=args.by),
        "quantiles": lambda: stats.block_quantiles(run),
    }[args.kind]()
    path = write_table(table, args.out)
    if args.kind == "block":
        print(table[["block", "specificity", "saturation_high", "saturation_low"]].to_string(index=False,
                                                                                           float_format="%.3f"))
    print(f"{len(table)} rows -> {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import TrainSettings, train_default

    card = train_default(args.out, TrainSettings(epochs=args.epochs, seed=args.seed), fmnist_dir=args.fmnist_dir)
    print(f"test top-1 {card['test_top1'] * 100:.2f}% after {card['wall_time_seconds'] / 60:.1f} min -> {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m se_analysis", description="See what the gates of an SE network do.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the SE architectures this tool knows")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("extract", help="run a model over images and save a Run (gates, logits, predictions)")
    p.add_argument("--model", default="default", help="zoo name (see `models`); default: the embedded default")
    p.add_argument("--random-weights", action="store_true", help="use random initialisation instead of trained weights")
    p.add_argument("--data", default="sample", help="'sample' (the bundled set) or a folder of images (one sub-folder per class, or flat)")
    p.add_argument("--split", default="all", choices=["all", "reference", "eval"], help="part of the sample set")
    p.add_argument("--out", required=True, help="folder to write the Run to")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None, help="cpu, cuda, mps; default: the best available")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
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

    p = sub.add_parser("train-default", help="train the embedded default SE-ResNet on Fashion-MNIST")
    p.add_argument("--out", default="data", help="where to write weights, model card and sample set")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fmnist-dir", default=None, help="folder with the idx files (default: Debian's location)")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, NotADirectoryError, KeyError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
