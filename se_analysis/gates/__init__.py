"""SE gates: find them in any model, record and override them with hooks that are always removed."""

from .blocks import (
    BlockSpec,
    block_presets,
    paper_blocks,
    parse_block_spec,
    select_blocks,
)
from .find import Gate, GateNotFiredError, NoSEGatesError, find_gates
from .functional import functional_se_blocks, make_hookable
from .hooks import GateOverride, GateRecorder, GateValue, model_lock, override, record

__all__ = [
    "BlockSpec",
    "select_blocks",
    "parse_block_spec",
    "paper_blocks",
    "block_presets",
    "Gate",
    "NoSEGatesError",
    "GateNotFiredError",
    "find_gates",
    "functional_se_blocks",
    "make_hookable",
    "GateOverride",
    "GateRecorder",
    "GateValue",
    "model_lock",
    "override",
    "record",
]
