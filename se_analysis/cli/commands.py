"""Headless commands: ``python -m se_analysis {models,extract,stats,ablate,sweep,export,train-default} --help``.

The CLI calls the same library functions as the app, and writes the same tidy tables.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from se_analysis.export.tables import write_table

__all__ = ["main", "write_table"]


def _cmd_models(args: argparse.Namespace) -> int:
    from se_analysis.models.zoo import ZOO

    for e in ZOO.values():
        print(f"{e.name:32s} {e.expected_gates:3d} SE gates  {e.description}")
    return 0


def _source(spec: str, split: str, net):
    """``sample`` (the model's bundled images) or a folder of images."""
    from se_analysis.data.labels import wnids_for
    from se_analysis.data.sources import image_folder, sample_set

    if spec == "sample":
        if net.sample is None:
            raise ValueError(f"{net.name} has no bundled sample set; pass --data with a folder of images")
        return sample_set(split, net.sample)
    return image_folder(spec, net.class_names, wnids_for(net.class_names))


def _load_net(model: str, random_weights: bool = False, checkpoint: str | None = None, trust_pickle: bool = False):
    """A zoo model, with a user checkpoint's weights when one is given."""
    from se_analysis.models.checkpoints import load_checkpoint
    from se_analysis.models.zoo import load_model

    if checkpoint:
        if trust_pickle:
            print("warning: --trust-pickle runs code stored in the checkpoint file", file=sys.stderr)
        return load_checkpoint(load_model(model, pretrained=False), checkpoint, trust_pickle=trust_pickle)
    return load_model(model, pretrained=not random_weights)


def _cmd_extract(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from se_analysis.runs.extract import extract

    net = _load_net(args.model, args.random_weights, args.checkpoint, args.trust_pickle)
    source = _source(args.data, args.split, net)
    if len(source) == 0:
        print(f"error: no images found in {args.data}", file=sys.stderr)
        return 2
    if source.note:
        print(f"note: {source.note}", file=sys.stderr)
    from se_analysis.data.suitability import input_warnings

    for warning in input_warnings(source, net.preprocessing):
        print(f"warning: {warning}", file=sys.stderr)
    from se_analysis.runs.distributed import extract_distributed, world

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
                      progress=progress, resume_dir=partial, **options)
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
    from se_analysis.analysis import stats
    from se_analysis.runs.run import Run

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


def _ablation_setup(args: argparse.Namespace):
    """Model, evaluated images and reference Run for a saved Run (the same choice as the app's)."""
    from se_analysis.ablation.sweep import ablation_inputs
    from se_analysis.runs.run import Run

    run = Run.load(args.run)
    m = run.manifest
    net = _load_net(m["model"], not m.get("pretrained", True), m.get("checkpoint"))
    if net.weights_id != run.manifest.get("weights_id"):
        raise ValueError(f"the weights of {net.name} changed since this run was made; extract it again")
    source, evaluated, reference, text = ablation_inputs(net, run, batch_size=args.batch_size, device=args.device)
    if args.reference:
        reference = Run.load(args.reference)
        text = f"means from {args.reference} ({len(reference)} images)"
    print(f"reference: {text}")
    return net, source, evaluated, reference


def _write_tables(tables: dict[str, pd.DataFrame], out: str) -> None:
    """``overall`` to OUT; the other tables beside it as OUT_<name> with the same extension."""
    path = Path(out)
    for name, df in tables.items():
        target = path if name == "overall" else path.with_name(f"{path.stem}_{name}{path.suffix or '.csv'}")
        write_table(df, target)
        print(f"  {name}: {len(df)} rows -> {target}")


def _cmd_ablate(args: argparse.Namespace) -> int:
    from se_analysis.ablation.sweep import Ablation, run_ablation

    net, source, evaluated, reference = _ablation_setup(args)
    from se_analysis.gates.blocks import parse_block_spec, select_blocks

    blocks = tuple(select_blocks(evaluated.gate_names, parse_block_spec(args.blocks)))
    result = run_ablation(net, source, evaluated, Ablation(blocks, args.mode, args.constant, args.seed), reference,
                          batch_size=args.batch_size, device=args.device)
    s = result.overall.iloc[0]
    print(f"{s['ablation']} on {int(s['n'])} images: top-1 {s['top1_before'] * 100:.2f}% -> {s['top1_after'] * 100:.2f}% "
          f"({s['top1_change'] * 100:+.2f} points), NLL {s['nll_before']:.4f} -> {s['nll_after']:.4f}, "
          f"{s['flipped_share'] * 100:.1f}% flipped ({int(s['right_to_wrong'])} right->wrong, "
          f"{int(s['wrong_to_right'])} wrong->right)")
    _write_tables(result.tables(), args.out)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from se_analysis.ablation.sweep import sweep

    net, source, evaluated, reference = _ablation_setup(args)
    result = sweep(net, source, evaluated, args.kind, args.mode, reference, constant=args.constant,
                   batch_size=args.batch_size, device=args.device, method=args.method)
    cols = ["blocks", "k", "top1_after", "top1_change", "nll_change", "flipped_share"]
    print(result.overall[cols].to_string(index=False, float_format="%.4f"))
    _write_tables(result.tables(), args.out)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from se_analysis.export.files import export_run
    from se_analysis.runs.run import Run

    run = Run.load(args.run)
    ablation = None
    if args.ablation:
        base = Path(args.ablation)
        ablation = {name: _read_table(base if name == "overall" else base.with_name(f"{base.stem}_{name}{base.suffix}"))
                    for name in ("overall", "per_class", "flips", "confusion", "downstream")}
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    blocks = None
    if args.blocks:
        from se_analysis.gates.blocks import parse_block_spec, select_blocks

        blocks = select_blocks(run.gate_names, parse_block_spec(args.blocks))
    fold = _read_table(Path(args.fold)) if args.fold else None
    channels = []
    for spec in (args.channel or []):
        block, _, ch = spec.rpartition(":")
        if not block or not ch.isdigit():
            print(f"error: --channel takes BLOCK:CHANNEL (e.g. SE_6_3:7), not {spec!r}", file=sys.stderr)
            return 2
        channels.append((block, int(ch)))
    other = Run.load(args.compare) if args.compare else None
    paths = export_run(run, args.out, formats, args.table_format, classes, blocks, ablation, report=not args.no_report,
                       fold=fold, channels=channels, compare=other)
    if args.per_image:
        from se_analysis.export.tables import gate_values_table, write_table

        paths.append(write_table(gate_values_table(run, blocks), Path(args.out) / f"gate_values.{args.table_format}"))
    print(f"{len(paths)} files -> {args.out}" + ("" if args.no_report else f" (report: {Path(args.out) / 'report.html'})"))
    return 0


def _read_table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _cmd_train(args: argparse.Namespace) -> int:
    from se_analysis.models.bundled.fmnist.train import TrainSettings, train_default

    card = train_default(args.out, TrainSettings(epochs=args.epochs, seed=args.seed), fmnist_dir=args.fmnist_dir)
    print(f"test top-1 {card['test_top1'] * 100:.2f}% after {card['wall_time_seconds'] / 60:.1f} min -> {args.out}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from se_analysis.models.bundled.imagenet.card import write_model_card
    from se_analysis.models.bundled.imagenet.convert import write_converted
    from se_analysis.models.senet import file_sha256

    command = "python -m se_analysis " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["convert-tflite"] else \
        f"python -m se_analysis convert-tflite {args.tflite} --out {args.out}"
    report = write_converted(args.tflite, args.out, {"conversion": command})
    print(f"{report.tensors} tensors ({report.parameters:,} parameters) mapped onto timm tf_mobilenetv3_small_100 "
          f"-> {args.out}")
    summary = gates = None
    if not args.no_check:
        summary, gates = _fidelity(args.out, args.tflite, args.images)
    card = write_model_card(Path(args.out).parent, Path(args.out), file_sha256(args.tflite), command, report,
                            summary, gates)
    print(f"model card -> {card}")
    return 0


def _fidelity(weights: str, tflite: str, images: str | None):
    """Fidelity tables of converted weights on a folder of ImageNet images (default: the bundled 500)."""
    from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids
    from se_analysis.data.sources import image_folder, sample_set
    from se_analysis.models.bundled.imagenet.fidelity import fidelity_tables
    from se_analysis.models.bundled.load import load_default

    net = load_default(weights)
    source = sample_set("all") if images is None else image_folder(images, imagenet_class_names(), imagenet_wnids())
    labels = np.array([-1 if it.label is None else it.label for it in source.items])
    summary, gates, _ = fidelity_tables(net, [it.source for it in source.items], labels, tflite)
    print(summary.to_string(index=False, float_format="%.3f"))
    print(gates.to_string(index=False, float_format="%.4f"))
    return summary, gates


def _cmd_fidelity(args: argparse.Namespace) -> int:
    from se_analysis.data.paths import IMAGENET_TFLITE, IMAGENET_WEIGHTS

    summary, gates = _fidelity(args.weights or str(IMAGENET_WEIGHTS), args.tflite or str(IMAGENET_TFLITE), args.data)
    if args.out:
        write_table(summary, args.out)
        write_table(gates, Path(args.out).with_name(f"{Path(args.out).stem}_gates{Path(args.out).suffix or '.csv'}"))
    return 0


def _cmd_fold(args: argparse.Namespace) -> int:
    import torch

    from se_analysis.ablation.fold_search import fold_run, greedy_fold
    from se_analysis.ablation.sweep import Ablation, run_ablation
    from se_analysis.gates.blocks import parse_block_spec, select_blocks
    from se_analysis.models.fold import count_flops, count_parameters, save_folded

    net, source, evaluated, reference = _ablation_setup(args)
    out = Path(args.out)
    if args.budget is not None:
        table = greedy_fold(net, source, evaluated, reference, args.budget, batch_size=args.batch_size,
                            device=args.device)
        out.mkdir(parents=True, exist_ok=True)
        write_table(table, out / "fold_pareto.csv")
        print(table.to_string(index=False, float_format="%.4f"))
        blocks = table["blocks"].iloc[-1].split(",") if table["blocks"].iloc[-1] else []
        if not blocks:
            print(f"no block folds within {args.budget} points")
            return 0
        target = out / "folded.safetensors"
    else:
        if not args.blocks:
            raise ValueError("give --blocks, or --budget to search")
        blocks = select_blocks(evaluated.gate_names, parse_block_spec(args.blocks))
        target = out
    folded, plan, _ = fold_run(net, evaluated, blocks, reference, args.mode, args.constant)
    save_folded(folded, plan, target, net.name, f"{args.mode} over the reference images of {args.run}")
    s = run_ablation(net, source, evaluated, Ablation(tuple(blocks), args.mode, args.constant), reference,
                     batch_size=args.batch_size, device=args.device).overall.iloc[0]
    example = torch.stack([net.transform(source.items[0].load())])
    for f in plan:
        print(f"  {f.block}: SE block {f.se_path} removed, its constant gate folded into {f.into} ({f.how})")
    print(f"parameters {count_parameters(net.module):,} -> {count_parameters(folded):,}; "
          f"FLOPs {count_flops(net.module, example):,} -> {count_flops(folded, example):,}; "
          f"top-1 {s['top1_before'] * 100:.2f}% -> {s['top1_after'] * 100:.2f}%, "
          f"NLL {s['nll_before']:.4f} -> {s['nll_after']:.4f} -> {target}")
    print(f"open it with: python -m se_analysis extract --model {net.name} --checkpoint {target} ...")
    return 0


def _cmd_contrast(args: argparse.Namespace) -> int:
    from se_analysis.analysis.contrast import contrast
    from se_analysis.runs.run import Run

    run = Run.load(args.run)
    table = contrast(run, args.block or run.gate_names[-1], args.a, args.b, by=args.by, n_boot=args.n_boot)
    write_table(table, args.out)
    if args.figure:
        from se_analysis.export.files import figure_bytes
        from se_analysis.plots.gates import contrast_figure

        fmt = Path(args.figure).suffix.lstrip(".").lower() or "png"
        Path(args.figure).write_bytes(figure_bytes(contrast_figure(table, args.top), fmt) if fmt != "html" else
                                      contrast_figure(table, args.top).to_html().encode())
    top = table.head(10)[["channel", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "cohens_d", "p_adjusted"]]
    print(top.to_string(index=False, float_format="%.4f"))
    print(f"{int(table['significant'].sum())} of {len(table)} channels differ at FDR 5 % -> {args.out}")
    return 0


def _cmd_top_images(args: argparse.Namespace) -> int:
    from se_analysis.analysis.drilldown import (
        channel_rank,
        channel_values,
        contact_sheet,
        top_images,
    )
    from se_analysis.analysis.stats import channel_stats
    from se_analysis.runs.run import Run

    run = Run.load(args.run)
    block = args.block or run.gate_names[-1]
    table = top_images(run, block, args.channel, args.k)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "top_images.csv")
    write_table(channel_values(run, block, args.channel, args.by), out / "channel_values.csv")
    contact_sheet(table).save(out / "contact_sheet.png")
    rank = channel_rank(channel_stats(run, by=args.by, blocks=[block]), block, args.channel)
    print(f"{block} channel {args.channel}: eta squared {rank['specificity']:.3f}, rank {rank['rank']} of "
          f"{rank['channels']} (block median {rank['median_specificity']:.3f})")
    print(table[["end", "rank", "value", "label_name", "pred_name"]].to_string(index=False, float_format="%.4f"))
    print(f"-> {out / 'contact_sheet.png'}, {out / 'top_images.csv'}, {out / 'channel_values.csv'}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from se_analysis.analysis.two_runs import (
        block_shift,
        channel_shift,
        specificity_pair,
    )
    from se_analysis.export.files import figure_bytes
    from se_analysis.plots.two_runs import (
        difference_per_channel,
        shift_per_block,
        specificity_both,
    )
    from se_analysis.runs.run import Run

    if len(args.run) != 2:
        print("error: give --run twice (A, then B)", file=sys.stderr)
        return 2
    a, b = (Run.load(r) for r in args.run)
    labels = tuple(args.labels.split(",")) if args.labels else ("A", "B")
    shift = channel_shift(a, b)
    blocks = block_shift(shift)
    pair = specificity_pair(a, b, labels)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in (("channel_shift", shift), ("block_shift", blocks), ("specificity_both", pair)):
        write_table(df, out / f"{name}.csv")
    figs = {"shift_per_block": shift_per_block(blocks), "specificity_both": specificity_both(pair),
            **{f"difference_{blk}": difference_per_channel(shift, blk) for blk in blocks["block"]}}
    for name, fig in figs.items():
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            path = out / f"{name}.{fmt}"
            if fmt == "html":
                fig.write_html(path, include_plotlyjs="directory")
            else:
                path.write_bytes(figure_bytes(fig, fmt))
    print(blocks.to_string(index=False, float_format="%.4f"))
    print(f"-> {out}")
    return 0


def _cmd_gate_table(args: argparse.Namespace) -> int:
    from se_analysis.ablation.sweep import ablation_inputs
    from se_analysis.runs.extract import extract_cached
    from se_analysis.views.gate_table import (
        gate_table,
        markdown_table,
        paper_observations,
    )

    net = _load_net(args.model)
    run, _ = extract_cached(net, _source("sample", "all", net), batch_size=args.batch_size, device=args.device)
    ev_source, evaluated, reference, text = ablation_inputs(net, run, batch_size=args.batch_size, device=args.device)
    print(f"{len(run)} images for the statistics; ablations: {text}")
    table = gate_table(net, run, ev_source, evaluated, reference, batch_size=args.batch_size, device=args.device)
    write_table(table, args.out)
    print(markdown_table(table))
    print()
    for line in paper_observations(table):
        print(f"- {line}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m se_analysis", description="See what the gates of an SE network do.")
    sub = parser.add_subparsers(dest="command", required=True)

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

    for name, help_text in (("ablate", "replace the gates of chosen blocks and compare before/after"),
                            ("sweep", "ablate over depth: each block alone, or the last / first k blocks")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--run", required=True, help="a Run folder written by `extract` (its model and images are reused)")
        if name == "ablate":
            p.add_argument("--blocks", required=True, help="gate names, fnmatch patterns or indices, comma-separated: "
                                                           "SE_6_2,SE_6_3 or 'SE_6_*' or -1 (the deepest); a lone "
                                                           "number n means the last n blocks")
        else:
            p.add_argument("--kind", default="one-at-a-time", choices=["one-at-a-time", "cumulative-from-end",
                                                                        "cumulative-from-start"])
            p.add_argument("--method", default="auto", choices=["auto", "suffix", "full"],
                           help="suffix: re-run only what is downstream of the replaced gates (default when the "
                                "model traces); full: whole forward passes")
        p.add_argument("--mode", default="mean", choices=["mean", "class-mean", "predicted-class-mean", "constant",
                                                          "shuffle"])
        p.add_argument("--constant", type=float, default=1.0, help="the value for --mode constant (1.0 = identity)")
        p.add_argument("--seed", type=int, default=0, help="for --mode shuffle")
        p.add_argument("--reference", default=None, help="a Run whose means to use (default: the sample set's "
                                                          "reference half, or the evaluated images themselves)")
        p.add_argument("--out", required=True, help="FILE.csv or FILE.parquet for the summary; the other tables "
                                                    "are written beside it")
        p.add_argument("--batch-size", type=int, default=128)
        p.add_argument("--device", default=None)
        p.set_defaults(func=_cmd_ablate if name == "ablate" else _cmd_sweep)

    p = sub.add_parser("fold", help="remove SE blocks whose gates are replaced by constants, folding the constants "
                                    "into adjacent weights (exact); or search which blocks fit an accuracy budget")
    p.add_argument("--run", required=True, help="a Run folder written by `extract` (its model and images are reused)")
    p.add_argument("--blocks", default=None, help="blocks to fold: names, patterns or indices (as for ablate)")
    p.add_argument("--budget", type=float, default=None, help="instead of --blocks: fold greedily, cheapest first, "
                                                               "while top-1 drops by at most this many points")
    p.add_argument("--mode", default="mean", choices=["mean", "constant"])
    p.add_argument("--constant", type=float, default=1.0)
    p.add_argument("--reference", default=None, help="a Run whose means to use (default as for ablate)")
    p.add_argument("--out", required=True, help="FILE.safetensors (with --blocks) or a folder (with --budget)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_fold)

    p = sub.add_parser("contrast", help="which channels at a block separate class A from class B (difference, "
                                        "bootstrap interval, Cohen's d, Welch test with FDR correction)")
    p.add_argument("--run", required=True, help="a Run folder written by `extract`")
    p.add_argument("--block", default=None, help="default: the deepest block")
    p.add_argument("--a", required=True, help="class A (a class name)")
    p.add_argument("--b", required=True, help="class B")
    p.add_argument("--by", default="label", choices=["label", "pred", "folder"])
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--top", type=int, default=30, help="channels in the figure")
    p.add_argument("--out", required=True, help="FILE.csv or FILE.parquet: one row per channel")
    p.add_argument("--figure", default=None, help="FILE.png, .svg or .html for the figure")
    p.set_defaults(func=_cmd_contrast)

    p = sub.add_parser("compare", help="two Runs with the same gates side by side: mean-gate differences per channel "
                                       "(Welch + BH), the shift per block, both specificity curves")
    p.add_argument("--run", action="append", required=True, help="a Run folder; give it twice (A, then B)")
    p.add_argument("--labels", default=None, help="names of the two runs in the figures, e.g. trained,random")
    p.add_argument("--formats", default="png,html", help="figure formats, comma-separated (png, svg, html)")
    p.add_argument("--out", required=True, help="a folder for the tables and figures")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("top-images", help="the images that open and close one channel's gate: contact sheet, table, "
                                          "per-class values and the channel's specificity rank")
    p.add_argument("--run", required=True, help="a Run folder written by `extract`")
    p.add_argument("--block", default=None, help="default: the deepest block")
    p.add_argument("--channel", type=int, required=True)
    p.add_argument("--k", type=int, default=16, help="images at each end")
    p.add_argument("--by", default="label", choices=["label", "pred", "folder"])
    p.add_argument("--out", required=True, help="a folder: contact_sheet.png, top_images.csv, channel_values.csv")
    p.set_defaults(func=_cmd_top_images)

    p = sub.add_parser("gate-table", help="the paper's analysis per block on a model's bundled images: "
                                          "specificity with chance level, saturation, cost of mean/off ablations")
    p.add_argument("--model", default="default")
    p.add_argument("--out", default="gate_table.csv")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_gate_table)

    p = sub.add_parser("export", help="write a Run's figures (PNG, SVG, HTML), tables and a one-file HTML report")
    p.add_argument("--run", required=True, help="a Run folder written by `extract`")
    p.add_argument("--out", required=True, help="folder to write to")
    p.add_argument("--formats", default="png,svg,html", help="figure formats, comma-separated (png, svg, html)")
    p.add_argument("--table-format", default="csv", choices=["csv", "parquet"])
    p.add_argument("--classes", default=None, help="classes for the paper figure, comma-separated")
    p.add_argument("--blocks", default=None, help="blocks for the paper figure and heatmaps: names, patterns or "
                                                  "indices, comma-separated (as for ablate)")
    p.add_argument("--ablation", default=None, help="an `ablate` summary file to include (its other tables beside it)")
    p.add_argument("--fold", default=None, help="a `fold --budget` Pareto table (fold_pareto.csv) to include")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--channel", action="append", default=None, help="BLOCK:CHANNEL, e.g. SE_6_3:7: add that channel's "
                                                                     "views (violin, top images, contact sheet); repeatable")
    p.add_argument("--compare", default=None, help="another Run folder with the same gates: add the Compare views "
                                                   "(this run as A)")
    p.add_argument("--per-image", action="store_true", help="also write every image's gate values (gate_values, one "
                                                            "row per image, block and channel; the --blocks only)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("convert-tflite", help="convert Google's uint8 MobileNetV3-Small TFLite file into timm "
                                              "weights (safetensors)")
    p.add_argument("tflite", help="mobilenet_v3_small_224_1.0_uint8.tflite")
    p.add_argument("--out", default="data/imagenet/mobilenetv3_small_100.safetensors")
    p.add_argument("--images", default=None, help="a folder of ImageNet images (WordNet-id sub-folders) for the "
                                                  "fidelity check; default: the bundled 500 validation images")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with the TFLite interpreter")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("fidelity", help="compare the converted default with the TFLite interpreter, image by image")
    p.add_argument("--weights", default=None, help="converted weights (default: the bundled ones)")
    p.add_argument("--tflite", default=None, help="the TFLite file (default: the bundled copy)")
    p.add_argument("--data", default=None, help="a folder of ImageNet images (default: the bundled 500)")
    p.add_argument("--out", default=None, help="FILE.csv for the summary; FILE_gates.csv beside it")
    p.set_defaults(func=_cmd_fidelity)

    p = sub.add_parser("train-default", help="train the bundled Fashion-MNIST SE-ResNet (fmnist-se-resnet)")
    p.add_argument("--out", default="data/fashion_mnist", help="where to write weights, model card and sample set")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fmnist-dir", default=None, help="folder with the idx files (default: Debian's location)")
    p.set_defaults(func=_cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, NotADirectoryError, KeyError, ValueError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "out of memory" in str(e).lower():
            print("error: out of memory: lower --batch-size and run again", file=sys.stderr)
            return 2
        if type(e) is RuntimeError:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
