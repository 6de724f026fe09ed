"""Each view built once: its tables and figures from a Run and choices (pages, export and CLI call it)."""

from .channel import channel_view
from .contrast import contrast_name, contrast_view
from .gate_table import gate_table, markdown_table, paper_observations
from .standard import ablation_figures, standard_figures, standard_tables
from .two_runs import two_runs_view
from .view import View

__all__ = [
    "View",
    "channel_view",
    "contrast_view",
    "contrast_name",
    "two_runs_view",
    "gate_table",
    "markdown_table",
    "paper_observations",
    "ablation_figures",
    "standard_figures",
    "standard_tables",
]
