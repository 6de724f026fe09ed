"""The user's own model code: ``path/to/file.py:function`` or ``package.module:function``.

The function is called with no arguments and returns an ``nn.Module`` (whose weights are used as
they come, unless a checkpoint replaces them). The model's input and classes are, in order: what
is given here (``classes``, ``input_size``, ``mean``, ``std``); the module's own ``pretrained_cfg``
(a timm model) and ``class_names``; else ImageNet's mean and std at 3 x 224 x 224 (resize the
shorter side to 224 / 0.875, centre crop) and ImageNet's class names for 1000 outputs, ``class <i>``
otherwise. The preprocessing goes into the Run's manifest, and :func:`model_spec` into its
``model_spec``, from which the same model is built again (ablations, reopening a Run).

Importing the code runs it: this is for code you trust. The app offers only the models named in
``SE_ANALYSIS_MODELS`` (``name=module:function;name=path.py:function``), set by whoever starts it,
and never imports code from an upload or a link.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Callable, Collection, Sequence

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2 as T

from se_analysis.data.imagenet import imagenet_class_names
from se_analysis.data.paths import IMAGENET_SAMPLE
from se_analysis.gates.find import NoSEGatesError, find_gates
from se_analysis.gates.functional import functional_se_blocks, make_hookable
from se_analysis.models.senet import SENet

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MODELS_ENV", "is_code_spec", "canonical_code", "import_model_function",
           "registered_models", "load_user_model", "model_spec", "read_class_names"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODELS_ENV = "SE_ANALYSIS_MODELS"
_CROP_PCT = 0.875
_MODULE_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_code_spec(text: str) -> bool:
    """Whether ``text`` names model code: ``file.py:function`` or ``package.module:function``."""
    where, sep, function = text.rpartition(":")
    if not sep or not function.isidentifier() or text.startswith(("timm/", "torchvision/")):
        return False
    return where.endswith(".py") or bool(_MODULE_PATH.match(where))


def canonical_code(code: str) -> str:
    """``code`` with a file's path made absolute (a Run made here reloads from any folder)."""
    where, _, function = code.rpartition(":")
    return f"{Path(where).expanduser().resolve()}:{function}" if where.endswith(".py") else code


def import_model_function(code: str) -> Callable[[], nn.Module]:
    """The function that ``code`` names, imported (which runs the module's code)."""
    if not is_code_spec(code):
        raise ValueError(f"{code!r} does not name model code: write path/to/file.py:function or "
                         "package.module:function")
    where, _, function = code.rpartition(":")
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"model code file not found: {path}")
        name = f"se_analysis_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # the file's own imports of its neighbours
        try:
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            sys.path.remove(str(path.parent))
    else:
        module = importlib.import_module(where)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ValueError(f"{where} has no function {function!r}")
    return fn


def registered_models(environ: dict | None = None, reserved: Collection[str] = ()) -> dict[str, str]:
    """The models named in ``SE_ANALYSIS_MODELS`` (``name=module:function;name=path.py:function``): name -> code.

    Raises:
        ValueError: an entry that is not ``name=code``, a name used twice or one of ``reserved`` (the zoo's).
    """
    text = (os.environ if environ is None else environ).get(MODELS_ENV, "")
    out: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        name, sep, code = (part.strip() for part in entry.partition("="))
        if not sep or not name or not is_code_spec(code) or name.startswith(("timm/", "torchvision/")):
            raise ValueError(f"{MODELS_ENV}: {entry!r} is not name=module:function or name=path/to/file.py:function")
        if name in out or name in reserved:
            raise ValueError(f"{MODELS_ENV}: the name {name!r} is used twice" if name in out else
                             f"{MODELS_ENV}: the name {name!r} is a bundled model's; choose another")
        out[name] = canonical_code(code)
    return out


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file, one a line (blank lines skipped)."""
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{path} holds no class names (one a line)")
    return names


def _weights_digest(module: nn.Module) -> str:
    """SHA-256 of the module's tensors (names, shapes, dtypes, bytes): the weights as they are."""
    h = hashlib.sha256()
    for key, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _randomise(module: nn.Module) -> None:
    """Random weights for the user's architecture: every submodule's ``reset_parameters``, seeded."""
    torch.manual_seed(0)
    for m in module.modules():
        if callable(getattr(m, "reset_parameters", None)):
            m.reset_parameters()  # batch norms reset their running statistics too


def _input_spec(module: nn.Module, input_size, mean, std) -> dict:
    """Input size, mean, std, crop and interpolation: given, else the module's ``pretrained_cfg``, else ImageNet's."""
    cfg = dict(getattr(module, "pretrained_cfg", None) or {})
    size = list(input_size) if input_size is not None else list(cfg.get("input_size", (3, 224, 224)))
    if len(size) == 1:
        size = [3, size[0], size[0]]
    if len(size) != 3:
        raise ValueError(f"input size {size}: give C H W (e.g. 3 224 224) or one side (224)")
    channels = size[0]
    if mean is not None or std is not None:
        source = "given"
    elif cfg.get("mean") is not None:
        source = "the model's pretrained_cfg"
    else:
        source = "ImageNet's (the default)"
    mean = list(mean) if mean is not None else list(cfg.get("mean", IMAGENET_MEAN))
    std = list(std) if std is not None else list(cfg.get("std", IMAGENET_STD))
    if channels != 3 and source == "ImageNet's (the default)":
        mean, std = [sum(mean) / 3], [sum(std) / 3]  # one grey channel: ImageNet's mean over colours
    mean, std = (v * channels if len(v) == 1 else v for v in (mean, std))
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean and std need {channels} values (one per input channel), got {len(mean)} and {len(std)}")
    return {"input_size": [int(s) for s in size], "mean": [float(v) for v in mean], "std": [float(v) for v in std],
            "crop_pct": float(cfg.get("crop_pct") or _CROP_PCT), "interpolation": str(cfg.get("interpolation")
                                                                                      or "bilinear"),
            "normalisation": source}


def _transform(pre: dict) -> Callable[[Image.Image], torch.Tensor]:
    """Resize the shorter side to size / crop_pct, centre crop, scale to [0, 1], normalise (``pre`` as above)."""
    channels, height, width = pre["input_size"]
    mode = {"bicubic": T.InterpolationMode.BICUBIC, "nearest": T.InterpolationMode.NEAREST}.get(
        pre["interpolation"], T.InterpolationMode.BILINEAR)
    tf = T.Compose([T.ToImage(), T.Resize(int(round(min(height, width) / pre["crop_pct"])), interpolation=mode,
                                          antialias=True),
                    T.CenterCrop((height, width)), T.ToDtype(torch.float32, scale=True), T.Normalize(pre["mean"],
                                                                                                      pre["std"])])
    pil_mode = "L" if channels == 1 else "RGB"
    return lambda img: tf(img.convert(pil_mode))


def _num_outputs(module: nn.Module, input_size: Sequence[int]) -> int:
    """The number of outputs: ``num_classes``, else the width of the logits of one blank input."""
    n = getattr(module, "num_classes", None)
    if isinstance(n, int) and n > 0:
        return n
    param = next(module.parameters(), None)
    x = torch.zeros(1, *input_size, device=param.device if param is not None else "cpu")
    try:
        with torch.no_grad():
            out = module(x)
    except Exception as e:  # noqa: BLE001 - the user's model failing on its input is reported in one line
        raise ValueError(f"the model fails on one {tuple(x.shape)} input ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); pass --input-size") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError(f"the model returns {type(out).__name__}{tuple(getattr(out, 'shape', ()))}, not logits "
                         "(batch, classes)")
    return int(out.shape[1])


def model_spec(code: str, class_names: Sequence[str] | None = None, input_size: Sequence[int] | None = None,
               mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> dict:
    """What builds a user model again (a Run's ``model_spec``): its code and the options given."""
    return {"code": canonical_code(code), "class_names": list(class_names) if class_names else None,
            "input_size": list(input_size) if input_size else None, "mean": list(mean) if mean else None,
            "std": list(std) if std else None}


def load_user_model(spec: dict, pretrained: bool = True, name: str | None = None) -> SENet:
    """Build the user's model from :func:`model_spec`: call its function, find its gates, set its input.

    Args:
        spec: ``model_spec(...)`` (code and the options given).
        pretrained: False re-initialises every layer (``reset_parameters``, seeded) for a random baseline.
        name: the name to show (an ``SE_ANALYSIS_MODELS`` name); default: the code.

    Raises:
        NoSEGatesError: the model has no SE gate that can be found (one sentence why).
    """
    code = canonical_code(spec["code"])
    module = import_model_function(code)()
    if not isinstance(module, nn.Module):
        raise ValueError(f"{code} returned {type(module).__name__}, not an nn.Module")
    module.eval()
    try:
        find_gates(module)
    except NoSEGatesError:
        if not functional_se_blocks(module):
            raise
        make_hookable(module)  # gates applied as functions become `gate` modules (same outputs)
        find_gates(module)
    if not pretrained:
        _randomise(module)
    pre = _input_spec(module, spec.get("input_size"), spec.get("mean"), spec.get("std"))
    n = _num_outputs(module, pre["input_size"])
    names = spec.get("class_names") or getattr(module, "class_names", None)
    if names is not None and len(names) != n:
        raise ValueError(f"{len(names)} class names for a model with {n} outputs")
    names = list(names) if names is not None else (imagenet_class_names() if n == 1000
                                                    else [f"class {i}" for i in range(n)])
    where = Path(code.rpartition(":")[0]).name if code.rpartition(":")[0].endswith(".py") else code.rpartition(":")[0]
    digest = _weights_digest(module)
    return SENet(
        name=name if name and not is_code_spec(name) else code, module=module, transform=_transform(pre),
        class_names=names, pretrained=pretrained,
        weights=(f"as returned by {where}:{code.rpartition(':')[2]} (sha256 {digest[:12]})" if pretrained
                 else "random initialisation (reset_parameters, seed 0)"),
        weights_id=f"code:{digest[:16]}", preprocessing=pre,
        sample=str(IMAGENET_SAMPLE) if n == 1000 and pre["input_size"][0] == 3 else None,
        spec=model_spec(code, spec.get("class_names"), spec.get("input_size"), spec.get("mean"), spec.get("std")),
    )
