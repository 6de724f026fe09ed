"""Commands that make and check the bundled models and data: ``convert-tflite``, ``fidelity``, ``train-fmnist``,
``build-wordnet``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from se_analysis.cli.common import beside
from se_analysis.data.image_sets import image_folder, sample_set
from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids
from se_analysis.data.paths import IMAGENET_DIR, IMAGENET_TFLITE, IMAGENET_WEIGHTS
from se_analysis.data.wordnet import WORDNET_DIR, write_tables
from se_analysis.export.tables import write_table
from se_analysis.models.bundled.fmnist.train import TrainSettings, train_fmnist
from se_analysis.models.bundled.imagenet.card import write_model_card
from se_analysis.models.bundled.imagenet.convert import write_converted
from se_analysis.models.bundled.imagenet.fidelity import fidelity_tables
from se_analysis.models.bundled.load import load_default
from se_analysis.models.senet import file_sha256

__all__ = ["add_parsers"]


def _fidelity(weights: str, tflite: str, images: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fidelity tables of converted weights on a folder of ImageNet images (default: the bundled 500)."""
    net = load_default(weights)
    source = sample_set("all") if images is None else image_folder(images, imagenet_class_names(), imagenet_wnids())
    labels = np.array([-1 if it.label is None else it.label for it in source.items])
    summary, gates, _ = fidelity_tables(net, [it.source for it in source.items], labels, tflite)
    print(summary.to_string(index=False, float_format="%.3f"))
    print(gates.to_string(index=False, float_format="%.4f"))
    return summary, gates


def _cmd_convert(args: argparse.Namespace) -> int:
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


def _cmd_fidelity(args: argparse.Namespace) -> int:
    summary, gates = _fidelity(args.weights or str(IMAGENET_WEIGHTS), args.tflite or str(IMAGENET_TFLITE), args.data)
    if args.out:
        write_table(summary, args.out)
        write_table(gates, beside(args.out, "gates"))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    card = train_fmnist(args.out, TrainSettings(epochs=args.epochs, seed=args.seed), fmnist_dir=args.fmnist_dir)
    print(f"test top-1 {card['test_top1'] * 100:.2f}% after {card['wall_time_seconds'] / 60:.1f} min -> {args.out}")
    return 0


def _cmd_build_wordnet(args: argparse.Namespace) -> int:
    for path in write_tables(imagenet_wnids(), args.wordnet_dir, args.out):
        print(f"-> {path}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``convert-tflite``, ``fidelity``, ``train-fmnist`` and ``build-wordnet``."""
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

    p = sub.add_parser("train-fmnist", help="train the bundled Fashion-MNIST SE-ResNet (fmnist-se-resnet)")
    p.add_argument("--out", default="data/fashion_mnist", help="where to write weights, model card and sample set")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fmnist-dir", default=None, help="folder with the idx files (default: Debian's location)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("build-wordnet", help="rebuild data/imagenet's WordNet hypernym tables of the 1000 ImageNet "
                                             "classes (for grouping by superclass) from WordNet 3.0's data.noun")
    p.add_argument("--wordnet-dir", default=str(WORDNET_DIR), help="WordNet 3.0's dict folder with data.noun "
                                                                   "(default: Debian's wordnet-base)")
    p.add_argument("--out", default=str(IMAGENET_DIR), help="folder for wordnet_hypernyms.csv, wordnet_names.csv and "
                                                           "WORDNET.md")
    p.set_defaults(func=_cmd_build_wordnet)
