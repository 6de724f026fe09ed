"""Each view built once: its tables and figures from a Run and choices (pages, export and CLI call it)."""

from .channel import channel_views
from .gate_table import gate_table, markdown_table, paper_observations
from .standard import ablation_figures, standard_figures, standard_tables
from .two_runs import compare_views

__all__ = [
    "channel_views",
    "gate_table",
    "markdown_table",
    "paper_observations",
    "ablation_figures",
    "standard_figures",
    "standard_tables",
    "compare_views",
]
