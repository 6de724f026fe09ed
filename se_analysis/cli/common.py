"""What the command groups share: a model, a set of images, the files beside an output, tables in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from se_analysis.analysis.separation import precompute_separation
from se_analysis.analysis.stats import parse_group_by
from se_analysis.data.image_sets import ImageSet, image_folder, sample_set
from se_analysis.data.labels import wnids_for
from se_analysis.export.tables import write_table
from se_analysis.models.bundled.imagenet.deployed import with_activations
from se_analysis.models.checkpoints import load_checkpoint
from se_analysis.models.senet import SENet
from se_analysis.models.user_code import is_code_spec, model_spec, read_class_names, registered_models
from se_analysis.models.zoo import load_model
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["load_net", "own_model_spec", "image_source", "beside", "write_tables", "read_table", "split_list",
           "group_by_arg", "keep_separation_tables", "GROUP_BY_HELP"]

GROUP_BY_HELP = ("label, pred, folder (class folders), superclass:D (the true label's WordNet ancestor at depth D from "
                 "entity, e.g. superclass:9 for mammal, bird, ...; ImageNet models only) or pred-superclass:D")


def group_by_arg(text: str) -> str:
    """``--by``'s value, checked (see :func:`~se_analysis.analysis.stats.parse_group_by`)."""
    try:
        parse_group_by(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def load_net(model: str, random_weights: bool = False, checkpoint: str | None = None,
             trust_pickle: bool = False, activations: str = "float", spec: dict | None = None) -> SENet:
    """A model by name (see ``load_model``), with a user checkpoint's weights when one is given
    (``activations="deployed"``: the default as Google deployed it; ``spec``: a Run's ``model_spec``, or
    :func:`own_model_spec`, for the user's own code)."""
    if checkpoint:
        if trust_pickle:
            print("warning: --trust-pickle runs code stored in the checkpoint file", file=sys.stderr)
        net = load_checkpoint(load_model(model, pretrained=False, spec=spec), checkpoint, trust_pickle=trust_pickle)
    else:
        net = load_model(model, pretrained=not random_weights, spec=spec)
    return with_activations(net, activations)


def own_model_spec(model: str, classes: str | None = None, input_size: list[int] | None = None,
                   mean: list[float] | None = None, std: list[float] | None = None) -> dict | None:
    """The ``model_spec`` of the user's own code with ``--classes`` / ``--input-size`` / ``--mean`` / ``--std``;
    None when none is given (``load_model`` then uses the code's defaults)."""
    if classes is None and input_size is None and mean is None and std is None:
        return None
    code = registered_models().get(model, model)
    if not is_code_spec(code):
        raise ValueError("--classes, --input-size, --mean and --std are for your own model code "
                         f"(--model path/to/file.py:function or package.module:function), not {model!r}")
    return model_spec(code, read_class_names(classes) if classes else None, input_size, mean, std)


def image_source(spec: str, split: str, net: SENet) -> ImageSet:
    """``sample`` (the model's bundled images) or a folder of images."""
    if spec == "sample":
        if net.sample is None:
            raise ValueError(f"{net.name} has no bundled sample set; pass --data with a folder of images")
        return sample_set(split, net.sample)
    return image_folder(spec, net.class_names, wnids_for(net.class_names))


def beside(path: str | Path, name: str) -> Path:
    """Where table ``name`` of a set goes: ``overall`` at PATH, the others beside it as PATH_<name> (same extension)."""
    path = Path(path)
    return path if name == "overall" else path.with_name(f"{path.stem}_{name}{path.suffix or '.csv'}")


def write_tables(tables: dict[str, pd.DataFrame], out: str) -> None:
    """Write a set of tables at and beside ``out`` (see :func:`beside`), one line each."""
    for name, df in tables.items():
        target = beside(out, name)
        write_table(df, target)
        print(f"  {name}: {plural(len(df), 'row')} -> {target}")


def read_table(path: Path) -> pd.DataFrame:
    """A table written by :func:`write_table` (Parquet by extension, else CSV)."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def split_list(text: str) -> list[str]:
    """A comma-separated option as its non-empty items (``png,html`` -> ``["png", "html"]``)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def keep_separation_tables(run: Run, by: str = "label", quiet: bool = False) -> None:
    """Compute and keep ``run``'s PCA and decodability (grouped ``by``) with a progress bar on stderr, block by
    block: ``extract``'s last step, and ``export``'s first on a Run that lacks them (a minute at ImageNet scale)."""
    with tqdm(total=100, desc="kept tables (PCA, decodability)", disable=quiet,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}]") as bar:
        def progress(done: float, what: str) -> None:
            bar.set_description_str(f"kept tables ({what})", refresh=False)
            bar.update(round(done * 100) - bar.n)
        precompute_separation(run, by, progress=progress)
