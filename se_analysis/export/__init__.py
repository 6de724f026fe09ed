"""Files out: figures (PNG/SVG/HTML), tables (CSV/Parquet), the one-file HTML report."""

from .files import FORMATS, export_run, figure_bytes, write_figure, write_figures
from .report import CONTRAST_COLUMNS, report_html
from .tables import gate_values_table, table_bytes, write_table

__all__ = [
    "figure_bytes",
    "write_figure",
    "write_figures",
    "export_run",
    "FORMATS",
    "report_html",
    "CONTRAST_COLUMNS",
    "write_table",
    "table_bytes",
    "gate_values_table",
]
