"""The listing: every timm and torchvision architecture that has SE gates, with its gate count.

Each architecture of timm (``timm.list_models()``) and each torchvision classification model is built
on the meta device and its gates counted (:mod:`.scan`), in a few worker processes; those with at
least one gate are listed, with their pretrained weights (timm's tags, torchvision's weights enum,
the default first). The listing is cached on disk per library version (timm, torchvision, torch,
se-analysis and the gate-finding code) under ``$SE_ANALYSIS_HOME/catalog`` (default
``~/.cache/se_analysis/catalog``), so it is built once; ``data/catalog`` ships the one for the versions
requirements.txt installs. ``benchmarks/catalog_benchmark.py`` measures building and reading it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import torch

from se_analysis.data.paths import DATA_DIR
from se_analysis.models.scan import architecture_names, count_gates

__all__ = ["Architecture", "Catalog", "catalog_versions", "catalog_file", "cached_catalog", "shipped_catalog_file", "se_architectures",
           "scan_architectures", "pretrained_weights", "write_catalog"]

_PACKAGE = Path(__file__).resolve().parents[1]
# The code that decides what is a gate: a change to it is a new listing.
_GATE_CODE = ("gates/find.py", "gates/activation.py", "gates/functional.py", "gates/names.py", "models/scan.py")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Architecture:
    """One architecture with SE gates: ``name`` (``timm/seresnet50``) loads it, ``weights`` its pretrained
    weights (``a1_in1k`` ... for ``timm/seresnet50.a1_in1k``; torchvision's enum names), the default first."""

    name: str
    library: str
    gates: int
    weights: tuple[str, ...] = ()


@dataclass
class Catalog:
    """The listing and how it was made: ``scanned`` architectures in ``seconds``, those that could not be
    built (``failed``: name -> error), the library versions it holds for."""

    architectures: list[Architecture]
    scanned: int
    seconds: float
    versions: dict
    failed: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def counts(self) -> dict[str, int]:
        """How many architectures with SE gates each library has."""
        out: dict[str, int] = {}
        for a in self.architectures:
            out[a.library] = out.get(a.library, 0) + 1
        return out


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "source"


def catalog_versions() -> dict:
    """What the listing depends on: timm, torchvision, torch and se-analysis versions, and a hash of the
    gate-finding code."""
    import timm
    import torchvision

    code = hashlib.sha256()
    for rel in _GATE_CODE:
        code.update((_PACKAGE / rel).read_bytes())
    return {"timm": timm.__version__, "torchvision": torchvision.__version__, "torch": torch.__version__,
            "se_analysis": _version("se-analysis"), "gate_code": code.hexdigest()[:12]}


def _home() -> Path:
    home = os.environ.get("SE_ANALYSIS_HOME")
    return Path(home) if home else Path.home() / ".cache" / "se_analysis"


def catalog_file(versions: dict | None = None) -> Path:
    """Where the listing for these versions is cached."""
    v = versions or catalog_versions()
    return _home() / "catalog" / (f"se_architectures-timm{v['timm']}-tv{v['torchvision']}-sa{v['se_analysis']}-"
                                  f"{v['gate_code']}.json")


def shipped_catalog_file(versions: dict | None = None) -> Path:
    """Where the project ships a prebuilt listing for these timm / torchvision versions and gate-finding code.

    Building the listing takes about 22 s on two idle cores, minutes on busy ones
    (``benchmarks/catalog_benchmark.py``), so
    ``data/catalog`` carries the one for the versions requirements.txt installs; other versions, or
    changed gate-finding code (its hash is in the name), build their own on first use.
    """
    v = versions or catalog_versions()
    return DATA_DIR / "catalog" / f"se_architectures-timm{v['timm']}-tv{v['torchvision']}-{v['gate_code']}.json"


def cached_catalog() -> Catalog | None:
    """The cached listing for the installed versions (this machine's cache, else the shipped one), or None."""
    versions = catalog_versions()
    path = catalog_file(versions)
    if not path.exists():
        path = shipped_catalog_file(versions)
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        raw["architectures"] = [Architecture(a["name"], a["library"], int(a["gates"]), tuple(a.get("weights", ())))
                                for a in raw["architectures"]]
        return Catalog(**raw)
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable cache is built again


def pretrained_weights(name: str) -> tuple[str, ...]:
    """The pretrained weights of ``timm/<arch>`` (its tags) or ``torchvision/<arch>`` (its enum), default first."""
    library, _, arch = name.partition("/")
    if library == "timm":
        from timm.models import get_arch_pretrained_cfgs

        return tuple(t.partition(".")[2] for t, cfg in get_arch_pretrained_cfgs(arch).items()
                     if getattr(cfg, "has_weights", False))  # "untrained" tags left out
    import torchvision

    enum = torchvision.models.get_model_weights(arch)
    names = [w.name for w in enum]
    default = enum.DEFAULT.name
    return tuple([default] + [n for n in names if n != default])


def _worker_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE.parent)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def scan_architectures(names: Sequence[str], workers: int | None = None,
                       progress: Progress | None = None) -> list[dict]:
    """``count_gates`` of each name, in ``workers`` processes (``python -m se_analysis.models.scan``), or in this
    process when ``workers`` is 0. A name a worker did not answer (it crashed) gets an error."""
    names = list(names)
    total, done = len(names), 0
    if workers == 0:
        out = []
        for name in names:
            out.append(count_gates(name))
            if progress:
                progress(len(out), total)
        return out
    workers = max(1, min(workers or min(8, os.cpu_count() or 1), total))
    results: dict[str, dict] = {}
    lock = threading.Lock()

    def run(shard: list[str]) -> None:
        nonlocal done
        proc = subprocess.Popen([sys.executable, "-m", "se_analysis.models.scan"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_worker_env())
        proc.stdin.write("\n".join(shard) + "\n")
        proc.stdin.close()
        for line in proc.stdout:
            try:
                result = json.loads(line)
            except ValueError:
                continue
            with lock:
                results[result["name"]] = result
                done += 1
                if progress:
                    progress(done, total)
        proc.wait()

    threads = [threading.Thread(target=run, args=(names[i::workers],), daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results.get(n, {"name": n, "gates": 0, "error": "the scanning process stopped before it"}) for n in names]


def se_architectures(refresh: bool = False, workers: int | None = None, progress: Progress | None = None) -> Catalog:
    """Every timm and torchvision architecture with SE gates: the cached listing, else built (and cached).

    Args:
        refresh: build it again even when cached.
        workers: scanning processes (default: one per CPU core, at most 8); 0 scans in this process.
        progress: called as ``progress(done, total)`` while building.
    """
    if not refresh:
        cached = cached_catalog()
        if cached is not None:
            return cached
    versions = catalog_versions()
    t0 = time.perf_counter()
    names = architecture_names()
    scanned = scan_architectures(names, workers=workers, progress=progress)
    found = [Architecture(r["name"], r["name"].partition("/")[0], int(r["gates"]), pretrained_weights(r["name"]))
             for r in scanned if r["gates"] > 0]
    catalog = Catalog(architectures=found, scanned=len(names), seconds=round(time.perf_counter() - t0, 2),
                      versions=versions, failed={r["name"]: r["error"] for r in scanned if r.get("error")},
                      created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    write_catalog(catalog)
    return catalog


def write_catalog(catalog: Catalog) -> Path:
    """Cache ``catalog`` for its versions (atomically: readers never see half a file); returns the file."""
    path = catalog_file(catalog.versions)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(catalog), indent=1))
    os.replace(tmp, path)
    return path
