"""What a view function returns: one page's tables and figures, named once for the page, the export and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd
import plotly.graph_objects as go
from PIL import Image

__all__ = ["View"]


@dataclass
class View:
    """The tables and figures of one view, keyed by short names (the export prefixes them, see :meth:`renamed`).

    ``pictures`` are raster images (a contact sheet); ``facts`` are the few numbers a page shows as
    metrics and the CLI prints (a channel's rank, say).
    """

    figures: dict[str, go.Figure]
    tables: dict[str, pd.DataFrame]
    pictures: dict[str, Image.Image] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def renamed(self, prefix: str = "", suffix: str = "", names: Mapping[str, str] | None = None) -> View:
        """The same view with every key ``prefix + names.get(key, key) + suffix`` (file names of one caller)."""
        names = names or {}

        def rename(d: dict) -> dict:
            return {f"{prefix}{names.get(k, k)}{suffix}": v for k, v in d.items()}

        return View(rename(self.figures), rename(self.tables), rename(self.pictures), dict(self.facts))
