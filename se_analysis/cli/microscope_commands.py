"""The gate microscope's commands: ``explain`` (where in an image a gate opens) and ``visualize`` (what opens it
most)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from se_analysis.cli.common import load_net
from se_analysis.data.dataset import ImageDataset, collate_skipping
from se_analysis.data.decode import decode_image
from se_analysis.data.image_sets import ImageSet, image_set_from_spec, sample_set
from se_analysis.export.files import write_figure
from se_analysis.microscope.excitation import channel_of, gate_of, reference_squeeze
from se_analysis.microscope.explain import explain
from se_analysis.microscope.preprocess import model_view
from se_analysis.microscope.visualize import cached_visualize
from se_analysis.models.senet import SENet
from se_analysis.plots.microscope import explain_figure
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["add_parsers", "read_image", "reference_images"]


def read_image(net: SENet, path: str) -> torch.Tensor:
    """One image file, decoded and preprocessed as the model's images are: (C_in, H, W).

    Raises:
        ValueError: one line naming the file, when it is missing or not a readable image.
    """
    try:
        return net.transform(decode_image(path))
    except (OSError, ValueError, SyntaxError) as e:  # PIL: UnidentifiedImageError is an OSError
        reason = "no such file" if isinstance(e, FileNotFoundError) else f"{type(e).__name__}: {e}"
        raise ValueError(f"cannot read image {path}: {reason}") from None


def reference_images(net: SENet, run: str | None, limit: int | None = None) -> tuple[ImageSet, str]:
    """The images of a mean reference: a Run's images, else the model's sample set (its reference half)."""
    if run:
        images = image_set_from_spec(Run.load(run).manifest.get("data_spec", {}), net.class_names)
        where = f"the images of run {run}"
    elif net.sample is not None:
        images, where = sample_set("reference", net.sample), "the sample set's reference half"
    else:
        raise ValueError(f"{net.name} has no bundled sample set: pass --run for the mean reference's images")
    if limit:
        images = replace(images, items=images.items[:limit])
    return images, where


def _batches(net: SENet, images: ImageSet, batch_size: int = 64):
    loader = torch.utils.data.DataLoader(ImageDataset(images.items, net.transform), batch_size=batch_size,
                                         shuffle=False, collate_fn=collate_skipping)
    for x, _, _ in loader:
        if x is not None:
            yield x


def _cmd_explain(args: argparse.Namespace) -> int:
    net = load_net(args.model)  # float activations: the microscope follows gradients
    gate = gate_of(net, args.block)
    channel_of(gate, args.channel)
    x = read_image(net, args.image)
    z0, reference = None, "zero"
    if args.reference == "mean":
        images, where = reference_images(net, args.run, args.reference_images)
        counted = []

        def counting():
            for batch in _batches(net, images):
                counted.append(len(batch))
                yield batch

        z0 = reference_squeeze(net, counting(), args.block)
        reference = f"reference: mean squeeze over {plural(sum(counted), 'reference image')} ({where})"
    e = explain(net, x, args.block, args.channel, z0=z0, reference=reference, steps=args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_figure(explain_figure(model_view(net, x), e, model=net.name), out / "map.png", "png")]
    summary = {"model": net.name, "image": str(args.image), "block": e.block,
               "channel": e.channel, "reference": e.reference, "preactivation": e.preactivation,
               "reference_preactivation": e.reference_preactivation, "sum_contributions": e.sum_contributions,
               "gate": e.gate, "map_shape": list(e.contributions.shape), "steps": args.steps}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    written.append(out / "summary.json")
    what = f"{e.block} channel {e.channel}" if e.channel is not None else f"{e.block} (every channel)"
    print(f"{what}: pre-activation {e.preactivation:.4f}, at the reference {e.reference_preactivation:.4f}, "
          f"map sums to {e.sum_contributions:.4f}" + (f"; gate {e.gate:.4f}" if e.gate is not None else ""))
    print(f"{e.reference}")
    print("-> " + ", ".join(str(p) for p in written))
    return 0


def _cmd_visualize(args: argparse.Namespace) -> int:
    net = load_net(args.model)  # float activations: the microscope follows gradients
    channel_of(gate_of(net, args.block), args.channel)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out is a .png file, not {args.out!r}")

    def progress(step: int, total: int) -> None:
        if not args.quiet and (step % 64 == 0 or step == total):
            print(f"  step {step}/{total}", file=sys.stderr)

    vis = cached_visualize(net, net.name, args.block, args.channel, steps=args.steps, size=args.size, seed=args.seed,
                           progress=progress, cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(vis.image, mode="RGB").save(out)
    print(f"{vis.block} channel {vis.channel}: pre-activation {vis.preactivation:.4f} after {vis.steps} steps "
          f"({vis.seconds:.1f} s, seed {vis.seed}) -> {out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``explain`` and ``visualize``."""
    p = sub.add_parser("explain", help="where in an image a gate opens: integrated gradients of the gate's "
                                       "pre-activation over the squeeze, spread over the feature map's locations")
    p.add_argument("--model", default="default")
    p.add_argument("--image", required=True, help="an image file (decoded and preprocessed as the model's images)")
    p.add_argument("--block", required=True, help="an SE block, e.g. SE_4_3")
    p.add_argument("--channel", type=int, default=None, help="a channel of the block (default: the whole block, "
                                                             "the map summing |map| over channels)")
    p.add_argument("--reference", default="zero", choices=["zero", "mean"],
                   help="the squeeze the gate is compared with: zero, or the mean over reference images")
    p.add_argument("--run", default=None, help="with --reference mean: a Run folder whose images give the mean "
                                               "(default: the model's sample set, its reference half)")
    p.add_argument("--reference-images", type=int, default=None, help="at most this many reference images")
    p.add_argument("--steps", type=int, default=64, help="Gauss-Legendre nodes along the path")
    p.add_argument("--out", required=True, help="a folder: map.png (the map over the image) and summary.json")
    p.set_defaults(func=_cmd_explain)

    p = sub.add_parser("visualize", help="what opens a gate most: an image optimised to maximise one channel's "
                                         "gate pre-activation (Lucid's recipe), cached")
    p.add_argument("--model", default="default")
    p.add_argument("--block", required=True, help="an SE block, e.g. SE_6_3")
    p.add_argument("--channel", type=int, required=True)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=None, help="image side (default: the model's input size)")
    p.add_argument("--cache-dir", default=None, help="default: $SE_ANALYSIS_HOME/microscope")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--out", required=True, help="FILE.png")
    p.set_defaults(func=_cmd_visualize)
