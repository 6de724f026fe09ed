"""The gate microscope: where in an image a gate opens (:mod:`.explain`), and what opens it most (:mod:`.visualize`).

:mod:`.excitation` reaches a block's input, squeeze and pre-activation; :mod:`.preprocess` turns the
model's preprocessing into a differentiable map from RGB; :mod:`.fourier` holds Lucid's image
parameterisation and transforms.
"""

from .excitation import (
    channel_of,
    check_differentiable,
    gate_of,
    hidden_kinks,
    network_preactivation,
    preactivation_fn,
    reference_squeeze,
    squeeze_of,
)
from .explain import Explanation, explain, overlay_map, path_rule, reference_text
from .fourier import (
    COLOR_CORRELATION_SVD_SQRT,
    random_spectrum,
    random_transform,
    spectrum_scale,
    spectrum_to_image,
    to_rgb,
)
from .preprocess import InputMap, input_map, model_view
from .visualize import (
    LEARNING_RATE,
    RECIPE,
    Visualization,
    cached_visualize,
    default_microscope_root,
    visualization_key,
    visualize,
)

__all__ = [
    "gate_of", "channel_of", "check_differentiable", "squeeze_of", "reference_squeeze", "preactivation_fn",
    "network_preactivation",
    "hidden_kinks",
    "Explanation", "explain", "path_rule", "overlay_map", "reference_text",
    "COLOR_CORRELATION_SVD_SQRT", "spectrum_scale", "random_spectrum", "spectrum_to_image", "to_rgb",
    "random_transform",
    "InputMap", "input_map", "model_view",
    "Visualization", "visualize", "cached_visualize", "visualization_key", "default_microscope_root",
    "LEARNING_RATE", "RECIPE",
]
