"""The embedded default: Google's MobileNetV3-Small converted from TFLite, and its 500 ImageNet val images.

Fidelity is checked against the real TFLite interpreter (ai-edge-litert) running the shipped
original file, never against figures written into the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from se_analysis.data.image_sets import sample_set
from se_analysis.data.paths import IMAGENET_TFLITE, IMAGENET_WEIGHTS
from se_analysis.models.bundled.imagenet.fidelity import run_interpreter, run_torch
from se_analysis.models.bundled.imagenet.preprocess import tf_uint8_image
from se_analysis.models.zoo import load_model
from se_analysis.runs.extract import extract

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert runs the TFLite original (pip install ai-edge-litert)")

# From ../shared/imagenet/README.md: WordNet id -> ImageNet-1k class index of the 10 bundled classes.
CLASSES = {"n01440764": 0, "n02102040": 217, "n02979186": 482, "n03000684": 491, "n03028079": 497,
           "n03394916": 566, "n03417042": 569, "n03425413": 571, "n03445777": 574, "n03888257": 701}
# MobileNetV3-Small (Howard et al. 2019, Table 2): the expansion widths of its 9 blocks with SE.
SE_CHANNELS = {"SE_2_1": 16, "SE_4_1": 96, "SE_4_2": 240, "SE_4_3": 240, "SE_5_1": 120, "SE_5_2": 144,
               "SE_6_1": 288, "SE_6_2": 576, "SE_6_3": 576}


@pytest.fixture(scope="module")
def net():
    return load_model("default")


@pytest.fixture(scope="module")
def all_images():
    source = sample_set("all")
    files = [it.source for it in source.items]
    return files, np.array([it.label for it in source.items]), np.stack([tf_uint8_image(Image.open(f)) for f in files])


def test_sample_set_is_the_papers_protocol_split_in_disjoint_halves():
    source, ref, ev = sample_set("all"), sample_set("reference"), sample_set("eval")
    assert len(source) == 500 and len(ref) == len(ev) == 250
    assert {i.id for i in ref.items}.isdisjoint({i.id for i in ev.items})
    for item in source.items:
        assert item.label == CLASSES[Path(item.source).parent.name]
        assert Path(item.source).name.startswith("ILSVRC2012_val_")
    assert np.bincount([i.label for i in ev.items], minlength=1000)[list(CLASSES.values())].tolist() == [25] * 10


def test_gates_are_named_by_stage_and_have_the_papers_widths(net):
    assert {g.name: g.channels for g in net.gates} == SE_CHANNELS
    assert len(net.class_names) == 1000 and net.class_names[0] == "tench" and net.pretrained


def test_shipped_weights_are_the_conversion_of_the_shipped_tflite_file():
    from se_analysis.models.bundled.imagenet.convert import convert_tflite, dequantize, tflite_interpreter

    shipped = load_file(str(IMAGENET_WEIGHTS))
    converted, report = convert_tflite(IMAGENET_TFLITE)
    assert report.parameters == 2_542_856 and set(shipped) == set(converted)
    for k in shipped:
        assert torch.equal(shipped[k], converted[k]), k
    # One tensor by hand: the stem's uint8 weights, (q - zero_point) * scale, OHWI -> OIHW.
    it = tflite_interpreter(IMAGENET_TFLITE, preserve=False)
    d = next(t for t in it.get_tensor_details() if t["name"] == "MobilenetV3/Conv/weights_quant/FakeQuantWithMinMaxVars")
    q = it.get_tensor(d["index"]).astype(np.float64)
    scale, zp = d["quantization_parameters"]["scales"][0], d["quantization_parameters"]["zero_points"][0]
    np.testing.assert_allclose(shipped["conv_stem.weight"].numpy(), ((q - zp) * scale).transpose(0, 3, 1, 2), rtol=1e-6)
    assert dequantize(it, d).shape == (16, 3, 3, 3)


def test_folded_batch_norms_are_an_exact_identity_scale(net):
    x = torch.randn(2, 16, 5, 5)
    bn = net.module.bn1
    with torch.no_grad():
        expected = torch.nn.functional.hardswish(x + bn.bias.view(1, -1, 1, 1))
        assert torch.equal(bn(x), expected)


def test_torch_is_faithful_to_the_interpreter_on_the_500_images(net, all_images):
    """The issue's limits with float activations, against the interpreter's reference kernels."""
    _, labels, images = all_images
    tfl = run_interpreter(IMAGENET_TFLITE, images, delegates=False, gate_names=list(SE_CHANNELS))
    logits, gates = run_torch(net, images)
    tf_pred, pt_pred = tfl.logits.argmax(1), logits.argmax(1)
    p = np.exp(tfl.logits - tfl.logits.max(1, keepdims=True))
    confident = (p / p.sum(1, keepdims=True)).max(1) >= 0.5
    assert (pt_pred == labels).mean() >= (tf_pred == labels).mean() - 0.05
    assert (pt_pred == tf_pred).mean() >= 0.75
    assert (pt_pred == tf_pred)[confident].mean() >= 0.93
    assert (np.argsort(-logits, 1)[:, :5] == tf_pred[:, None]).any(1).mean() >= 0.95
    for name in SE_CHANNELS:
        assert np.abs(gates[name] - tfl.gate_values[name]).mean() <= 0.05, name
    # The app's path (decode, TFInput transform, batched extraction) gives the same logits.
    run = extract(net, sample_set("all"), batch_size=128)
    np.testing.assert_allclose(run.logits, logits, atol=1e-4)


def test_hard_sigmoid_gates_reach_exactly_one_and_saturation_counts_them(net, all_images):
    from se_analysis.analysis.quantiles import block_quantiles
    from se_analysis.analysis.stats import block_stats

    run = extract(net, sample_set("eval"), batch_size=128)
    first = run.gate_values["SE_2_1"]
    assert (first == 1.0).mean() > 0.99  # the first block's gates sit at 1.0: a saturated identity
    summary = block_stats(run).set_index("block")
    for block in SE_CHANNELS:
        v = run.gate_values[block]
        assert summary.loc[block, "saturation_high"] == pytest.approx((v > 0.9).mean())
        assert summary.loc[block, "saturation_low"] == pytest.approx((v < 0.1).mean())
    assert summary.loc["SE_2_1", "constant_channels"] == 16 and summary.loc["SE_2_1", "specificity"] == 0.0
    q = block_quantiles(run).set_index("block")
    assert q.loc["SE_2_1", "median"] == 1.0 and q.loc["SE_2_1", "q95"] == 1.0


def test_offline_hugging_face_cache_gives_the_bundled_model(tmp_path):
    """timm/tf_mobilenetv3_small_100 loads its pretrained weights from an HF cache laid out as the hub does."""
    commit = "0" * 40
    snap = tmp_path / "hub" / "models--timm--tf_mobilenetv3_small_100.in1k" / "snapshots" / commit
    snap.mkdir(parents=True)
    save_file(load_file(str(IMAGENET_WEIGHTS)), str(snap / "model.safetensors"))
    (snap.parent.parent / "refs").mkdir()
    (snap.parent.parent / "refs" / "main").write_text(commit)
    code = (
        "import json, torch; from se_analysis.models import load_model\n"
        "a = load_model('timm/tf_mobilenetv3_small_100'); b = load_model('default')\n"
        "torch.manual_seed(0); x = torch.randn(2, 3, 224, 224)\n"
        "with torch.no_grad(): d = (a.module(x) - b.module(x)).abs().max().item()\n"
        "print(json.dumps({'diff': d, 'pretrained': a.pretrained, 'weights': a.weights, 'id': a.weights_id}))\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path.cwd())}
    env.pop("HF_HUB_CACHE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["diff"] == 0.0 and result["pretrained"] is True and "random" not in result["weights"]
    import hashlib

    digest = hashlib.sha256((snap / "model.safetensors").read_bytes()).hexdigest()[:16]
    assert result["id"] == f"timm:tf_mobilenetv3_small_100:{digest}"  # a hash of the bytes loaded, not a name
    # Without the cache, offline, the same name is refused with a clear message.
    env["HF_HOME"] = str(tmp_path / "empty")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "not in the local Hugging Face cache" in out.stderr


SHARED_IMAGENETTE = Path(__file__).resolve().parents[2] / "shared" / "imagenet" / "imagenette2_val"


@pytest.mark.skipif(not SHARED_IMAGENETTE.is_dir(), reason=f"{SHARED_IMAGENETTE} is absent (the project's shared "
                                                            "ImageNet material is not on this machine)")
def test_cli_extracts_a_slice_of_imagenette_val(tmp_path, net):
    """A real WordNet-id folder: four images per class, through the CLI, labelled by folder."""
    import shutil

    from se_analysis.cli import main
    from se_analysis.runs.run import Run

    for d in sorted(SHARED_IMAGENETTE.iterdir()):
        (tmp_path / "slice" / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:4]:
            shutil.copy(f, tmp_path / "slice" / d.name / f.name)
    assert main(["extract", "--data", str(tmp_path / "slice"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    run = Run.load(tmp_path / "run")
    assert len(run) == 40 and len(run.skipped) == 0
    names = run.images["image_id"].str.split("/").str[0]
    assert (run.images["label"] == names.map(CLASSES)).all()
    files = [tmp_path / "slice" / i for i in run.images["image_id"]]
    logits, _ = run_torch(net, np.stack([tf_uint8_image(Image.open(f)) for f in files]))
    np.testing.assert_allclose(run.logits, logits, atol=1e-4)
