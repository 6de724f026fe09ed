"""SE gates: find them in any model, record and override them with hooks that are always removed."""

from .activation import is_gate_activation
from .blocks import (
    BlockSpec,
    block_presets,
    paper_blocks,
    parse_block_spec,
    select_blocks,
)
from .find import Gate, GateNotFiredError, NoSEGatesError, find_gates
from .functional import functional_se_blocks, make_hookable
from .fx import TRACE_LOCK, LeafTracer, trace, tracing
from .hooks import GateOverride, GateRecorder, GateValue, override, record
from .locks import model_lock
from .names import feature_modules, gate_names

__all__ = [
    "is_gate_activation",
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
    "TRACE_LOCK",
    "LeafTracer",
    "trace",
    "tracing",
    "gate_names",
    "feature_modules",
    "GateOverride",
    "GateRecorder",
    "GateValue",
    "override",
    "record",
    "model_lock",
]
