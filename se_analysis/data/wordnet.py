"""WordNet 3.0's noun hierarchy for the ImageNet classes: a small reader of ``data.noun`` and the shipped tables.

ImageNet's WordNet id ``n01443537`` is ``n`` + the 8-digit byte offset of the synset's line in
WordNet 3.0's ``data.noun``. Each line reads (``wndb(5WN)``)::

    offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] | gloss

with ``w_cnt`` two hex digits, ``p_cnt`` three decimal digits and each pointer
``symbol offset pos source/target``; ``@`` is a hypernym, ``@i`` an instance hypernym, ``~`` a
hyponym. Lines starting with spaces are the license header.

**Rule for several hypernyms.** WordNet's noun graph is a DAG: some synsets have two or more
hypernyms (dog: canine and domestic animal). Each class gets one chain, following the *first*
``@`` pointer of every synset (the first ``@i`` when it has no ``@``), up to ``entity``
(n00001740). The lexicographers list the taxonomic parent first (dog -> canine -> carnivore ...),
so this chain is the one a biologist would draw; a synset's other hypernyms are ignored.
Depth is counted in edges from ``entity`` (depth 0).

:func:`build_tables` derives the tables shipped in ``data/imagenet/``
(``python -m se_analysis build-wordnet`` rebuilds them); the library reads only those tables at
run time (:mod:`se_analysis.data.hierarchy`), so WordNet need not be installed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from se_analysis.data.paths import IMAGENET_DIR

__all__ = ["ENTITY", "WORDNET_DIR", "HYPERNYMS_CSV", "NAMES_CSV", "PROVENANCE_MD", "Synset", "read_data_noun",
           "hypernym_chain", "build_tables", "write_tables"]

ENTITY = "n00001740"  # the root of the noun hierarchy
WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base
HYPERNYMS_CSV = IMAGENET_DIR / "wordnet_hypernyms.csv"
NAMES_CSV = IMAGENET_DIR / "wordnet_names.csv"
PROVENANCE_MD = IMAGENET_DIR / "WORDNET.md"


@dataclass(frozen=True)
class Synset:
    """One noun synset: its lemmas (``_`` kept as WordNet writes them) and its hypernyms' WordNet ids, in order."""

    wnid: str
    words: tuple[str, ...]
    hypernyms: tuple[str, ...]
    instance_hypernyms: tuple[str, ...]

    @property
    def name(self) -> str:
        """The first lemma, ``_`` as a space (``musical instrument``)."""
        return self.words[0].replace("_", " ")


def _parse_line(line: str) -> Synset:
    f = line.split(" | ", 1)[0].split()
    w_cnt = int(f[3], 16)
    words = tuple(f[4 + 2 * i] for i in range(w_cnt))
    at = 4 + 2 * w_cnt
    p_cnt = int(f[at])
    hyper, inst = [], []
    for i in range(p_cnt):
        symbol, offset, pos = f[at + 1 + 4 * i: at + 4 + 4 * i]
        if pos == "n" and symbol == "@":
            hyper.append("n" + offset)
        elif pos == "n" and symbol == "@i":
            inst.append("n" + offset)
    return Synset("n" + f[0], words, tuple(hyper), tuple(inst))


def read_data_noun(path: str | Path) -> dict[str, Synset]:
    """Every noun synset of a WordNet ``data.noun`` file, by WordNet id."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith(" ") or not line.strip():
                continue
            s = _parse_line(line)
            out[s.wnid] = s
    return out


def hypernym_chain(wnid: str, synsets: dict[str, Synset]) -> list[str]:
    """WordNet ids from ``entity`` down to ``wnid``, by each synset's first hypernym (see the module's rule).

    Raises:
        KeyError: ``wnid`` (or an ancestor) is not a noun synset of this WordNet.
        ValueError: the chain does not end at ``entity`` (not WordNet 3.0's noun hierarchy).
    """
    chain = [wnid]
    while True:
        s = synsets[chain[-1]]
        parents = s.hypernyms or s.instance_hypernyms
        if not parents:
            break
        if parents[0] in chain:
            raise ValueError(f"hypernym cycle at {parents[0]}")
        chain.append(parents[0])
    if chain[-1] != ENTITY:
        raise ValueError(f"{wnid}'s hypernyms end at {chain[-1]}, not entity ({ENTITY}): is this WordNet 3.0?")
    return chain[::-1]


def _csv_text(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _license_text(data: Path) -> str:
    """The license header of ``data.noun`` (its numbered lines starting with spaces), as plain text."""
    lines = []
    with open(data, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.startswith(" "):
                break
            lines.append(line.strip().split(" ", 1)[1].strip() if " " in line.strip() else "")
    return "\n".join(lines).strip()


def _package_version(package: str = "wordnet-base") -> str:
    """The Debian package's version (``dpkg-query``), or ``unknown`` where there is none."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def build_tables(wnids: Sequence[str], wordnet_dir: str | Path = WORDNET_DIR) -> dict[str, str]:
    """The shipped tables' text for ``wnids`` (in class-index order), from ``wordnet_dir/data.noun``.

    Returns:
        {"wordnet_hypernyms.csv": class_index, wnid, name, depth, chain (``;``-separated WordNet ids from
        ``entity`` down to the class); "wordnet_names.csv": wnid, name, depth of every synset in those
        chains (sorted by wnid); "WORDNET.md": where they came from}.
    """
    data = Path(wordnet_dir) / "data.noun"
    if not data.is_file():
        raise FileNotFoundError(f"{data} not found: install WordNet 3.0 (Debian/Ubuntu: apt-get install wordnet-base) "
                                "or pass --wordnet-dir")
    synsets = read_data_noun(data)
    missing = [w for w in wnids if w not in synsets]
    if missing:
        raise KeyError(f"{len(missing)} WordNet ids are not noun synsets of {data} (e.g. {missing[0]}): "
                       "ImageNet's ids are WordNet 3.0 offsets")
    chains = [hypernym_chain(w, synsets) for w in wnids]
    classes = [(i, w, synsets[w].name, len(c) - 1, ";".join(c)) for i, (w, c) in enumerate(zip(wnids, chains))]
    depth = {a: d for c in chains for d, a in enumerate(c)}
    names = [(a, synsets[a].name, depth[a]) for a in sorted(depth)]
    several = sum(len(synsets[a].hypernyms) > 1 for a in depth)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    note = f"""# WordNet hypernyms of the ImageNet classes

`wordnet_hypernyms.csv` (one row per class of the default model, in class-index order: `class_index, wnid,
name, depth, chain`) and `wordnet_names.csv` (`wnid, name, depth` of every synset in those chains) are
derived from **WordNet 3.0**'s `data.noun` by `python -m se_analysis build-wordnet`
(`se_analysis/data/wordnet.py`). The app and CLI group images by a class's ancestor at a chosen depth
from these tables; WordNet itself is not needed at run time.

- **Source**: Debian package `wordnet-base` version {_package_version()}, file `data.noun`
  (sha256 `{digest}`).
- **License**: the WordNet 3.0 license of Princeton University, kept with these derived tables as it
  asks (quoted below from the header of `data.noun`).
- **Rule**: a synset with several hypernyms follows its *first* `@` pointer (the first `@i`
  instance hypernym when it has none), so each class has one chain from `entity` ({ENTITY}, depth 0);
  {several} of the {len(depth)} synsets in these chains have more than one hypernym.
- **Names**: a synset's first lemma, `_` as a space; `chain` is `;`-separated WordNet ids, root first.
- {len(wnids)} classes, {len(depth)} synsets, class depths {min(map(len, chains)) - 1} to {max(map(len, chains)) - 1}.

## WordNet 3.0 license

{_license_text(data)}
"""
    return {"wordnet_hypernyms.csv": _csv_text(["class_index", "wnid", "name", "depth", "chain"], classes),
            "wordnet_names.csv": _csv_text(["wnid", "name", "depth"], names),
            "WORDNET.md": note}


def write_tables(wnids: Sequence[str], wordnet_dir: str | Path = WORDNET_DIR, out: str | Path = IMAGENET_DIR
                 ) -> list[Path]:
    """Write :func:`build_tables` into the folder ``out``; the written paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in build_tables(wnids, wordnet_dir).items():
        (out / name).write_text(text, encoding="utf-8", newline="")
        paths.append(out / name)
    return paths
