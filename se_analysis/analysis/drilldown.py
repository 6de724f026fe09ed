"""One channel of one block, up close: the images that open and close its gate, its distribution per class,
and its rank by class-specificity within the block.

:func:`contact_sheet` draws the top and bottom images as one PNG-ready picture with their gate
value, label and prediction (the CLI's ``top-images`` writes it with the table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from se_analysis.analysis.stats import (
    GroupBy,
    channel_specificity,
    class_groups,
    group_names,
)
from se_analysis.data.decode import load_source_image
from se_analysis.runs.run import Run

__all__ = ["top_images", "channel_values", "channel_rank", "rank_text", "contact_sheet"]


def _check(run: Run, block: str, channel: int) -> np.ndarray:
    if block not in run.gate_values:
        raise ValueError(f"this run has no per-image gates for {block!r}" if block in run.gate_names
                         else f"unknown block {block!r}; this run has {', '.join(run.gate_names)}")
    v = run.gate_values[block]
    if not 0 <= channel < v.shape[1]:
        raise ValueError(f"{block} has channels 0-{v.shape[1] - 1}, not {channel}")
    return v[:, channel].astype(np.float64)


def top_images(run: Run, block: str, channel: int, k: int = 16) -> pd.DataFrame:
    """The ``k`` images with the highest and the ``k`` with the lowest gate at (block, channel).

    Columns ``end`` (top / bottom), ``rank`` (1 = most extreme), ``value``, ``tied`` (how many of the run's
    images have exactly this value: more than are shown means the cut fell among ties), and the image's
    ``image_id, source, label_name, pred_name, confidence``. Ties keep the run's order.
    """
    v = _check(run, block, channel)
    values, counts = np.unique(v, return_counts=True)
    order = np.argsort(-v, kind="stable")
    k = min(k, len(v))
    cols = ["image_id", "source", "label_name", "pred_name", "confidence"]
    frames = []
    for end, rows in (("top", order[:k]), ("bottom", np.argsort(v, kind="stable")[:k])):
        part = run.images.iloc[rows][cols].reset_index(drop=True)
        part.insert(0, "tied", counts[np.searchsorted(values, v[rows])])
        part.insert(0, "value", v[rows])
        part.insert(0, "rank", np.arange(1, len(rows) + 1))
        part.insert(0, "end", end)
        part.insert(0, "channel", channel)
        part.insert(0, "block", block)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def channel_values(run: Run, block: str, channel: int, by: GroupBy = "label") -> pd.DataFrame:
    """Every image's gate at (block, channel) with its class: one row per image, for box or violin plots."""
    v = _check(run, block, channel)
    groups, names = class_groups(run, by), group_names(run, by)
    return pd.DataFrame({"block": block, "channel": channel, "image_id": run.images["image_id"].to_numpy(),
                         "class": [names[g] if g >= 0 else "(none)" for g in groups], "class_index": groups,
                         "value": v})


def channel_rank(cs: pd.DataFrame, block: str, channel: int) -> dict:
    """The channel's class-specificity (eta squared) and its rank in the block (1 = most class-specific).

    Ties are ties: ``rank`` is the best place the channel shares, ``rank_last`` the worst, ``tied`` how many
    channels share its value (itself included; equal to within 1e-12, rounding in the sums). Say it with
    :func:`rank_text`.
    """
    spec = channel_specificity(cs, block).sort_values("specificity", ascending=False, kind="stable")
    channels = spec["channel"].tolist()
    if channel not in channels:
        raise ValueError(f"{block} has no channel {channel}")
    values = spec["specificity"].to_numpy(np.float64)
    value = float(spec.set_index("channel").loc[channel, "specificity"])
    same = np.isclose(values, value, rtol=0, atol=1e-12)
    above = int((values > value).sum() - (same & (values > value)).sum())
    tied = int(same.sum())
    return {"block": block, "channel": channel, "specificity": value, "rank": above + 1, "rank_last": above + tied,
            "tied": tied, "channels": len(channels), "median_specificity": float(spec["specificity"].median())}


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def rank_text(rank: dict) -> str:
    """``rank 3 of 576``, or among ties ``tied 1st-12th of 576`` (from :func:`channel_rank`)."""
    if rank.get("tied", 1) > 1:
        return f"tied {_ordinal(rank['rank'])}–{_ordinal(rank['rank_last'])} of {rank['channels']}"
    return f"rank {rank['rank']} of {rank['channels']}"


def contact_sheet(table: pd.DataFrame, size: int = 112, cols: int = 8, load=load_source_image) -> Image.Image:
    """The images of :func:`top_images` as a grid: a row band per end, each tile captioned with its gate,
    label and prediction (a grey tile saying so, with the image's id, where the image is not on this machine:
    a Run made elsewhere)."""
    caption = 30
    ends = [e for e in ("top", "bottom") if (table["end"] == e).any()]
    rows_per_end = {e: -(-int((table["end"] == e).sum()) // cols) for e in ends}
    header = 22
    height = sum(header + r * (size + caption) for r in rows_per_end.values())
    sheet = Image.new("RGB", (cols * size, max(height, 1)), "white")
    draw = ImageDraw.Draw(sheet)
    y0 = 0
    for end in ends:
        part = table[table["end"] == end].sort_values("rank")
        block, channel = part["block"].iloc[0], int(part["channel"].iloc[0])
        draw.text((4, y0 + 4), f"{end} {len(part)}: {block} channel {channel}", fill="black")
        y0 += header
        for i, r in enumerate(part.itertuples()):
            x, y = (i % cols) * size, y0 + (i // cols) * (size + caption)
            img = load(r.source)
            sheet.paste(img.convert("RGB").resize((size - 4, size - 4)) if img is not None else
                        _missing_tile(size - 4, str(r.image_id)),
                        (x + 2, y + 2))
            draw.text((x + 3, y + size), f"{r.value:.3f} {str(r.label_name)[:14]}", fill="black")
            draw.text((x + 3, y + size + 13), f"-> {str(r.pred_name)[:14]}", fill="#555555")
        y0 += rows_per_end[end] * (size + caption)
    return sheet


def _missing_tile(side: int, image_id: str) -> Image.Image:
    """A grey tile for an image not on this machine: says so, with the end of its id (where to find it)."""
    tile = Image.new("RGB", (side, side), "#d9d9d9")
    draw = ImageDraw.Draw(tile)
    width = max(side // 7, 4)  # characters of the default font per line
    tail = image_id[-3 * width:]
    lines = ["not on this", "machine", ""] + [tail[i:i + width] for i in range(0, len(tail), width)]
    for i, line in enumerate(lines):
        draw.text((4, 6 + 13 * i), line, fill="#333333")
    return tile
