"""The model zoo (gate counts, preprocessing, offline weights) and safe checkpoint loading."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from se_analysis.gates.find import NoSEGatesError, find_gates
from se_analysis.models.bundled.fmnist.se_resnet import SEResNet, SEResNetConfig
from se_analysis.models.checkpoints import CheckpointError, load_checkpoint, read_state_dict
from se_analysis.models.zoo import ZOO, PretrainedUnavailable, load_model


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_entry_builds_with_its_gates_and_preprocessing(name):
    net = load_model(name, pretrained=False)
    assert len(net.gates) == ZOO[name].expected_gates
    assert all(g.name.startswith("SE_") for g in net.gates)
    assert len({g.name for g in net.gates}) == len(net.gates)
    assert not net.pretrained and "random" in net.weights
    for mode in ("L", "RGB"):
        x = net.transform(Image.new(mode, (50, 40)))
        assert x.ndim == 3 and x.dtype == torch.float32
    if name == "fmnist-se-resnet":
        assert tuple(x.shape) == (1, 28, 28) and net.class_names[0] == "T-shirt/top"
    else:
        assert x.shape[0] == 3 and x.shape[1] >= 224
        assert len(net.class_names) == 1000 and net.class_names[0] == "tench"


def test_paper_names_of_the_paper_model():
    names = [g.name for g in load_model("timm/seresnet50", pretrained=False).gates]
    assert {"SE_2_3", "SE_3_4", "SE_4_6", "SE_5_1", "SE_5_2", "SE_5_3"} <= set(names)


def test_offline_uncached_weights_fail_fast_and_plainly(monkeypatch, tmp_path):
    monkeypatch.setenv("SE_ANALYSIS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import huggingface_hub.constants as hf

    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in ("timm/efficientnet_b0", "torchvision/regnet_y_400mf"):
        t0 = time.time()
        with pytest.raises(PretrainedUnavailable, match="offline mode is on"):
            load_model(name, pretrained=True)
        assert time.time() - t0 < 10


def test_torchvision_weights_load_from_the_torch_cache(monkeypatch, tmp_path):
    import torchvision

    monkeypatch.setenv("SE_ANALYSIS_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = torchvision.models.RegNet_Y_400MF_Weights.DEFAULT
    torch.manual_seed(3)
    reference = torchvision.models.regnet_y_400mf()
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / os.path.basename(weights.url))
    net = load_model("torchvision/regnet_y_400mf", pretrained=True)
    assert net.pretrained
    for k, v in reference.state_dict().items():
        assert torch.equal(net.module.state_dict()[k], v)


def test_timm_weights_load_from_the_hugging_face_cache(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf
    import timm

    monkeypatch.setenv("SE_ANALYSIS_OFFLINE", "1")
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path))
    repo = timm.create_model("efficientnet_b0").pretrained_cfg["hf_hub_id"]
    torch.manual_seed(4)
    reference = timm.create_model("efficientnet_b0")
    folder = tmp_path / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snap = folder / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(snap / "model.safetensors"))
    net = load_model("timm/efficientnet_b0", pretrained=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.module(x), reference.eval()(x))


def _net():
    return load_model("fmnist-se-resnet", pretrained=False)


def test_safetensors_round_trip_gives_the_same_logits(tmp_path):
    torch.manual_seed(5)
    src = SEResNet().eval()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "w.safetensors"))
    net = load_checkpoint(_net(), tmp_path / "w.safetensors")
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(net.module(x), src(x), atol=0, rtol=0)
    assert net.weights_id.startswith("ckpt:") and "w.safetensors" in net.weights


def test_pt_state_dict_with_wrapper_prefix_and_nesting(tmp_path):
    torch.manual_seed(6)
    src = SEResNet().eval()
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, tmp_path / "w.pt")
    shared = _net()
    before = {k: v.clone() for k, v in shared.module.state_dict().items()}
    net = load_checkpoint(shared, tmp_path / "w.pt")
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(net.module(x), src(x), atol=0, rtol=0)
    assert all(torch.equal(v, before[k]) for k, v in shared.module.state_dict().items())  # shared model untouched


def test_mismatch_report_names_the_keys(tmp_path):
    other = SEResNet(SEResNetConfig(widths=(16, 32, 48))).state_dict()
    del other["fc.bias"]
    other["extra.weight"] = torch.zeros(1)
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_net(), tmp_path / "other.pt")
    msg = str(info.value)
    assert "does not fit fmnist-se-resnet" in msg and "1 missing from the checkpoint: fc.bias" in msg
    assert "1 unexpected: extra.weight" in msg and "with other shapes" in msg and "(48," in msg
    assert len(msg.splitlines()) == 1


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "payload_ran"
    torch.save({"fc.weight": torch.zeros(10, 64), "evil": _Payload(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused so that no code from it runs"):
        load_checkpoint(_net(), tmp_path / "evil.pt")
    assert not marker.exists()
    # The same file, trusted explicitly (the CLI's --trust-pickle), does run the payload:
    # the refusal above is what kept it from running.
    read_state_dict(tmp_path / "evil.pt", trust_pickle=True)
    assert marker.exists()


def test_whole_pickled_model_is_refused(tmp_path):
    torch.save(SEResNet(), tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="pickled objects beyond tensors"):
        read_state_dict(tmp_path / "model.pt")


@pytest.mark.parametrize("content, name, message", [
    (b"", "empty.pt", "is empty"),
    (b"just some text\n", "notes.pt", "not a PyTorch checkpoint"),
    (b"\x00" * 64, "zeros.safetensors", "not a valid safetensors file"),
])
def test_files_that_are_not_checkpoints(tmp_path, content, name, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        read_state_dict(tmp_path / name)
    assert len(str(info.value).splitlines()) == 1


def test_truncated_checkpoint(tmp_path):
    buf = io.BytesIO()
    torch.save(SEResNet().state_dict(), buf)
    (tmp_path / "cut.pt").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        read_state_dict(tmp_path / "cut.pt")


def test_model_without_se_is_one_line():
    import torchvision

    with pytest.raises(NoSEGatesError) as info:
        find_gates(torchvision.models.resnet18())
    assert len(str(info.value).splitlines()) == 1 and "ResNet has no Squeeze-and-Excitation gates" in str(info.value)


def test_cli_checkpoints(tmp_path, capsys):
    from se_analysis.cli import main

    torch.manual_seed(7)
    src = SEResNet().eval()
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "good.safetensors"))
    assert main(["extract", "--model", "fmnist-se-resnet", "--checkpoint", str(tmp_path / "good.safetensors"), "--split", "eval",
                 "--out", str(tmp_path / "r"), "--quiet"]) == 0
    from se_analysis.runs.run import Run

    assert Run.load(tmp_path / "r").manifest["checkpoint"].endswith("good.safetensors")
    torch.save({"x": _Payload(str(tmp_path / "ran"))}, tmp_path / "evil.pt")
    capsys.readouterr()
    assert main(["extract", "--checkpoint", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--trust-pickle" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "ran").exists()


def test_app_refuses_an_uploaded_pickle(tmp_path):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    buf = io.BytesIO()
    torch.save({"x": _Payload(str(tmp_path / "ran"))}, buf)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="weights").set_value("upload a checkpoint").run()
    assert any("Upload a checkpoint" in i.value for i in at.info)
    at.file_uploader(key="checkpoint").upload("evil.pt", buf.getvalue(), "application/octet-stream").run()
    assert any("refused so that no code from it runs" in e.value for e in at.error)
    assert not at.exception and not (tmp_path / "ran").exists()


def test_app_loads_an_uploaded_checkpoint_by_content(tmp_path):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    def weights(seed: int) -> bytes:
        torch.manual_seed(seed)
        buf = io.BytesIO()
        torch.save(SEResNet().state_dict(), buf)
        return buf.getvalue()

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.selectbox(key="model_name").set_value("fmnist-se-resnet").run()
    at.radio(key="weights").set_value("upload a checkpoint").run()
    captions = []
    for seed in (1, 2):  # the same file name, other content: a different model
        at.file_uploader(key="checkpoint").upload("w.pt", weights(seed), "application/octet-stream").run()
        assert not at.error and not at.exception
        captions.append(next(c.value for c in at.caption if "weights: checkpoint w.pt" in c.value))
    assert captions[0] != captions[1]
