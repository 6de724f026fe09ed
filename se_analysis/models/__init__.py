"""SE networks: the SENet wrapper, the zoo of named architectures, checkpoints, folding."""

from .bundled import DEFAULT_TITLE, fmnist_transform, load_default, load_fmnist
from .checkpoints import (
    CheckpointError,
    MatchReport,
    load_checkpoint,
    match_state_dict,
    non_finite_tensors,
    read_state_dict,
)
from .fold import (
    FOLD_METADATA_KEY,
    Folded,
    FoldError,
    count_flops,
    count_parameters,
    fold_model,
    fold_plan,
    remove_se_blocks,
    save_folded,
)
from .senet import SENet, file_sha256
from .zoo import ZOO, PretrainedUnavailable, ZooEntry, is_offline, load_model

__all__ = [
    "DEFAULT_TITLE",
    "fmnist_transform",
    "load_default",
    "load_fmnist",
    "CheckpointError",
    "MatchReport",
    "read_state_dict",
    "match_state_dict",
    "load_checkpoint",
    "non_finite_tensors",
    "FoldError",
    "Folded",
    "fold_plan",
    "fold_model",
    "remove_se_blocks",
    "save_folded",
    "FOLD_METADATA_KEY",
    "count_flops",
    "count_parameters",
    "SENet",
    "file_sha256",
    "ZooEntry",
    "ZOO",
    "load_model",
    "PretrainedUnavailable",
    "is_offline",
]
