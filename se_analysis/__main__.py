"""``python -m se_analysis ...``: the command-line interface (see :mod:`se_analysis.cli`)."""

from .cli import main

raise SystemExit(main())
