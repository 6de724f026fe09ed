"""Tables derived from a Run's gates that take long at ImageNet scale (decodability, PCA), computed once per Run.

At 50,000 images on SE-ResNet-50's 16 blocks, decodability takes half a minute and the PCA a quarter:
too long for every first open of a page, every new app process and every ``export``. They are kept
beside the Run instead:

* in the Run folder's ``derived/`` when it can be written (``extract`` fills it on the machine that made
  the Run, so the folder copied to a laptop arrives with them);
* else (a read-only folder) under ``$SE_ANALYSIS_HOME/derived/<fingerprint>/``.

A derived table belongs to one Run's content: its file name carries a fingerprint of the Run's
manifest (which names its model, weights, data and creation) and of its arrays file's size, so a
Run written again over its folder, or another Run copied in, never reads a stale table. Runs that live
only in memory compute every time.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import pandas as pd

from se_analysis.runs.run import DERIVED_FOLDER, Run, default_store_root

__all__ = ["derived_table", "stored_table", "run_fingerprint"]


def run_fingerprint(folder: Path) -> str:
    """16 hex digits naming one Run's content: its manifest's bytes and its arrays file's size."""
    digest = hashlib.sha256((folder / "manifest.json").read_bytes())
    digest.update(str((folder / "arrays.safetensors").stat().st_size).encode())
    return digest.hexdigest()[:16]


def _file_name(name: str, fingerprint: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', name)}.{fingerprint}.parquet"


def _places(run: Run) -> list[Path]:
    """Where a derived table of ``run`` may be: its own folder's ``derived/``, then the home cache."""
    home = Path(os.environ["SE_ANALYSIS_HOME"]) if os.environ.get("SE_ANALYSIS_HOME") else default_store_root().parent
    return [run.folder / DERIVED_FOLDER, home / DERIVED_FOLDER / run_fingerprint(run.folder)]


def stored_table(run: Run, name: str) -> pd.DataFrame | None:
    """The table ``name`` derived from ``run`` and kept on disk, or None (not computed yet, or unreadable)."""
    if run.folder is None:
        return None
    file = _file_name(name, run_fingerprint(run.folder))
    for place in _places(run):
        try:
            return pd.read_parquet(place / file)
        except (OSError, ValueError):  # absent, or cut short: computed again
            continue
    return None


def _write(df: pd.DataFrame, place: Path, file: str, stem: str) -> bool:
    """Write atomically into ``place`` (stale fingerprints of the same table removed); False if not writable."""
    try:
        place.mkdir(parents=True, exist_ok=True)
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
    except OSError:
        return False


def derived_table(run: Run, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The table ``name`` derived from ``run``: read from disk when it was computed before, else ``compute()``d
    and kept (in the Run folder, else the home cache; a Run without a folder is computed every time)."""
    kept = stored_table(run, name)
    if kept is not None:
        return kept
    df = compute()
    if run.folder is not None:
        file = _file_name(name, run_fingerprint(run.folder))
        stem = file.rsplit(".", 2)[0]
        for place in _places(run):
            if _write(df, place, file, stem):
                break
    return df
