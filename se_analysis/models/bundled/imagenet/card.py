"""The model card of the converted default: provenance, conversion and measured fidelity."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from se_analysis.models.bundled.imagenet.convert import TFLITE_SOURCE, ConversionReport

__all__ = ["write_model_card"]


def write_model_card(out_dir: str | Path, weights: Path, tflite_sha256: str, command: str, report: ConversionReport,
                     summary: pd.DataFrame | None, gates: pd.DataFrame | None) -> Path:
    """Write ``model_card.json`` and ``MODEL_CARD.md`` beside the weights; returns the Markdown path."""
    out = Path(out_dir)
    card = {"model": "MobileNetV3-Small 1.0, 224 px, ImageNet-1k (Google)", "architecture": "timm tf_mobilenetv3_small_100",
            "source": TFLITE_SOURCE, "tflite_sha256": tflite_sha256, "weights_file": weights.name,
            "parameters": report.parameters, "conversion_command": command,
            "activations": "float32 by default (the TFLite graph quantises activations to uint8); 'deployed': "
                           "fake-quantised at the file's scales and zero points",
            "fidelity": summary.to_dict("records") if summary is not None else None,
            "gate_differences": gates.to_dict("records") if gates is not None else None}
    (out / "model_card.json").write_text(json.dumps(card, indent=2))
    lines = [
        "# MobileNetV3-Small, ImageNet (Google's weights): the embedded default", "",
        f"- **Source**: {TFLITE_SOURCE['origin']}; file from {TFLITE_SOURCE['repository']} at commit "
        f"`{TFLITE_SOURCE['commit']}`, `{TFLITE_SOURCE['path']}` (shipped as `mobilenet_v3_small_224_1.0_uint8.tflite`).",
        f"- **TFLite sha256**: `{tflite_sha256}`",
        f"- **Licence**: {TFLITE_SOURCE['licence']}.",
        f"- **Conversion**: `{command}`. Every weight dequantised as (q - zero_point) * scale and mapped one-to-one "
        f"onto timm's `tf_mobilenetv3_small_100` ({report.parameters:,} parameters, TF 'same' padding). Batch norm "
        "was folded into the convolutions by TF; the folded biases sit in timm's BN layers, set to an exact "
        "identity scale (weight 1, mean 0, var 1 - eps). Output 0 (background) of the 1001-way classifier is dropped.",
        "- **Activations**: float32 by default. The network was trained with uint8 activation quantisation, so float "
        "activations score a few points below the interpreter (see below). **As deployed** (`--activations deployed`, "
        "`load_model(\"default\", activations=\"deployed\")`): every activation tensor the interpreter quantises is "
        "fake-quantised at the file's stored scale and zero point (conv outputs, hard-swish, the SE path with the "
        "hard-sigmoid as ADD 3 + RELU6 then MUL 1/6, the adds, the head), rounding as the interpreter does; the "
        "weights are the same.",
        "- **Preprocessing**: central crop 87.5 %, bilinear resize to 224, uint8 RGB, (x - 128) / 127.",
        "- **Gates**: 9 SE blocks with hard-sigmoid gates, named `SE_<stage>_<block>` with stage = timm's block "
        "group + 2 (the stem is stage 1): SE_2_1, SE_4_1-3, SE_5_1-2, SE_6_1-3.", "",
    ]
    if summary is not None:
        lines += ["## Fidelity against the TFLite interpreter (ai-edge-litert), the bundled 500 ImageNet val images", "",
                  "| PyTorch activations | interpreter backend | top-1 TFLite | top-1 PyTorch | top-1 agreement "
                  "| agreement where TFLite p >= 0.5 | TFLite top-1 in PyTorch top-5 | images/s TFLite (1 thread) "
                  "| images/s PyTorch |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in summary.itertuples():
            lines.append(f"| {getattr(r, 'activations', 'float')} | {r.backend} | {r.top1_tflite:.1%} | {r.top1_torch:.1%} | {r.agreement:.1%} | "
                         f"{r.agreement_confident:.1%} ({r.n_confident} images) | {r.tflite_top1_in_torch_top5:.1%} | "
                         f"{r.images_per_s_tflite:.0f} | {r.images_per_s_torch:.0f} |")
        lines.append("")
    if gates is not None and len(gates):
        gates = gates if "activations" in gates else gates.assign(activations="float")
        blocks = list(dict.fromkeys(gates["block"]))
        lines += ["Mean and max |gate difference| per SE block (PyTorch against the reference kernels):", "",
                  "| activations | | " + " | ".join(blocks) + " |", "|---" * (len(blocks) + 2) + "|"]
        for mode, g in gates.groupby("activations", sort=False):
            lines += [f"| {mode} | mean | " + " | ".join(f"{v:.4f}" for v in g["mean_abs_diff"]) + " |",
                      f"| {mode} | max | " + " | ".join(f"{v:.3f}" for v in g["max_abs_diff"]) + " |"]
        lines.append("")
    path = out / "MODEL_CARD.md"
    path.write_text("\n".join(lines))
    return path
