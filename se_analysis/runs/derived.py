"""Tables derived from a Run's gates that take long at ImageNet scale (decodability, PCA), computed once per Run.

At 50,000 images on SE-ResNet-50's 16 blocks, decodability takes half a minute and the PCA a quarter:
too long for every first open of a page, every new app process and every ``export``. They are kept
beside the Run instead:

* in the Run folder's ``derived/`` when it can be written (``extract`` fills it on the machine that made
  the Run, so the folder copied to a laptop arrives with them);
* else (a read-only folder) under ``$SE_ANALYSIS_HOME/derived/<fingerprint>/``, which keeps the
  :data:`HOME_RUNS_KEPT` Runs last used and removes the others' tables (computed again if opened again).

A derived table belongs to one Run's content and one recipe: its file name carries the fingerprint of
the files the Run was opened from (:func:`~se_analysis.runs.run.content_fingerprint`: its manifest,
which names its model, weights, data and creation, and its arrays file's size), so a Run written again
over its folder, or another Run copied in, never reads a stale table; and :data:`DERIVED_VERSION`, raised
whenever a table's computation changes, so tables that travel with old Run folders are computed again.
Callers put their parameters in the table's name. Runs that live only in memory compute every time.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd

from se_analysis.runs.run import DERIVED_FOLDER, Run, default_store_root

__all__ = ["derived_table", "stored_table", "is_kept", "keeps_tables", "DERIVED_VERSION"]

DERIVED_VERSION = 1  # raised whenever a derived table's computation changes: old tables are then ignored
HOME_RUNS_KEPT = 16  # Runs whose tables the home cache keeps; past that, the least recently used go


def _stem(name: str) -> str:
    """A table's name as the start of a file name (``decodability-superclass:9`` -> ``decodability-superclass-9``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _file_name(run: Run, name: str) -> str:
    return f"{_stem(name)}.v{DERIVED_VERSION}.{run.fingerprint}.parquet"


def _places(run: Run) -> list[tuple[Path, bool]]:
    """Where a derived table of ``run`` may be, with whether its parents may be made: the Run folder's
    ``derived/`` (never the Run folder itself, which may have been moved away), then the home cache."""
    home = Path(os.environ["SE_ANALYSIS_HOME"]) if os.environ.get("SE_ANALYSIS_HOME") else default_store_root().parent
    return [(run.folder / DERIVED_FOLDER, False), (home / DERIVED_FOLDER / run.fingerprint, True)]


def _kept(run: Run) -> bool:
    return run.folder is not None and run.fingerprint is not None


def keeps_tables(run: Run) -> bool:
    """Whether ``run``'s derived tables are kept on disk (a Run opened from a folder), not computed every time."""
    return _kept(run)


def is_kept(run: Run, name: str) -> bool:
    """Whether the table ``name`` of ``run`` is on disk (checked without reading it)."""
    return _kept(run) and any((place / _file_name(run, name)).is_file() for place, _ in _places(run))


def stored_table(run: Run, name: str) -> pd.DataFrame | None:
    """The table ``name`` derived from ``run`` and kept on disk, or None (not computed yet, or unreadable)."""
    if not _kept(run):
        return None
    file = _file_name(run, name)
    for place, in_home in _places(run):
        try:
            table = pd.read_parquet(place / file)
        except (OSError, ValueError):  # absent, or cut short: computed again
            continue
        if in_home:
            _touch(place)
        return table
    return None


def _touch(folder: Path) -> None:
    """Mark a home-cache folder as just used (its modification time), for :func:`_prune_home`."""
    try:
        os.utime(folder)
    except OSError:
        pass


def _prune_home(home_folder: Path) -> None:
    """Remove the home cache's least recently used Runs' tables beyond :data:`HOME_RUNS_KEPT` (oldest use first):
    the cache holds tables of read-only Run folders only, which any later open computes again."""
    try:
        folders = sorted((f for f in home_folder.parent.iterdir() if f.is_dir()), key=lambda f: f.stat().st_mtime)
    except OSError:
        return
    for old in folders[:max(len(folders) - HOME_RUNS_KEPT, 0)]:
        if old == home_folder:
            continue
        for f in old.glob("*.parquet"):
            f.unlink(missing_ok=True)
        try:
            old.rmdir()
        except OSError:  # something else in it: left alone
            pass


def _write(df: pd.DataFrame, place: Path, parents: bool, file: str, stem: str) -> bool:
    """Write atomically into ``place`` (stale versions of the same table removed); False if it cannot."""
    try:
        place.mkdir(parents=parents, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=place)
        os.close(fd)
        try:
            df.to_parquet(tmp, index=False)
            os.chmod(tmp, 0o644)  # readable like the Run's own files (mkstemp makes it private)
            os.replace(tmp, place / file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for old in place.glob(f"{stem}.*.parquet"):
            if old.name != file:
                old.unlink(missing_ok=True)
        return True
    except (OSError, ValueError):  # unwritable, moved away, or a table pyarrow cannot write: the caller has it
        return False


def derived_table(run: Run, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The table ``name`` derived from ``run``: read from disk when it was computed before, else ``compute()``d
    and kept (in the Run folder, else the home cache; a Run without a folder is computed every time)."""
    kept = stored_table(run, name)
    if kept is not None:
        return kept
    df = compute()
    if _kept(run):
        for place, parents in _places(run):
            if _write(df, place, parents, _file_name(run, name), _stem(name)):
                if parents:  # the home cache
                    _touch(place)
                    _prune_home(place)
                break
    return df
