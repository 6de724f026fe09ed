"""Headless commands: train-default (more to come)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m se_analysis")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train-default", help="train the embedded default SE-ResNet on Fashion-MNIST")
    p.add_argument("--out", default="data")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fmnist-dir", default=None)
    args = parser.parse_args(argv)
    from .train import TrainSettings, train_default
    train_default(args.out, TrainSettings(epochs=args.epochs, seed=args.seed), fmnist_dir=args.fmnist_dir)
    return 0
