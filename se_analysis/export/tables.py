"""Tidy tables out: CSV or Parquet, to a file or to bytes (one writer for the CLI, export and the app),
and the per-image gate values as a tidy table."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from se_analysis.runs.run import Run

__all__ = ["write_table", "table_bytes", "gate_values_table"]


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


def gate_values_table(run: Run, blocks: Sequence[str] | None = None) -> pd.DataFrame:
    """Every image's gate values as one row per (image, block, channel), with the image's label and prediction.

    ``run`` needs per-image gates; ``blocks`` default to all.
    """
    if not run.has_gate_arrays:
        raise ValueError("this summary-only run kept no per-image gates")
    img = run.images
    frames = []
    for block in blocks or run.gate_names:
        v = run.gate_values[block]
        n, c = v.shape
        frames.append(pd.DataFrame({
            "image_id": np.repeat(img["image_id"].to_numpy(), c), "label_name": np.repeat(img["label_name"].to_numpy(), c),
            "pred_name": np.repeat(img["pred_name"].to_numpy(), c), "block": block,
            "channel": np.tile(np.arange(c), n), "value": v.astype(np.float32).ravel()}))
    out = pd.concat(frames, ignore_index=True)
    for col in ("image_id", "label_name", "pred_name", "block"):
        out[col] = out[col].astype("category")  # a few distinct strings repeated per channel
    return out
