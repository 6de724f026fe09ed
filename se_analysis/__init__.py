"""se-analysis: see what the gates of a Squeeze-and-Excitation network do.

The library is pure (it never imports Streamlit): the app and the CLI call the same functions.

    >>> import se_analysis as sa
    >>> net = sa.load_model("default")
    >>> run = sa.extract(net, sa.sample_set())
    >>> sa.stats.block_summary(run)            # class-specificity and saturation per block
"""

from . import plots, stats
from .data import ImageSource, image_folder, sample_set, uploads
from .extract import extract, extract_cached, resolve_device
from .gates import Gate, NoSEGatesError, find_gates, override, record
from .runs import Run, RunStore, run_key
from .zoo import ZOO, SENet, load_default, load_model

__all__ = [
    "plots", "stats", "ImageSource", "image_folder", "sample_set", "uploads", "extract", "extract_cached",
    "resolve_device", "Gate", "NoSEGatesError", "find_gates", "override", "record", "Run", "RunStore", "run_key",
    "ZOO", "SENet", "load_default", "load_model",
]
__version__ = "0.1.0"
