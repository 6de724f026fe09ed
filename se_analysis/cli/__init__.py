"""The command line: ``python -m se_analysis <command>``."""

from se_analysis.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
