"""The Run manifest's format, defined once: what a Run records about its model, data and gates.

A manifest is a JSON object::

    model, weights, weights_id, pretrained, checkpoint     which network (and which weights)
    model_spec                                             what builds the user's own model code again, else None
    activations                                            float, or deployed (the default's uint8 activations)
    data, data_fingerprint, data_spec                      which images (spec re-lists them)
    preprocessing, class_names                             how images became inputs; output classes
    gates                                                  one record per gate (:func:`gate_records`)
    created, host, device, amp_dtype, batch_size,         how (and on which machine) the extraction ran
    channels_last
    n_images, n_skipped, summary_only                      what it kept
    format                                                 this format's version (:data:`FORMAT`)

:func:`gates_from_manifest` turns the records back into :class:`~se_analysis.gates.Gate`, and
reads the older key ``block`` (version 1) for what is now ``position``.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Sequence

from se_analysis.gates.find import Gate

__all__ = ["FORMAT", "gate_records", "gates_from_manifest", "new_manifest"]

FORMAT = 2
_GATE_FIELDS = ("name", "path", "se_path", "channels", "depth", "stage", "position")


def gate_records(gates: Sequence[Gate]) -> list[dict]:
    """The manifest's ``gates``: one JSON record per gate, in forward order."""
    return [{f: getattr(g, f) for f in _GATE_FIELDS} for g in gates]


def gates_from_manifest(manifest: dict) -> list[Gate]:
    """The typed gates of a manifest (any format version)."""
    out = []
    for i, rec in enumerate(manifest.get("gates", [])):
        out.append(Gate(name=rec["name"], path=rec.get("path", rec["name"]), se_path=rec.get("se_path", ""),
                        channels=int(rec["channels"]), depth=int(rec.get("depth", i)), stage=int(rec.get("stage", 0)),
                        position=int(rec.get("position", rec.get("block", i)))))
    return out


def new_manifest(net, source, *, device: str, amp_dtype: str | None, batch_size: int, channels_last: bool,
                 n_images: int, n_skipped: int, summary_only: bool) -> dict:
    """The manifest of a Run just extracted from ``net`` (an SENet) over ``source`` (an ImageSet)."""
    return {
        "format": FORMAT,
        "model": net.name, "weights": net.weights, "weights_id": net.weights_id, "pretrained": net.pretrained,
        "checkpoint": net.checkpoint, "activations": getattr(net, "activations", "float"),
        "model_spec": getattr(net, "spec", None),
        "data": source.name, "data_fingerprint": source.fingerprint, "data_spec": source.spec,
        "preprocessing": net.preprocessing, "class_names": list(net.class_names),
        "gates": gate_records(net.gates),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": socket.gethostname(),
        "device": device, "amp_dtype": amp_dtype, "batch_size": batch_size, "channels_last": channels_last,
        "n_images": n_images, "n_skipped": n_skipped, "summary_only": summary_only,
    }
