"""Which images an ablation evaluates, which supply the replacement means, and their batches.

For the bundled sample sets the evaluated images are the ``eval`` half and the means come from
the disjoint ``reference`` half; elsewhere a run's own images are both (and the page says so).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from se_analysis.data.dataset import ImageDataset, collate_skipping
from se_analysis.data.image_sets import ImageSet, image_set_from_spec
from se_analysis.models.senet import SENet
from se_analysis.runs.extract import extract_cached
from se_analysis.runs.run import Run

__all__ = ["ablation_inputs", "evaluation_batches"]


def ablation_inputs(net: SENet, run: Run, store=None, **kwargs) -> tuple[ImageSet, Run, Run, str]:
    """What an ablation of ``run``'s images evaluates, and which reference Run supplies the means.

    For the bundled sample set, the evaluated images are its ``eval`` half and the means come
    from the disjoint ``reference`` half (both extracted once and cached). Otherwise the run's
    own images are both, and the returned sentence says so plainly.

    Returns:
        (evaluated image set, evaluated Run, reference Run, a sentence describing the reference).
    """
    spec = run.manifest.get("data_spec", {})
    if spec.get("kind") == "sample":
        ev_source = image_set_from_spec({**spec, "split": "eval"}, net.class_names)
        ref_source = image_set_from_spec({**spec, "split": "reference"}, net.class_names)
        if spec.get("split") == "all" and run.has_gate_arrays:  # both halves are rows of this run: no new passes
            evaluated, reference = (_rows_of(run, src) for src in (ev_source, ref_source))
        else:
            evaluated = run if spec.get("split") == "eval" else extract_cached(net, ev_source, store, **kwargs)[0]
            reference = extract_cached(net, ref_source, store, **kwargs)[0]
        return ev_source, evaluated, reference, (
            f"means from the sample set's reference half ({len(reference)} images), evaluated on its disjoint "
            f"eval half ({len(evaluated)} images)")
    images = image_set_from_spec(spec, net.class_names)
    return images, run, run, (f"means from the {len(run)} evaluated images themselves (there is no disjoint "
                              "reference set for this data)")


def _rows_of(run: Run, images: ImageSet) -> Run:
    """The rows of ``run`` that are ``images``' images, as a Run of that image set."""
    ids = {it.id for it in images.items}
    mask = run.images["image_id"].isin(ids).to_numpy()
    if mask.sum() != len(ids):
        raise ValueError(f"the run holds {int(mask.sum())} of the {len(ids)} images of {images.name}")
    return run.subset(mask, data=images.name, data_fingerprint=images.fingerprint, data_spec=images.spec)


def evaluation_batches(net: SENet, images: ImageSet, evaluated: Run, batch_size: int
                       ) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """Decoded batches of exactly the evaluated Run's images, with their row numbers in the Run."""
    row_of = {img_id: i for i, img_id in enumerate(evaluated.images["image_id"])}
    items = [it for it in images.items if it.id in row_of]
    if len(items) != len(evaluated):
        raise ValueError(f"the image set holds {len(items)} of the run's {len(evaluated)} images")
    loader = torch.utils.data.DataLoader(ImageDataset(items, net.transform), batch_size=batch_size, shuffle=False,
                                         collate_fn=collate_skipping)
    for x, idx, failed in loader:
        if failed:
            raise ValueError(f"{len(failed)} images of the run no longer decode: {failed[0][1]}")
        yield x, np.array([row_of[items[i].id] for i in idx])


