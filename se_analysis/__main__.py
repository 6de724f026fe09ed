"""``python -m se_analysis ...``: the command-line interface (see :mod:`se_analysis.cli`)."""

from se_analysis.cli import main

raise SystemExit(main())
