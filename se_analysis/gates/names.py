"""Paper-style names of SE gates: ``SE_<stage>_<block>``, or ``SE_<index>`` in a flat list of blocks.

The stage comes from the model itself:

* **timm's** ``feature_info`` (where the model has one) names the stage modules (``layer1``, ``s1``,
  ``stages.0``, ``blocks.2`` ...). A gate's stage is the deepest module on its path that is a child of
  a module holding those: a named stage, or a sibling of one (``blocks.3`` beside ``blocks.2`` and
  ``blocks.4``, which EfficientNet's ``feature_info`` skips because it keeps the resolution).
* **Otherwise** the module tree: the stage is the parent of the gate's block (the nearest enclosing
  module that is not a ``Sequential`` / ``ModuleList`` / ``ModuleDict``); where that parent has no
  stage number, the child of the outermost list on the path (torchvision's MaxViT ``blocks.0``).

A stage is numbered as in the paper, where the first residual stage is 2: the number in its name
plus one (``layer1``, ``s1``, ``block1`` -> 2), or, in an indexed list (``stages.0``, ``blocks.3``),
its index among the list's stages of the same type plus 2 (the stem is stage 1). A stage without a
number is 1 before the numbered stages (a stem) and the last stage plus 1 after them (a head), as
are gates outside every stage. The block is the gate's enclosing module directly under the stage's
list of blocks (``layer1.0``, ``stages.0.blocks.0``), counted from 1.

A flat list of blocks (ReXNet's and torchvision MobileNetV3's ``features.<i>``) is split into stages
at ``feature_info``'s modules, each of which ends a stage (the k-th group, from 0, is stage k + 2);
without ``feature_info`` its gates are ``SE_<index in the list>``. A name that would repeat (two
gates in one block) gets ``_2``, ``_3`` ...
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from torch import nn

__all__ = ["gate_names", "feature_modules"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
Placed = tuple[str, int, int]  # name, stage, position


def feature_modules(model: nn.Module, modules: Mapping[str, nn.Module] | None = None) -> list[str]:
    """The module paths that timm's ``model.feature_info`` names (its stage outputs), in order; [] without one."""
    modules = dict(model.named_modules()) if modules is None else modules
    info = getattr(model, "feature_info", None)
    if isinstance(info, (list, tuple)):
        paths = [d.get("module") for d in info if isinstance(d, dict)]
    elif callable(getattr(info, "module_name", None)):  # timm's FeatureInfo (features_only models)
        paths = list(info.module_name())
    else:
        return []
    return [p for p in paths if isinstance(p, str) and p and p in modules]


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


def _ancestors(path: str) -> list[str]:
    """Proper ancestors of a module path, outermost first (``a.b.c`` -> ``a``, ``a.b``)."""
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _child_index(path: str, modules: Mapping[str, nn.Module], model: nn.Module) -> int:
    parent = _parent(path)
    names = [n for n, _ in (modules[parent] if parent else model).named_children()]
    return names.index(path.rpartition(".")[2])


def _trailing_number(token: str) -> int | None:
    m = re.search(r"(\d+)$", token)
    return int(m.group(1)) if m and not token.isdigit() else None


def stage_number(stage_path: str, modules: Mapping[str, nn.Module]) -> int | None:
    """Paper stage number of a stage module: ``layer1``/``s1``/``block1`` -> 2; ``stages.0`` -> 2; else None."""
    if not stage_path:
        return None
    parent_path, _, token = stage_path.rpartition(".")
    n = _trailing_number(token)
    if n is not None:
        return n + 1
    if token.isdigit():
        parent = modules[parent_path] if parent_path else None
        if parent is None:
            return int(token) + 2
        kind = type(modules[stage_path])
        same = [name for name, child in parent.named_children() if type(child) is kind]
        return same.index(token) + 2
    return None


def _nearest_block(se_path: str, modules: Mapping[str, nn.Module]) -> str:
    """The nearest enclosing module of the SE block that is not a container (the block itself if none)."""
    for path in reversed(_ancestors(se_path)):
        if not isinstance(modules[path], _CONTAINERS):
            return path
    return se_path.split(".")[0]


def _block_below(stage: str, se_path: str, modules: Mapping[str, nn.Module]) -> str:
    """The first non-container module under ``stage`` on the path to the SE block (``stage`` when none)."""
    for path in _ancestors(se_path):
        if len(path) > len(stage) and path.startswith(stage + ".") and not isinstance(modules[path], _CONTAINERS):
            return path
    return stage


def _by_feature_info(model: nn.Module, se_paths: Sequence[str], modules: Mapping[str, nn.Module],
                     features: list[str]) -> list[tuple[str, int | None, int] | None]:
    """Per SE path: (stage path, stage number or None, position), or None outside every stage.

    Flat lists (the stage found is the block itself, inside a list) are split at ``features``.
    """
    holders = {_parent(p) for p in features}
    out = []
    for se_path in se_paths:
        stage = next((a for a in reversed(_ancestors(se_path)) if _parent(a) in holders), None)
        if stage is None:
            out.append(None)
            continue
        block = _block_below(stage, se_path, modules)
        holder = _parent(stage)
        if block == stage and holder and isinstance(modules[holder], _CONTAINERS):  # a flat list of blocks
            index = _child_index(stage, modules, model)
            ends = sorted(_child_index(f, modules, model) for f in features if _parent(f) == holder)
            before = [e for e in ends if e < index]
            out.append((f"{holder}#{len(before)}", len(before) + 2, index - (before[-1] if before else -1)))
            continue
        position = 1 if block == stage else _child_index(block, modules, model) + 1
        out.append((stage, stage_number(stage, modules), position))
    return out


def _by_module_tree(model: nn.Module, se_paths: Sequence[str], modules: Mapping[str, nn.Module]) -> list[Placed]:
    """Names from the module tree alone: the parent of each gate's block is its stage; flat -> ``SE_<index>``."""
    located = []
    for path in se_paths:
        block = _nearest_block(path, modules)
        located.append((_parent(block), block))
    stage_paths = {s for s, _ in located}
    flat = len(stage_paths) == 1 and not stage_number(next(iter(stage_paths)), modules)
    out = []
    for se_path, (stage, block) in zip(se_paths, located):
        if flat:
            token = block.rpartition(".")[2]
            idx = int(token) if token.isdigit() else _child_index(block, modules, model)
            out.append((f"SE_{idx}", 0, idx))
            continue
        number = stage_number(stage, modules)
        if number is None:  # e.g. torchvision MaxViT: blocks.0.layers.0.layers.MBconv.layers.se
            outer = next((a for a in _ancestors(se_path) if isinstance(modules[a], _CONTAINERS)), None)
            inner = None if outer is None else next((a for a in _ancestors(se_path) if _parent(a) == outer), None)
            if inner is not None and stage_number(inner, modules) is not None:
                stage, number = inner, stage_number(inner, modules)
                below = [a for a in _ancestors(se_path) if a.startswith(stage + ".")
                         and not isinstance(modules[a], _CONTAINERS) and isinstance(modules[_parent(a)], _CONTAINERS)]
                block = below[0] if below else block
        position = _child_index(block, modules, model) + 1 if block != stage else 1
        out.append((f"SE_{number or 0}_{position}", number or 0, position))
    return out


def _number_the_rest(placed: list, se_paths: Sequence[str], modules: Mapping[str, nn.Module],
                     features: list[str]) -> list[Placed]:
    """Give stages without a number, and gates outside every stage, 1 (before the numbered stages, in module
    order) or the last stage + 1 (after them); gates outside every stage count from 1 in their group."""
    order = {path: i for i, path in enumerate(modules)}
    known = [(order[f], stage_number(f, modules)) for f in features]
    known += [(order[path], p[1]) for path, p in zip(se_paths, placed) if p is not None]
    known = [(o, n) for o, n in known if n is not None]
    first = min((o for o, _ in known), default=len(order))
    last = max((n for _, n in known), default=1)
    counts: dict[int, int] = {}
    out = []
    for path, p in zip(se_paths, placed):
        if p is not None and p[1] is not None:
            out.append((f"SE_{p[1]}_{p[2]}", p[1], p[2]))
            continue
        stage = 1 if order[path] < first else last + 1
        if p is not None:  # an unnumbered stage (``stem``, ``final_conv``): its own positions
            position = p[2]
        else:
            counts[stage] = counts.get(stage, 0) + 1
            position = counts[stage]
        out.append((f"SE_{stage}_{position}", stage, position))
    return out


def gate_names(model: nn.Module, se_paths: Sequence[str]) -> list[Placed]:
    """(name, stage, position) for the SE blocks at ``se_paths`` (in forward order), by the rule above."""
    modules = dict(model.named_modules())
    features = feature_modules(model, modules)
    if features:
        out = _number_the_rest(_by_feature_info(model, se_paths, modules, features), se_paths, modules, features)
    else:
        out = _by_module_tree(model, se_paths, modules)
    seen: dict[str, int] = {}
    unique = []
    for name, stage, position in out:
        seen[name] = seen.get(name, 0) + 1
        unique.append((name if seen[name] == 1 else f"{name}_{seen[name]}", stage, position))
    return unique
