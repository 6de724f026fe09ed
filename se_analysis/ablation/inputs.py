"""Which images an ablation evaluates, which supply the replacement means, and their batches.

For the bundled sample sets the evaluated images are the ``eval`` half and the means come from
the disjoint ``reference`` half. A labelled folder is split the same way, per class (the first
half of each class in file order supplies the means, the rest is evaluated); an unlabelled one,
or one asked for with ``own_means``, is both (and the sentence returned with them says so).
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np
import torch

from se_analysis.data.dataset import ImageDataset, collate_skipping
from se_analysis.data.image_sets import ImageSet, image_set_from_spec, split_mask
from se_analysis.models.senet import SENet
from se_analysis.runs.extract import extract_cached
from se_analysis.runs.run import Run
from se_analysis.utils.text import plural

__all__ = ["ablation_inputs", "evaluation_batches"]


def ablation_inputs(net: SENet, run: Run, store=None, own_means: bool = False, **kwargs
                    ) -> tuple[ImageSet, Run, Run, str]:
    """What an ablation of ``run``'s images evaluates, and which reference Run supplies the means.

    For the bundled sample set, the evaluated images are its ``eval`` half and the means come
    from the disjoint ``reference`` half (both extracted once and cached). For a folder with
    labels, by default, the same split per class of the run's own rows (:func:`split_mask`: the
    first half of each class, in file order, supplies the means; the other half is evaluated;
    unlabelled images are split as a group of their own; a class of one image is evaluated only,
    its class mean falling back to the overall one). Otherwise (no labels, a summary-only run, or
    ``own_means``, which the sample set's fixed halves ignore) the run's own images are both. The
    returned sentence says which it is.

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
            f"means from the sample set's reference half ({plural(len(reference), 'image')}), evaluated on its "
            f"disjoint eval half ({plural(len(evaluated), 'image')})")
    images = image_set_from_spec(spec, net.class_names)
    reference = _reference_half(run) if run.has_labels and run.has_gate_arrays else np.zeros(len(run), bool)
    if own_means or not reference.any():
        why = ("as asked" if own_means else "these images have no labels to split by class" if not run.has_labels
               else "this summary-only run kept no per-image gates to split" if not run.has_gate_arrays
               else "every class has a single image")
        return images, run, run, (f"means from the {plural(len(run), 'evaluated image')} themselves ({why}: no "
                                  "disjoint reference images)")
    ev_images, ref_images = _half_of(images, run, ~reference, "eval"), _half_of(images, run, reference, "reference")
    evaluated, reference_run = (run.subset(mask, data=part.name, data_fingerprint=part.fingerprint, data_spec=part.spec)
                                for mask, part in ((~reference, ev_images), (reference, ref_images)))
    return ev_images, evaluated, reference_run, (
        f"means from the reference half of each class of this folder ({plural(len(reference_run), 'image')}: the "
        f"first half in file order), evaluated on the disjoint other half ({plural(len(evaluated), 'image')})")


def _reference_half(run: Run) -> np.ndarray:
    """The rows of a labelled run that supply the means: :func:`split_mask`'s reference half of each class
    (unlabelled rows, label -1, a group of their own)."""
    _, groups = np.unique(run.images["label"].to_numpy(), return_inverse=True)
    return split_mask(groups.ravel(), "reference")


def _half_of(images: ImageSet, run: Run, rows: np.ndarray, half: str) -> ImageSet:
    """The image set of some rows of ``run`` (one half of a folder), with its own name and fingerprint."""
    ids = set(run.images["image_id"].to_numpy()[rows])
    digest = hashlib.sha256(f"{images.fingerprint}|{half}".encode()).hexdigest()[:16]
    return ImageSet(f"{images.name} ({half} half of each class)", [it for it in images.items if it.id in ids],
                    images.class_names, f"{images.fingerprint.partition(':')[0]}:{digest}", images.skipped,
                    spec={**images.spec, "half": half}, note=images.note)


def _rows_of(run: Run, images: ImageSet) -> Run:
    """The rows of ``run`` that are ``images``' images, as a Run of that image set."""
    ids = {it.id for it in images.items}
    mask = run.images["image_id"].isin(ids).to_numpy()
    if mask.sum() != len(ids):
        raise ValueError(f"the run holds {int(mask.sum())} of the {plural(len(ids), 'image')} of {images.name}")
    return run.subset(mask, data=images.name, data_fingerprint=images.fingerprint, data_spec=images.spec)


def evaluation_batches(net: SENet, images: ImageSet, evaluated: Run, batch_size: int
                       ) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
    """Decoded batches of exactly the evaluated Run's images, with their row numbers in the Run."""
    row_of = {img_id: i for i, img_id in enumerate(evaluated.images["image_id"])}
    items = [it for it in images.items if it.id in row_of]
    if len(items) != len(evaluated):
        raise ValueError(f"the image set holds {len(items)} of the run's {plural(len(evaluated), 'image')}")
    loader = torch.utils.data.DataLoader(ImageDataset(items, net.transform), batch_size=batch_size, shuffle=False,
                                         collate_fn=collate_skipping)
    for x, idx, failed in loader:
        if failed:
            raise ValueError(f"{plural(len(failed), 'image')} of the run cannot be decoded any more: {failed[0][1]}")
        yield x, np.array([row_of[items[i].id] for i in idx])


