"""Figure builders: pandas tables in, plotly figures out, one palette."""

from .ablation import (
    cumulative_curve,
    downstream_shift,
    gate_overlay,
    per_class_accuracy,
    sweep_bars,
)
from .animation import depth_animation
from .gates import (
    MAX_ROWS,
    class_heatmap,
    contrast_figure,
    depth_box,
    image_gates_figure,
    paper_figure,
    similarity_heatmap,
    specificity_curve,
    within_class_band,
)
from .microscope import explain_figure, explain_subtitle
from .overlay import map_picture
from .palette import ALL_COLOUR, DISTINCT, MAX_COLOURED, MORE, OTHER, add_warning, class_color, class_colors, grid
from .screen import fit_to_screen
from .separation import MAX_FIGURE_POINTS, channel_violin, decodability_curve, pca_small_multiples
from .two_runs import difference_per_channel, shift_per_block, specificity_both

__all__ = [
    "MAX_FIGURE_POINTS",
    "depth_animation",
    "map_picture",
    "per_class_accuracy",
    "gate_overlay",
    "downstream_shift",
    "sweep_bars",
    "cumulative_curve",
    "paper_figure",
    "depth_box",
    "specificity_curve",
    "class_heatmap",
    "within_class_band",
    "image_gates_figure",
    "contrast_figure",
    "similarity_heatmap",
    "class_color",
    "class_colors",
    "DISTINCT",
    "MORE",
    "OTHER",
    "ALL_COLOUR",
    "MAX_COLOURED",
    "MAX_ROWS",
    "grid",
    "add_warning",
    "explain_figure",
    "explain_subtitle",
    "fit_to_screen",
    "pca_small_multiples",
    "decodability_curve",
    "channel_violin",
    "specificity_both",
    "shift_per_block",
    "difference_per_channel",
]
