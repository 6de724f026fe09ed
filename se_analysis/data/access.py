"""Which folders the app may read: configured data roots, never the whole file system.

The app's "folder on this machine" field would otherwise let anyone who reaches the server list
and view any image the server process can read. Folders must lie inside a data root (after
resolving ``..`` and symbolic links); files that link out of a root are skipped. The refusal
message is the same whether or not the path exists, so it reveals nothing about it.

Roots come from ``SE_ANALYSIS_DATA_ROOTS`` (paths separated by ``os.pathsep``), else the user's
home folder and the bundled ``data/`` folder. The CLI, run by the user on their own files, is
not restricted.
"""

from __future__ import annotations

import os
from pathlib import Path

from se_analysis.data.paths import DATA_DIR

__all__ = ["ENV_ROOTS", "MAX_UPLOAD_IMAGES", "FolderRefused", "data_roots", "check_folder", "inside_roots"]

ENV_ROOTS = "SE_ANALYSIS_DATA_ROOTS"
MAX_UPLOAD_IMAGES = 2000  # images per upload batch in the app (each file is also capped by server.maxUploadSize)


class FolderRefused(PermissionError):
    """A folder outside the data roots (the message says nothing about the path itself)."""


def data_roots() -> list[Path]:
    """The resolved data roots."""
    raw = os.environ.get(ENV_ROOTS)
    roots = [Path(p) for p in raw.split(os.pathsep) if p.strip()] if raw else [Path.home(), DATA_DIR]
    return [r.expanduser().resolve() for r in roots]


def inside_roots(path: str | os.PathLike, roots: list[Path] | None = None) -> bool:
    """Whether ``path``, with ``..`` and every symbolic link resolved, lies inside a data root."""
    real = Path(os.path.realpath(os.path.expanduser(str(path))))
    return any(real == r or real.is_relative_to(r) for r in (roots if roots is not None else data_roots()))


def check_folder(path: str) -> Path:
    """``path`` resolved, if it is inside a data root; else :class:`FolderRefused`."""
    roots = data_roots()
    if not path.strip() or not inside_roots(path, roots):
        raise FolderRefused(f"Only folders inside the data roots can be read here ({len(roots)} configured; set "
                            f"{ENV_ROOTS} where the app is started to change them).")
    return Path(os.path.realpath(os.path.expanduser(path)))
