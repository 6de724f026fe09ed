"""Choosing blocks the way timm's ``feature_take_indices`` chooses features, plus names and patterns.

``select_blocks(names, spec)``: an int ``n`` means the last ``n`` blocks; a negative index counts
from the end (``-1`` is the deepest block); a non-negative index in a list is a position in forward
order; a string is a gate name or an ``fnmatch`` pattern (``SE_4_*``). The CLI's ``--blocks`` takes
the same things, comma-separated (``SE_4_*,-1``; a lone ``3`` means the last three).

:func:`paper_blocks` and :func:`block_presets` are the named choices the app and CLI offer.
"""

from __future__ import annotations

import fnmatch
from itertools import groupby
from typing import Sequence, Union

from se_analysis.gates.find import Gate

__all__ = ["BlockSpec", "select_blocks", "parse_block_spec", "paper_blocks", "block_presets"]

BlockSpec = Union[int, str, Sequence[Union[int, str]]]


def select_blocks(names: Sequence[str], spec: BlockSpec) -> list[str]:
    """The blocks of ``names`` (forward order) that ``spec`` selects, in forward order, each once.

    Raises:
        ValueError: an index out of range, or a name or pattern that matches no block.
    """
    names = list(names)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if not 0 < spec <= len(names):
            raise ValueError(f"asked for the last {spec} blocks of {len(names)}")
        return names[len(names) - spec:]
    items = [spec] if isinstance(spec, str) else list(spec)
    chosen: set[str] = set()
    for item in items:
        if isinstance(item, int):
            if not -len(names) <= item < len(names):
                raise ValueError(f"block index {item} is out of range for {len(names)} blocks")
            chosen.add(names[item])
            continue
        hits = fnmatch.filter(names, item)
        if not hits:
            raise ValueError(f"unknown blocks {item}; this run has {', '.join(names)}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def parse_block_spec(text: str) -> BlockSpec:
    """The CLI's ``--blocks``: ``"3"`` -> 3 (the last three); ``"SE_4_*,-1"`` -> ["SE_4_*", -1]."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) == 1 and parts[0].isdigit():
        return int(parts[0])
    return [int(p) if p.lstrip("-").isdigit() else p for p in parts]


def paper_blocks(gates: Sequence[Gate]) -> list[str]:
    """The paper's choice of blocks: the last block of each stage, and every block of the last stage.

    Flat models (stage 0, e.g. torchvision MobileNetV3) get a spread of six over depth.
    """
    ordered = sorted(gates, key=lambda g: g.depth)
    if all(g.stage == 0 for g in ordered):
        step = max(1, len(ordered) // 6)
        return [g.name for g in ordered[::step]][:6]
    last_stage = max(g.stage for g in ordered)
    stages = {stage: [g.name for g in grp] for stage, grp in groupby(ordered, key=lambda g: g.stage)}
    return [names[-1] for stage, names in stages.items() if stage != last_stage] + stages[last_stage]


def block_presets(gates: Sequence[Gate]) -> dict[str, list[str]]:
    """Named block sets: all blocks, each stage, the last stage, the deepest block (forward order)."""
    ordered = sorted(gates, key=lambda g: g.depth)
    names = [g.name for g in ordered]
    presets = {"all blocks": names}
    if any(g.stage for g in ordered):
        for stage, grp in groupby(ordered, key=lambda g: g.stage):
            presets[f"stage {stage}"] = [g.name for g in grp]
        last = max(g.stage for g in ordered)
        presets["last stage"] = [g.name for g in ordered if g.stage == last]
    presets["deepest block"] = select_blocks(names, 1)
    return presets
