"""The default as deployed: activations fake-quantised at the TFLite file's scales and zero points.

The emulation is checked against the real TFLite interpreter (ai-edge-litert, reference kernels) on a
handful of the bundled images; the tolerances are derived here from the file's own quantisation steps.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from se_analysis.data.image_sets import sample_set
from se_analysis.data.paths import IMAGENET_TFLITE
from se_analysis.gates.hooks import override, record
from se_analysis.models.bundled.imagenet.deployed import (
    QuantParams,
    deployed_activations,
    fake_quant,
    quant_plan,
    read_quantisation,
    with_activations,
)
from se_analysis.models.bundled.imagenet.fidelity import TFLITE_GATE_TENSORS, run_interpreter, run_torch
from se_analysis.models.bundled.imagenet.preprocess import float_input, tf_uint8_image
from se_analysis.models.zoo import load_model
from se_analysis.runs.extract import extract_cached
from se_analysis.runs.run import RunStore

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert reads the TFLite file's quantisation (pip install "
                                             "ai-edge-litert)")


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


@pytest.fixture(scope="module")
def net():
    return load_model("default")


@pytest.fixture(scope="module")
def deployed(net):
    return with_activations(net, "deployed")


@pytest.fixture(scope="module")
def handful():
    items = sample_set("all").items[5::50]  # one image of each of the 10 classes
    return np.stack([tf_uint8_image(Image.open(it.source)) for it in items])


def test_fake_quant_rounds_as_the_interpreter_and_clamps_to_the_stored_range():
    p = QuantParams("t", scale=0.5, zero_point=10, qmin=0, qmax=255)
    x = torch.tensor([0.25, -0.25, 0.74, -5.0, -6.0, 200.0])  # 0.5 and -0.5 steps round up (towards +inf)
    expected = (torch.tensor([11, 10, 11, 0, 0, 255]).float() - 10) * 0.5
    torch.testing.assert_close(fake_quant(x, p), expected)
    # Two roundings (to 2^-2 of a step, then to a step): 0.49 steps becomes 0.5, which rounds up.
    two = QuantParams("t", scale=1.0, zero_point=0, qmin=-128, qmax=127, shift=2)
    torch.testing.assert_close(fake_quant(torch.tensor([0.49, 0.37, -0.49, 300.0]), two),
                               torch.tensor([1.0, 0.0, 0.0, 127.0]))


def test_every_quantised_activation_of_the_graph_is_mapped_onto_a_module(net):
    _, _, outputs = read_quantisation(IMAGENET_TFLITE)
    plan = quant_plan(net.module)  # raises when a quantised op output is not mapped
    tensors = {p.params.tensor for p in plan} | {p.mid.tensor for p in plan if p.mid is not None}
    assert set(outputs) <= tensors
    gates = [p for p in plan if p.where == "gate"]
    assert [p.params.tensor for p in gates] == TFLITE_GATE_TENSORS
    assert all(abs(p.add - 3.0) < 1e-6 and abs(p.mul - 1 / 6) < 1e-4 for p in gates)  # the stored constants
    modules = dict(net.module.named_modules())
    assert [p.path for p in gates] == [g.path for g in net.gates] and all(p.path in modules for p in plan)


def test_deployed_is_a_copy_and_the_float_model_is_never_left_hooked(net, deployed, handful):
    assert _hooks(net.module) == 0 and deployed.module is not net.module and deployed.activations == "deployed"
    assert deployed.weights_id != net.weights_id and [g.name for g in deployed.gates] == [g.name for g in net.gates]
    x = float_input(torch.from_numpy(handful[:2]).permute(0, 3, 1, 2))
    with torch.inference_mode():
        plain, hooked = net.module(x), deployed.module(x)
        with pytest.raises(RuntimeError, match="mid-forward"), deployed_activations(net.module):
            assert _hooks(net.module) > 0
            torch.testing.assert_close(net.module(x), hooked, rtol=0, atol=0)
            raise RuntimeError("mid-forward")
        assert _hooks(net.module) == 0
        torch.testing.assert_close(net.module(x), plain, rtol=0, atol=0)
    with pytest.raises(ValueError, match="only for the default"):
        with_activations(load_model("fmnist-se-resnet"), "deployed")
    with pytest.raises(ValueError, match="Google's weights"):
        with_activations(load_model("default", pretrained=False), "deployed")


def test_recorded_gates_are_the_quantised_gates_and_overrides_still_apply(deployed, handful):
    steps = {p.path: p.params for p in quant_plan(deployed.module) if p.where == "gate"}
    x = float_input(torch.from_numpy(handful[:3]).permute(0, 3, 1, 2))
    with torch.inference_mode(), record(deployed.module) as rec:
        logits = deployed.module(x)
        gates = rec.pop()
    for gate in deployed.gates:  # on the uint8 grid of .../squeeze_excite/Conv_1/mul
        q = gates[gate.name].double() / steps[gate.path].scale
        assert torch.allclose(q, q.round(), atol=1e-4) and q.min() > -1e-4 and q.max() < 255 + 1e-4
    with torch.inference_mode(), override(deployed.module, gates):
        torch.testing.assert_close(deployed.module(x), logits, rtol=0, atol=0)
    with torch.inference_mode(), override(deployed.module, {"SE_6_3": 1.0}):
        assert not torch.equal(deployed.module(x), logits)


def test_deployed_agrees_with_the_interpreter_closer_than_float(net, deployed, handful):
    names = [g.name for g in net.gates]
    ref = run_interpreter(IMAGENET_TFLITE, handful, delegates=False, gate_names=names)
    fl_logits, fl_gates = run_torch(net, handful)
    dq_logits, dq_gates = run_torch(deployed, handful)
    step = next(p.params for p in quant_plan(net.module) if p.where == "gate").scale  # one gate step, 1/255
    logit_step = quant_plan(net.module)[-1].params.scale  # the logits' step
    for name in names:
        d, f = np.abs(dq_gates[name] - ref.gate_values[name]), np.abs(fl_gates[name] - ref.gate_values[name])
        # Within 6 gate steps on average per block (0.024, the 0.025), and never further than float.
        assert d.mean() <= 6 * step and d.mean() <= f.mean() + 1e-9, (name, d.mean(), f.mean())
    # The first blocks are emulated step for step: at most one step apart on 99 % of channels.
    for name in names[:2]:
        assert (np.abs(dq_gates[name] - ref.gate_values[name]) <= step * 1.01).mean() >= 0.99
    dl, fl = np.abs(dq_logits - ref.logits).mean(), np.abs(fl_logits - ref.logits).mean()
    assert dl <= 6 * logit_step and dl < fl, (dl, fl)
    assert (dq_logits.argmax(1) == ref.logits.argmax(1)).mean() >= 0.8


def test_a_run_records_the_activations_in_its_manifest_and_cache_key(net, deployed, tmp_path):
    images = sample_set("eval")
    small = dataclasses.replace(images, items=images.items[:4], fingerprint=images.fingerprint + ":first4")
    store = RunStore(tmp_path)
    run, key = extract_cached(deployed, small, store=store, batch_size=4)
    float_run, float_key = extract_cached(net, small, store=store, batch_size=4)
    assert run.manifest["activations"] == "deployed" and "deployed" in run.manifest["weights"]
    assert float_run.manifest["activations"] == "float" and key != float_key
    assert not np.array_equal(run.gate_values["SE_6_3"], float_run.gate_values["SE_6_3"])


def test_the_run_page_offers_the_default_as_deployed_and_only_the_default():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180)
    at.run()
    at.radio(key="sample_split").set_value("eval").run()
    at.radio(key="activations").set_value("as deployed (uint8)").run()
    at.button(key="run_button").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "250" and float(metrics["Top-1 accuracy"].rstrip("%")) > 55
    assert any("as deployed" in c.value for c in at.caption)
    at.selectbox(key="model_name").set_value("fmnist-se-resnet").run()
    assert "activations" not in [r.key for r in at.radio]


def test_the_cli_takes_activations_and_the_model_card_carries_both_rows(tmp_path):
    import pandas as pd

    from se_analysis.cli import build_parser
    from se_analysis.models.bundled.imagenet.card import write_model_card
    from se_analysis.models.bundled.imagenet.convert import ConversionReport

    parser = build_parser()
    assert parser.parse_args(["extract", "--out", "x"]).activations == "float"
    assert parser.parse_args(["extract", "--activations", "deployed", "--out", "x"]).activations == "deployed"
    assert parser.parse_args(["gate-table", "--activations", "deployed"]).activations == "deployed"
    with pytest.raises(SystemExit):
        parser.parse_args(["extract", "--activations", "int4", "--out", "x"])
    row = {"backend": "reference", "n": 5, "top1_tflite": 0.6, "top1_torch": 0.4, "agreement": 0.8,
           "agreement_confident": 0.9, "n_confident": 3, "tflite_top1_in_torch_top5": 1.0,
           "images_per_s_tflite": 100.0, "images_per_s_torch": 50.0}
    summary = pd.DataFrame([{**row, "activations": "float"}, {**row, "activations": "deployed", "top1_torch": 0.6}])
    gates = pd.DataFrame([{"activations": a, "block": b, "channels": 4, "mean_abs_diff": d, "max_abs_diff": 2 * d}
                          for a, d in (("float", 0.04), ("deployed", 0.01)) for b in ("SE_2_1", "SE_4_1")])
    card = write_model_card(tmp_path, tmp_path / "w.safetensors", "0" * 64, "cmd", ConversionReport(2, 10, 0.0, []),
                            summary, gates).read_text()
    assert "| float | reference | 60.0% | 40.0% |" in card and "| deployed | reference | 60.0% | 60.0% |" in card
    assert "| deployed | mean | 0.0100 | 0.0100 |" in card and "| float | max | 0.080 | 0.080 |" in card
