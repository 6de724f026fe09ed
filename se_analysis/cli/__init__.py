"""The command line: ``python -m se_analysis <command>`` (or ``se-analysis <command>``); ``--help`` on each.

Runs (:mod:`.run_commands`):
  ``models``          list the SE architectures this tool knows (``--all``: every timm / torchvision one)
  ``extract``         run a model over images and save a Run (gates, logits, predictions)
  ``stats``           write a statistics table of a Run
Ablations (:mod:`.ablation_commands`):
  ``ablate``          replace the gates of chosen blocks and compare before/after
  ``sweep``           ablate over depth: each block alone, or the last / first k blocks
  ``fold``            remove SE blocks whose gates are constants, folding them into adjacent weights
Views (:mod:`.view_commands`):
  ``contrast``        which channels at a block separate class A from class B
  ``compare``         two Runs with the same gates side by side
  ``top-images``      the images that open and close one channel's gate
  ``gate-table``      the paper's analysis per block on a model's bundled images
  ``export``          a Run's figures, tables and a one-file HTML report
The gate microscope (:mod:`.microscope_commands`):
  ``explain``         where in an image a gate opens (integrated gradients over the squeeze, as a map)
  ``visualize``       what opens a gate most (an image optimised for one channel, Lucid's recipe)
Bundled models and data (:mod:`.bundled_commands`):
  ``convert-tflite``  convert Google's MobileNetV3-Small TFLite file into timm weights
  ``fidelity``        compare the converted default with the TFLite interpreter
  ``train-fmnist``    train the bundled Fashion-MNIST SE-ResNet
  ``build-wordnet``   rebuild the WordNet hypernym tables of the ImageNet classes (for ``--by superclass:D``)

The CLI calls the same library functions as the app, and writes the same tidy tables. Each group
module registers its sub-commands next to their handlers (``add_parsers``).
"""

from __future__ import annotations

import argparse
import sys

from se_analysis.cli import (
    ablation_commands,
    bundled_commands,
    microscope_commands,
    run_commands,
    view_commands,
)

__all__ = ["build_parser", "main"]

GROUPS = (run_commands, ablation_commands, view_commands, microscope_commands,
          bundled_commands)  # the order of ``--help``


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, group by group."""
    parser = argparse.ArgumentParser(prog="python -m se_analysis", description="See what the gates of an SE network do.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected failures (missing files, bad choices, out of memory) end as one ``error:`` line."""
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
