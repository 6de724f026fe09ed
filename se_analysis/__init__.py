"""se-analysis: see what the gates of a Squeeze-and-Excitation network do.

The library is pure (it never imports Streamlit): the app and the CLI call the same functions.

    >>> import se_analysis as sa
    >>> net = sa.load_model("default")
    >>> run = sa.extract(net, sa.sample_set())
    >>> sa.stats.block_stats(run)            # class-specificity and saturation per block
    >>> sa.ablate.sweep(net, sa.sample_set("eval"), run)   # one block at a time, gates -> their mean
"""

from . import ablate, export, plots, plots_ablation, stats
from .blocks import select_blocks
from .checkpoints import CheckpointError, load_checkpoint
from .data import ImageSource, image_folder, sample_set, uploads
from .extract import extract, extract_cached, resolve_device
from .functional_gates import make_hookable
from .gates import Gate, NoSEGatesError, find_gates, override, record
from .runs import Run, RunStore, run_key
from .moments import GateMoments
from .zoo import ZOO, PretrainedUnavailable, SENet, load_default, load_fmnist, load_model

__all__ = [
    "ablate", "export", "plots", "plots_ablation", "stats", "select_blocks", "CheckpointError", "load_checkpoint", "GateMoments",
    "PretrainedUnavailable", "ImageSource", "image_folder", "sample_set", "uploads", "extract", "extract_cached",
    "resolve_device", "make_hookable", "Gate", "NoSEGatesError", "find_gates", "override", "record", "Run", "RunStore", "run_key",
    "ZOO", "SENet", "load_default", "load_fmnist", "load_model",
]
__version__ = "0.1.0"
