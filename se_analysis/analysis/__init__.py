"""Statistics on a Run: per class and depth, separation, similarity, contrasts, one channel, two runs."""

from se_analysis.utils.numeric import benjamini_hochberg

from .contrast import contrast
from .drilldown import channel_rank, channel_values, contact_sheet, top_images
from .separation import decodability, gate_pca, nearest_class_mean
from .similarity import class_similarity
from .stats import (
    ALL,
    FEW_IMAGES_PER_CLASS,
    GroupBy,
    block_quantiles,
    block_stats,
    channel_specificity,
    channel_stats,
    class_groups,
    distinct_classes,
    folder_names,
    group_names,
    heatmap_table,
    image_gates,
    moments_for,
    present_classes,
    specificity,
    specificity_note,
)
from .two_runs import (
    block_shift,
    channel_shift,
    check_comparable,
    class_difference,
    gate_differences,
    run_differences,
    specificity_pair,
)

__all__ = [
    "contrast",
    "benjamini_hochberg",
    "top_images",
    "channel_values",
    "channel_rank",
    "contact_sheet",
    "gate_pca",
    "decodability",
    "nearest_class_mean",
    "class_similarity",
    "ALL",
    "GroupBy",
    "FEW_IMAGES_PER_CLASS",
    "present_classes",
    "distinct_classes",
    "specificity_note",
    "class_groups",
    "group_names",
    "folder_names",
    "channel_stats",
    "block_stats",
    "block_quantiles",
    "image_gates",
    "moments_for",
    "channel_specificity",
    "heatmap_table",
    "specificity",
    "check_comparable",
    "gate_differences",
    "class_difference",
    "run_differences",
    "channel_shift",
    "block_shift",
    "specificity_pair",
]
