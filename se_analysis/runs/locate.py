"""Whether a Run's images are on this machine: a Run made elsewhere keeps its statistics, not its images.

A Run copied from a GPU box names its images by that machine's paths. Its statistics need only
the stored gates, but thumbnails and ablations need the images themselves; this says which it is,
and why, in one sentence the app and the CLI show.
"""

from __future__ import annotations

import os
import re
import socket

from se_analysis.runs.run import Run

__all__ = ["images_here", "made_elsewhere"]

_SAMPLE = re.compile(r"sample_set\[\d+\]")


def made_elsewhere(run: Run) -> str | None:
    """The name of the machine that made ``run``, when it is not this one (else None; runs before the
    manifest recorded its host say nothing)."""
    host = run.manifest.get("host")
    return host if host and host != socket.gethostname() else None


def images_here(run: Run, probe: int = 16) -> tuple[bool, str]:
    """(whether ``run``'s images can be read here, a sentence saying why not, or "" when they can).

    Uploads are never stored; a sample set or a folder is checked at its root and at ``probe`` of the
    images spread over the run (a folder may be partly copied).
    """
    spec = run.manifest.get("data_spec", {}) or {}
    where = f" on {made_elsewhere(run)}" if made_elsewhere(run) else ""
    if spec.get("kind") == "uploads":
        return False, "this run's images were uploaded and are not stored with it"
    root = spec.get("root") or spec.get("path")
    if root and not os.path.exists(str(root)):
        return False, (f"this run's images were read from {root}{where}, which is not on this machine; the statistics "
                       "pages work from the stored gates")
    sources = run.images["source"].astype(str)
    if len(sources):
        picks = sources.iloc[sorted({int(i * (len(sources) - 1) / max(probe - 1, 1)) for i in range(probe)})]
        missing = [s for s in picks if not _SAMPLE.fullmatch(s) and not os.path.isfile(s)]
        if missing:
            return False, (f"{len(missing)} of {len(picks)} images checked are not on this machine (e.g. {missing[0]}"
                           f"{where}); the statistics pages work from the stored gates")
    return True, ""
