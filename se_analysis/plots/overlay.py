"""An explanation's map blended into its image as one small RGB picture (for grids of thumbnails, where a
plotly figure per image would be heavy); :func:`~se_analysis.plots.microscope.explain_figure` is the figure."""

from __future__ import annotations

import numpy as np

from se_analysis.microscope.explain import Explanation, overlay_map

__all__ = ["map_picture"]

_OPENS = np.array([214.0, 39.0, 40.0])  # red: the location opens the gate (relative to the reference)
_CLOSES = np.array([31.0, 119.0, 180.0])  # blue: it closes it


def map_picture(image: np.ndarray, explanation: Explanation, size: int | None = None, alpha: float = 0.7) -> np.ndarray:
    """The image, greyed, with the map blended in: red where a location opens the gate, blue where it closes it
    (a whole block's map, never negative, is all red), the colour's strength ``|map| / max |map|``.

    Args:
        image: (H, W, 3) uint8, the image as the network sees it.
        explanation: its :class:`~se_analysis.microscope.explain.Explanation`.
        size: the picture's side (square, nearest-neighbour from the image); default the image's size.
        alpha: the colour's weight where the map is largest.

    Returns:
        (H, W, 3) uint8 (or (size, size, 3)).
    """
    img = np.asarray(image, dtype=np.float64)
    if size is not None:
        rows = np.linspace(0, img.shape[0] - 1, size).round().astype(int)
        cols = np.linspace(0, img.shape[1] - 1, size).round().astype(int)
        img = img[rows][:, cols]
    heat = overlay_map(explanation.contributions, img.shape[:2])
    top = float(np.abs(heat).max())
    t = heat / top if top > 0 else np.zeros_like(heat)
    grey = img.mean(axis=2, keepdims=True) * 0.7 + img * 0.3  # colours of the map read over a duller image
    colour = np.where(t[..., None] >= 0, _OPENS, _CLOSES)
    a = alpha * np.abs(t)[..., None]
    return np.clip((1 - a) * grey + a * colour + 0.5, 0, 255).astype(np.uint8)
