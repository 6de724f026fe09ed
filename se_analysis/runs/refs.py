"""Which Run a reference names: a key in the run store, or the path of a Run folder made anywhere.

The app's link and the CLI both name a Run this way, so ``?run=<key>`` and ``?run=/data/runs/in1k``
reopen the same Run on the same machine. A Run opens in place, by reference: nothing is copied,
its arrays are read from where they lie. Paths from a link must lie inside the data roots (or the
store); a path given where the app is started (``-- --run PATH``) is trusted as it is.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from se_analysis.data.access import ENV_ROOTS, data_roots, inside_roots
from se_analysis.runs.run import RunStore, is_run_folder

__all__ = ["RunNotFound", "run_folder", "run_id", "is_store_key"]


class RunNotFound(LookupError):
    """A reference that names no Run here (the message says why, in one line)."""


def is_store_key(ref: str) -> bool:
    """Whether ``ref`` is a run-store key (letters and digits, and not a folder here: ``extract --out run1``
    then ``-- --run run1`` names the folder), not a path."""
    return bool(ref) and ref.isalnum() and not os.path.isdir(ref)


def run_folder(ref: str, store: RunStore, roots: list[Path] | None = None, trusted: Sequence[str | Path] = ()
               ) -> Path:
    """The folder of the Run that ``ref`` names.

    Args:
        ref: a store key, or a Run folder's path (``~`` expanded).
        store: the run store keys are looked up in (its folders are always allowed).
        roots: the data roots a path must lie in (default: :func:`~se_analysis.data.access.data_roots`).
        trusted: paths allowed wherever they are (the one named where the app was started).

    Raises:
        RunNotFound: no such key, not a Run folder, or a path outside the data roots.
    """
    if is_store_key(ref):
        folder = store.path(ref)
        if not (folder / "manifest.json").is_file():
            raise RunNotFound(f"no run {ref!r} in the run store ({store.root})")
        return folder
    folder = Path(os.path.realpath(os.path.expanduser(ref.strip())))
    allowed = [Path(os.path.realpath(os.path.expanduser(str(t)))) for t in trusted]
    if not (folder in allowed or inside_roots(folder, [store.root.resolve()]) or inside_roots(folder, roots
                                                                                               or data_roots())):
        raise RunNotFound(f"only Run folders inside the data roots open here ({ENV_ROOTS} sets them where the app "
                          "is started, or start it with `-- --run PATH`)")
    if not folder.is_dir():
        raise RunNotFound(f"{ref} is not a folder on this machine")
    if not is_run_folder(folder):
        raise RunNotFound(f"{ref} is not a Run folder (a Run folder holds manifest.json, images.parquet and "
                          "arrays.safetensors, as `extract --out` writes them)")
    return folder


def run_id(ref: str) -> str:
    """A short name for caches and file names: the key itself (a store key names its content), or ``run`` + a
    hash of the folder's real path and its manifest's time, so a folder written again is a new Run to every
    cache."""
    if is_store_key(ref):
        return ref
    real = os.path.realpath(os.path.expanduser(ref.strip()))
    try:
        stamp = str(os.stat(os.path.join(real, "manifest.json")).st_mtime_ns)
    except OSError:
        stamp = ""
    return "run" + hashlib.sha256(f"{real}\0{stamp}".encode()).hexdigest()[:12]
