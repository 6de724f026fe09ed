"""Commands that write a view's tables and figures: ``contrast``, ``compare``, ``top-images``, ``gate-table``,
``export`` (each view is built by its function in :mod:`se_analysis.views`, as the app's page builds it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from se_analysis.ablation.inputs import ablation_inputs
from se_analysis.analysis.drilldown import rank_text
from se_analysis.analysis.separation import separation_to_compute
from se_analysis.analysis.two_runs import check_comparable
from se_analysis.cli.common import (
    GROUP_BY_HELP,
    beside,
    group_by_arg,
    image_source,
    keep_separation_tables,
    load_net,
    read_table,
    split_list,
)
from se_analysis.export.files import export_run, write_figure, write_figures
from se_analysis.export.tables import gate_values_table, write_table
from se_analysis.gates.blocks import parse_block_spec, select_blocks
from se_analysis.runs.extract import extract_cached
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural
from se_analysis.views.channel import channel_view
from se_analysis.views.contrast import contrast_view
from se_analysis.views.gate_table import gate_table, markdown_table, paper_observations
from se_analysis.views.two_runs import two_runs_view

__all__ = ["add_parsers"]

# The file names ``compare`` has always written, for the view's short names.
COMPARE_FILE_NAMES = {"shift": "shift_per_block", "specificity": "specificity_both"}


def _cmd_contrast(args: argparse.Namespace) -> int:
    run = Run.load(args.run)
    block = args.block or run.gate_names[-1]
    view = contrast_view(run, block, args.a, args.b, by=args.by, n_boot=args.n_boot, top=args.top,
                         significant_only=args.significant_only)
    table, name = view.tables["contrast"], view.facts["name"]
    out = Path(args.out)
    if out.suffix.lower() in (".csv", ".parquet"):
        written = [write_table(table, out)]
    else:  # a folder: the table and the figures named after block and classes, as the app's downloads
        figures = view.renamed(names={"contrast": name}).figures
        written = [write_table(table, out / f"{name}.csv"),
                   *write_figures(figures, out, split_list(args.formats), self_contained=True)]
    if args.figure:  # one named file, so an HTML page carries its own plotly.js
        fmt = Path(args.figure).suffix.lstrip(".").lower() or "png"
        written.append(write_figure(view.figures["contrast"], args.figure, fmt, self_contained=True))
    top = table.head(10)[["channel", "mean_a", "mean_b", "diff", "cohens_d", "d_low", "d_high", "separates",
                          "p_adjusted"]]
    print(top.to_string(index=False, float_format="%.4f", formatters={"p_adjusted": "{:.2e}".format}))
    facts = view.facts
    print(f"{facts['significant']} of {facts['channels']} channels differ at FDR 5 %, {facts['separates']} separate "
          "the classes perfectly (ranked first)" + (f"; the table keeps the {len(table)} significant ones"
                                                    if args.significant_only else ""))
    print("-> " + ", ".join(str(p) for p in written))
    return 0


def _cmd_top_images(args: argparse.Namespace) -> int:
    run = Run.load(args.run)
    block = args.block or run.gate_names[-1]
    view = channel_view(run, block, args.channel, args.by, args.k)
    table, rank = view.tables["top_images"], view.facts["rank"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "top_images.csv")
    write_table(view.tables["channel_values"], out / "channel_values.csv")
    view.pictures["contact_sheet"].save(out / "contact_sheet.png")
    print(f"{block} channel {args.channel}: eta squared {rank['specificity']:.3f}, {rank_text(rank)} "
          f"(block median {rank['median_specificity']:.3f})")
    print(table[["end", "rank", "value", "label_name", "pred_name"]].to_string(index=False, float_format="%.4f"))
    print(f"-> {out / 'contact_sheet.png'}, {out / 'top_images.csv'}, {out / 'channel_values.csv'}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    if len(args.run) != 2:
        print("error: give --run twice (A, then B)", file=sys.stderr)
        return 2
    a, b = (Run.load(r) for r in args.run)
    labels = tuple(args.labels.split(",")) if args.labels else ("A", "B")
    view = two_runs_view(a, b, labels, blocks=check_comparable(a, b)).renamed(names=COMPARE_FILE_NAMES)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in view.tables.items():
        write_table(df, out / f"{name}.csv")
    write_figures(view.figures, out, split_list(args.formats))
    print(view.tables["block_shift"].to_string(index=False, float_format="%.4f"))
    print(f"-> {out}")
    return 0


def _cmd_gate_table(args: argparse.Namespace) -> int:
    net = load_net(args.model, activations=args.activations)
    run, _ = extract_cached(net, image_source("sample", "all", net), batch_size=args.batch_size, device=args.device)
    ev_source, evaluated, reference, text = ablation_inputs(net, run, batch_size=args.batch_size, device=args.device)
    print(f"{plural(len(run), 'image')} for the statistics; ablations: {text}")
    table = gate_table(net, run, ev_source, evaluated, reference, batch_size=args.batch_size, device=args.device)
    write_table(table, args.out)
    print(markdown_table(table))
    print()
    for line in paper_observations(table):
        print(f"- {line}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    run = Run.load(args.run)
    ablation = None
    if args.ablation:
        ablation = {name: read_table(beside(args.ablation, name))
                    for name in ("overall", "per_class", "flips", "confusion", "downstream")}
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    blocks = select_blocks(run.gate_names, parse_block_spec(args.blocks)) if args.blocks else None
    fold = read_table(Path(args.fold)) if args.fold else None
    channels = []
    for spec in (args.channel or []):
        block, _, ch = spec.rpartition(":")
        if not block or not ch.isdigit():
            print(f"error: --channel takes BLOCK:CHANNEL (e.g. SE_6_3:7), not {spec!r}", file=sys.stderr)
            return 2
        channels.append((block, int(ch)))
    other = Run.load(args.compare) if args.compare else None
    pair = None
    if args.contrast:
        names = [c.strip() for c in args.contrast.split(",")]
        if len(names) != 2 or not all(names):
            print(f"error: --contrast takes two classes, A,B (e.g. tench,parachute), not {args.contrast!r}",
                  file=sys.stderr)
            return 2
        pair = (args.contrast_block or run.gate_names[-1], *names)
    if separation_to_compute(run, args.by):  # an older Run, or one copied without derived/: show how far it is
        keep_separation_tables(run, args.by)
    paths = export_run(run, args.out, split_list(args.formats), args.table_format, classes, blocks, ablation,
                       report=not args.no_report, fold=fold, channels=channels, compare=other, contrast=pair,
                       contrast_by=args.contrast_by, by=args.by)
    if args.per_image:
        paths.append(write_table(gate_values_table(run, blocks), Path(args.out) / f"gate_values.{args.table_format}"))
    print(f"{plural(len(paths), 'file')} -> {args.out}"
          + ("" if args.no_report else f" (report: {Path(args.out) / 'report.html'})"))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``contrast``, ``compare``, ``top-images``, ``gate-table`` and ``export``."""
    p = sub.add_parser("contrast", help="which channels at a block separate class A from class B (difference, "
                                        "bootstrap interval, Cohen's d, Welch test with FDR correction)")
    p.add_argument("--run", required=True, help="a Run folder written by `extract`")
    p.add_argument("--block", default=None, help="default: the deepest block")
    p.add_argument("--a", required=True, help="class A (a class name)")
    p.add_argument("--b", required=True, help="class B")
    p.add_argument("--by", default="label", type=group_by_arg, help=f"group images by {GROUP_BY_HELP}")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--top", type=int, default=30, help="channels in the figure")
    p.add_argument("--significant-only", action="store_true", help="only the channels that differ at FDR 5 %% "
                                                                   "(the figure's channels and the table's rows)")
    p.add_argument("--out", required=True, help="FILE.csv or FILE.parquet: one row per channel; or a folder: the "
                                                "table and figures as contrast_<block>_<A>_vs_<B>.<csv|format>")
    p.add_argument("--formats", default="png,html", help="figure formats in a folder --out, comma-separated "
                                                        "(png, svg, html)")
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
    p.add_argument("--by", default="label", type=group_by_arg, help=f"group images by {GROUP_BY_HELP}")
    p.add_argument("--out", required=True, help="a folder: contact_sheet.png, top_images.csv, channel_values.csv")
    p.set_defaults(func=_cmd_top_images)

    p = sub.add_parser("gate-table", help="the paper's analysis per block on a model's bundled images: "
                                          "specificity with chance level, saturation, cost of mean/off ablations")
    p.add_argument("--model", default="default")
    p.add_argument("--activations", default="float", choices=["float", "deployed"],
                   help="the default only: 'deployed' quantises activations to uint8 as Google's TFLite file does")
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
    p.add_argument("--contrast", default=None, help="A,B: add the two-class contrast of classes A and B (figure "
                                                    "and table contrast_<block>_<A>_vs_<B>, and in the report)")
    p.add_argument("--contrast-block", default=None, help="the contrast's block (default: the deepest)")
    p.add_argument("--by", default="label", type=group_by_arg, help=f"group the statistics' images by {GROUP_BY_HELP}")
    p.add_argument("--contrast-by", default=None, type=group_by_arg,
                   help="group the contrast's images by (default: --by; the prediction where the label is asked for "
                        "and there is none)")
    p.add_argument("--per-image", action="store_true", help="also write every image's gate values (gate_values, one "
                                                            "row per image, block and channel; the --blocks only)")
    p.set_defaults(func=_cmd_export)
