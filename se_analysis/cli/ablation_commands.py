"""Commands that replace gates and measure what changes: ``ablate``, ``sweep``, ``fold``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from se_analysis.ablation.fold_search import FOLDABLE_MODES, fold_run, greedy_fold
from se_analysis.ablation.inputs import ablation_inputs
from se_analysis.ablation.spec import MODES, Ablation
from se_analysis.ablation.sweep import SWEEPS, run_ablation, sweep
from se_analysis.cli.common import load_net, write_tables
from se_analysis.data.image_sets import ImageSet
from se_analysis.export.tables import write_table
from se_analysis.gates.blocks import parse_block_spec, select_blocks
from se_analysis.models.fold import count_flops, count_parameters, save_folded
from se_analysis.models.senet import SENet
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["add_parsers"]


def _ablation_setup(args: argparse.Namespace) -> tuple[SENet, ImageSet, Run, Run]:
    """Model, evaluated images and reference Run for a saved Run (the same choice as the app's)."""
    run = Run.load(args.run)
    m = run.manifest
    net = load_net(m["model"], not m.get("pretrained", True), m.get("checkpoint"),
                   activations=m.get("activations", "float"), spec=m.get("model_spec"))
    if net.weights_id != run.manifest.get("weights_id"):
        raise ValueError(f"the weights of {net.name} changed since this run was made; extract it again")
    own_means = args.own_means or bool(args.reference)  # means from elsewhere: a folder is evaluated whole
    source, evaluated, reference, text = ablation_inputs(net, run, own_means=own_means,
                                                         batch_size=args.batch_size, device=args.device)
    if args.reference:
        reference = Run.load(args.reference)
        text = f"means from {args.reference} ({plural(len(reference), 'image')})"
    print(f"reference: {text}")
    return net, source, evaluated, reference


def _labelled(overall: pd.DataFrame) -> bool:
    """Whether an ablation's ``overall`` table holds label metrics (top-1, NLL): its images had labels."""
    return "top1_after" in overall and bool(overall["top1_after"].notna().any())


def _what_changed(s: pd.Series) -> str:
    """One ablation's before/after in words: top-1, NLL and flips with labels; without, what needs none."""
    flipped = f"{s['flipped_share'] * 100:.1f}% of predictions flipped"
    if "top1_after" in s and pd.notna(s["top1_after"]):
        return (f"top-1 {s['top1_before'] * 100:.2f}% -> {s['top1_after'] * 100:.2f}% "
                f"({s['top1_change'] * 100:+.2f} points), NLL {s['nll_before']:.4f} -> {s['nll_after']:.4f}, "
                f"{flipped} ({int(s['right_to_wrong'])} right->wrong, {int(s['wrong_to_right'])} wrong->right)")
    return (f"no labels, so no accuracy: {flipped}, confidence {s['confidence_before'] * 100:.1f}% -> "
            f"{s['confidence_after'] * 100:.1f}% ({s['confidence_change'] * 100:+.1f} points), "
            f"KL(before || after) {s['kl_before_after']:.4f}")


def _cmd_ablate(args: argparse.Namespace) -> int:
    net, source, evaluated, reference = _ablation_setup(args)
    blocks = tuple(select_blocks(evaluated.gate_names, parse_block_spec(args.blocks)))
    result = run_ablation(net, source, evaluated, Ablation(blocks, args.mode, args.constant, args.seed), reference,
                          batch_size=args.batch_size, device=args.device)
    s = result.overall.iloc[0]
    print(f"{s['ablation']} on {plural(int(s['n']), 'image')}: {_what_changed(s)}")
    write_tables(result.tables(), args.out)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    net, source, evaluated, reference = _ablation_setup(args)
    result = sweep(net, source, evaluated, args.kind, args.mode, reference, constant=args.constant,
                   batch_size=args.batch_size, device=args.device, method=args.method)
    cols = ["blocks", "k"] + (["top1_after", "top1_change", "nll_change"] if _labelled(result.overall) else
                              ["confidence_change", "kl_before_after"]) + ["flipped_share"]
    print(result.overall[cols].to_string(index=False, float_format="%.4f"))
    write_tables(result.tables(), args.out)
    return 0


def _cmd_fold(args: argparse.Namespace) -> int:
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
          f"{_what_changed(s)} -> {target}")
    print(f"open it with: python -m se_analysis extract --model {net.name} --checkpoint {target} ...")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``ablate``, ``sweep`` and ``fold``."""
    for name, help_text in (("ablate", "replace the gates of chosen blocks and compare before/after"),
                            ("sweep", "ablate over depth: each block alone, or the last / first k blocks")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--run", required=True, help="a Run folder written by `extract` (its model and images are reused)")
        if name == "ablate":
            p.add_argument("--blocks", required=True, help="gate names, fnmatch patterns or indices, comma-separated: "
                                                           "SE_6_2,SE_6_3 or 'SE_6_*' or -1 (the deepest); a lone "
                                                           "number n means the last n blocks")
        else:
            p.add_argument("--kind", default="one-at-a-time", choices=SWEEPS)
            p.add_argument("--method", default="auto", choices=["auto", "suffix", "full"],
                           help="suffix: re-run only what is downstream of the replaced gates (default when the "
                                "model traces); full: whole forward passes")
        p.add_argument("--mode", default="mean", choices=MODES)
        p.add_argument("--constant", type=float, default=1.0, help="the value for --mode constant (1.0 = identity)")
        p.add_argument("--seed", type=int, default=0, help="for --mode shuffle")
        p.add_argument("--reference", default=None, help="a Run whose means to use (default: the sample set's "
                                                          "reference half; for a labelled folder, the first half of "
                                                          "each class, the other half evaluated; else the evaluated "
                                                          "images themselves)")
        p.add_argument("--own-means", action="store_true", help="take the means from the evaluated images "
                                                                "themselves, all of them, even in a labelled folder")
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
    p.add_argument("--mode", default="mean", choices=FOLDABLE_MODES)
    p.add_argument("--constant", type=float, default=1.0)
    p.add_argument("--reference", default=None, help="a Run whose means to use (default as for ablate)")
    p.add_argument("--own-means", action="store_true", help="as for ablate")
    p.add_argument("--out", required=True, help="FILE.safetensors (with --blocks) or a folder (with --budget)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_fold)
