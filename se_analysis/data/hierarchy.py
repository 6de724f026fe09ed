"""Superclasses of the ImageNet classes: a class's WordNet ancestor at a depth the user picks.

Read from the tables shipped in ``data/imagenet/`` (built from WordNet 3.0 by
:mod:`se_analysis.data.wordnet`, whose module docstring gives the rule for synsets with several
hypernyms: the first one). WordNet is not needed at run time.

**Depth** is counted in edges from ``entity`` (depth 0), along each class's one chain. WordNet is
uneven: ``vehicle`` is at depth 7, ``bird`` at 9, ``dog`` at 13, so one depth cuts the tree
coarsely in some places and finely in others. :func:`superclass_options` therefore says how many
groups each depth makes of the classes at hand (e.g. depth 9 of the 1000 classes: 500 groups, the
largest ``mammal``, ``bird``, ``reptile``), for the user to pick from. A class whose chain is shorter
than the depth is its own group at that depth.
"""

from __future__ import annotations

import csv
import functools
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from se_analysis.data.wordnet import HYPERNYMS_CSV, NAMES_CSV

__all__ = ["SuperclassLevel", "chain_of", "superclass_of", "superclass_name", "superclass_options",
           "superclass_names"]


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """(class wnid -> chain from entity down to the class, wnid -> name), from the shipped tables."""
    if not HYPERNYMS_CSV.is_file():
        raise FileNotFoundError(f"{HYPERNYMS_CSV} is missing: rebuild it with `python -m se_analysis build-wordnet`")
    with open(HYPERNYMS_CSV, newline="", encoding="utf-8") as fh:
        chains = {row["wnid"]: tuple(row["chain"].split(";")) for row in csv.DictReader(fh)}
    with open(NAMES_CSV, newline="", encoding="utf-8") as fh:
        names = {row["wnid"]: row["name"] for row in csv.DictReader(fh)}
    return chains, names


def chain_of(wnid: str) -> tuple[str, ...] | None:
    """The class's WordNet ids from ``entity`` down to it, or None for a WordNet id that is not a class here."""
    return _tables()[0].get(wnid)


def superclass_of(wnids: Sequence[str], depth: int) -> list[str | None]:
    """Each class's ancestor at ``depth`` (0 = entity; a class shallower than ``depth`` is its own);
    None for a WordNet id that is not an ImageNet class."""
    if depth < 0:
        raise ValueError(f"depth counts from entity (0) down, not {depth}")
    out: list[str | None] = []
    for w in wnids:
        chain = chain_of(w)
        out.append(None if chain is None else chain[min(depth, len(chain) - 1)])
    return out


def superclass_name(wnid: str) -> str:
    """A synset's name (its first lemma, ``musical instrument``); the WordNet id itself when unknown."""
    return _tables()[1].get(wnid, wnid)


@functools.lru_cache(maxsize=1)
def _shared_names() -> frozenset[str]:
    counts = Counter(_tables()[1].values())
    return frozenset(n for n, k in counts.items() if k > 1)


def superclass_names(groups: Sequence[str]) -> list[str]:
    """Display names of groups, one name per synset everywhere: the synset's name, followed by its WordNet id
    where the tables hold two synsets of that name (``food (n00021265)``, ``crane (n02012849)``)."""
    shared = _shared_names()
    return [f"{superclass_name(g)} ({g})" if superclass_name(g) in shared else superclass_name(g) for g in groups]


@dataclass(frozen=True)
class SuperclassLevel:
    """One depth offered to the user: how many groups it makes and the largest of them (by classes)."""

    depth: int
    groups: int
    largest: tuple[str, ...]

    def label(self) -> str:
        """``depth 9: 5 groups (mammal, bird, reptile, ...)``."""
        more = ", ..." if self.groups > len(self.largest) else ""
        return (f"depth {self.depth}: {self.groups} group{'s' if self.groups != 1 else ''} "
                f"({', '.join(self.largest)}{more})")


def superclass_options(wnids: Sequence[str], show: int = 3) -> list[SuperclassLevel]:
    """The depths worth offering for these classes: from the first that splits them into two or more
    groups to the first that leaves every class on its own, each with its group count and ``show``
    largest groups. Empty when no class is an ImageNet class (or all are one).
    """
    chains = [c for c in (chain_of(w) for w in dict.fromkeys(wnids)) if c is not None]
    if len(chains) < 2:
        return []
    levels = []
    for depth in range(1, max(len(c) for c in chains)):
        count = Counter(c[min(depth, len(c) - 1)] for c in chains)
        if len(count) < 2:
            continue
        top = [g for g, _ in count.most_common(show)]
        levels.append(SuperclassLevel(depth, len(count), tuple(superclass_names(top))))
        if len(count) == len(chains):
            break
    return levels
