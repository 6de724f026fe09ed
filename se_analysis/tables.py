"""Tidy tables out: CSV or Parquet, to a file or to bytes (one writer for the CLI, export and the app)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

__all__ = ["write_table", "table_bytes"]


def table_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """The table as ``csv`` or ``parquet`` bytes, without the index."""
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    return df.to_csv(index=False).encode()


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as CSV or Parquet, chosen by the file's extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(table_bytes(df, "parquet" if path.suffix.lower() == ".parquet" else "csv"))
    return path
