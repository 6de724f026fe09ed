"""Whether an architecture has SE gates, decided without weights: built on the meta device, its gates counted.

:func:`count_gates` builds ``timm/<arch>`` or ``torchvision/<arch>`` under ``torch.device("meta")``
(parameters without storage, so a 600M-parameter network costs no memory) and counts its gates
with :func:`se_analysis.gates.find_gates`; an architecture that cannot be built on the meta device
is built on the CPU. Building is most of the time, and most of that is weight initialisation,
which means nothing without storage: a scanning process (``python -m se_analysis.models.scan``,
names on stdin, one JSON line per name on stdout) first calls :func:`skip_weight_init`, which
sends the factories' large tensors to the meta device and makes in-place initialisation of meta
tensors a no-op for the whole process, about twice as fast. :mod:`.catalog` runs those processes.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import warnings

import torch
from torch import nn

from se_analysis.gates.find import NoSEGatesError, find_gates

__all__ = ["architecture_names", "build_architecture", "count_gates", "skip_weight_init"]

_FACTORIES = ("empty", "zeros", "ones", "rand", "randn", "full")
_INPLACE = ("uniform_", "normal_", "zero_", "fill_", "clamp_", "erfinv_", "mul_", "add_", "copy_", "fmod_",
            "exponential_", "bernoulli_", "div_", "sub_")
_SMALL = 256  # tensors up to this many elements stay on the CPU (shapes computed with them, e.g. RegNet's widths)


def architecture_names() -> list[str]:
    """Every timm architecture (``timm/<arch>``) and torchvision classification model (``torchvision/<arch>``)."""
    import timm
    import torchvision

    return ([f"timm/{a}" for a in timm.list_models()]
            + [f"torchvision/{a}" for a in torchvision.models.list_models(module=torchvision.models)])


def build_architecture(name: str) -> nn.Module:
    """``timm/<arch>`` or ``torchvision/<arch>`` with random (or, on the meta device, no) weights."""
    library, _, arch = name.partition("/")
    if library == "timm":
        import timm

        return timm.create_model(arch, pretrained=False)
    if library == "torchvision":
        import torchvision

        return torchvision.models.get_model(arch, weights=None)
    raise KeyError(f"not a timm or torchvision name: {name!r}")


def count_gates(name: str, weight_init_skipped: bool = False) -> dict:
    """``{"name", "gates", "error"}``: the number of SE gates of an architecture (0 without any), or the error
    that kept it from being built even on the CPU.

    With ``weight_init_skipped`` (after :func:`skip_weight_init`) the first try builds without a device
    context; then on the meta device, then on the CPU.
    """
    module, error = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for device in ((None,) if weight_init_skipped else ()) + ("meta", "cpu"):
            if device == "meta" and weight_init_skipped:
                skip_weight_init(False)  # the plain meta device, then the CPU
            try:
                with torch.device(device) if device else contextlib.nullcontext():
                    module = build_architecture(name)
                break
            except Exception as e:  # noqa: BLE001 - some constructors compute on their tensors
                error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if weight_init_skipped:
            skip_weight_init(True)
    if module is None:
        return {"name": name, "gates": 0, "error": error}
    try:
        gates = len(find_gates(module))
    except NoSEGatesError:
        gates = 0
    return {"name": name, "gates": gates, "error": None}


def _numel(size: tuple) -> int:
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    try:
        return math.prod(int(s) for s in size)
    except (TypeError, ValueError):
        return 0


_ORIGINALS: dict[tuple[object, str], object] = {}


def skip_weight_init(on: bool = True) -> None:
    """For this whole process: large tensors from the factories (``torch.empty``, ``zeros`` ...) without a
    device go to the meta device, and in-place initialisation of meta tensors (``uniform_``, ``normal_``,
    ``nn.init.*``, and so timm's ``trunc_normal_`` ...) returns at once. Only for a process that only scans;
    ``on=False`` puts the originals back."""
    def factory(original):
        def make(*size, **kwargs):
            if kwargs.get("device") is None and kwargs.get("out") is None and _numel(size) > _SMALL:
                kwargs["device"] = "meta"
            return original(*size, **kwargs)
        return make

    def method(original):
        return lambda self, *a, **k: self if self.is_meta else original(self, *a, **k)

    def function(original):
        def init(*args, **kwargs):
            t = args[0] if args else kwargs.get("tensor")
            return t if isinstance(t, torch.Tensor) and t.is_meta else original(*args, **kwargs)
        return init

    targets = ([(torch, n, factory) for n in _FACTORIES] + [(torch.Tensor, n, method) for n in _INPLACE]
               + [(nn.init, n, function) for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")])
    for owner, name, wrap in targets:
        original = _ORIGINALS.setdefault((owner, name), getattr(owner, name))
        setattr(owner, name, wrap(original) if on else original)


def main() -> None:
    """Count the gates of the architectures named on stdin (one a line); one JSON object a line on stdout."""
    skip_weight_init()
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        result = count_gates(name, weight_init_skipped=True)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
