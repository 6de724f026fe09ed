"""se-analysis: see what the gates of a Squeeze-and-Excitation network do.

The library is pure (it never imports Streamlit): the app and the CLI call the same functions.
Its role packages, each importing only those above it in this list:

    utils, gates, data, models, runs, analysis, ablation, plots, views, export, cli, app

    >>> import se_analysis as sa
    >>> net = sa.load_model("default")
    >>> run = sa.extract(net, sa.sample_set())
    >>> sa.stats.block_stats(run)            # class-specificity and saturation per block
    >>> sa.ablation.sweep(net, sa.sample_set("eval"), run)   # one block at a time, gates -> their mean
"""

from se_analysis import ablation, analysis, export, plots, views
from se_analysis.analysis import stats
from se_analysis.data import ImageSet, image_folder, sample_set, uploads
from se_analysis.gates import Gate, NoSEGatesError, find_gates, make_hookable, override, record, select_blocks
from se_analysis.models import (
                                ZOO,
                                CheckpointError,
                                PretrainedUnavailable,
                                SENet,
                                load_checkpoint,
                                load_default,
                                load_fmnist,
                                load_model,
)
from se_analysis.runs import GateMoments, Run, RunStore, extract, extract_cached, resolve_device, run_key

__all__ = [
    "ablation", "analysis", "export", "plots", "views", "stats",
    "ImageSet", "image_folder", "sample_set", "uploads",
    "Gate", "NoSEGatesError", "find_gates", "make_hookable", "override", "record", "select_blocks",
    "CheckpointError", "PretrainedUnavailable", "SENet", "ZOO", "load_checkpoint", "load_default", "load_fmnist",
    "load_model",
    "GateMoments", "Run", "RunStore", "extract", "extract_cached", "resolve_device", "run_key",
]
__version__ = "0.1.0"
