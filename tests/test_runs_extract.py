"""Extraction fills a Run whose numbers equal a direct forward pass; Runs round-trip through disk."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from se_analysis.data.dataset import ImageDataset
from se_analysis.data.image_sets import image_folder, sample_set
from se_analysis.gates.hooks import record
from se_analysis.runs.extract import extract, extract_cached, resolve_device
from se_analysis.runs.run import Run, RunStore
from tests.conftest import make_run


def test_extract_matches_direct_forward(tiny_net, synthetic_sample):
    source = sample_set("all", synthetic_sample)
    calls = []
    run = extract(tiny_net, source, batch_size=16, device="cpu", progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 60) and calls[-1] == (60, 60) and len(calls) == 1 + 4
    x = torch.stack([ImageDataset(source.items, tiny_net.transform)[i][0] for i in range(60)])
    with torch.no_grad(), record(tiny_net.module) as rec:
        logits = tiny_net.module(x)
    np.testing.assert_allclose(run.logits, logits.numpy(), atol=1e-5)
    for name, values in rec.values.items():
        np.testing.assert_allclose(run.gate_values[name], values.numpy(), atol=1e-6)
    assert list(run.images["label"]) == list(np.repeat(np.arange(10), 6))
    assert list(run.images["pred"]) == list(logits.argmax(1).numpy())
    probs = torch.softmax(logits, 1).max(1).values.numpy()
    np.testing.assert_allclose(run.images["confidence"], probs, atol=1e-5)
    assert run.manifest["n_images"] == 60 and run.manifest["model"] == "tiny"
    assert not any(m._forward_hooks for m in tiny_net.module.modules())


def test_sample_splits_are_disjoint_halves(synthetic_sample):
    ref, ev, all_ = (sample_set(s, synthetic_sample) for s in ("reference", "eval", "all"))
    assert {i.id for i in ref.items}.isdisjoint({i.id for i in ev.items})
    assert len(ref) + len(ev) == len(all_) == 60
    assert ref.fingerprint != ev.fingerprint


def test_run_roundtrip(tiny_net, synthetic_sample, tmp_path):
    run = extract(tiny_net, sample_set("eval", synthetic_sample), batch_size=8)
    run.save(tmp_path / "r")
    back = Run.load(tmp_path / "r")
    pd.testing.assert_frame_equal(back.images, run.images, check_dtype=False)
    for k in run.gate_values:
        np.testing.assert_array_equal(back.gate_values[k], run.gate_values[k])
    np.testing.assert_array_equal(back.logits, run.logits)
    assert back.gate_names == run.gate_names and back.manifest["data_fingerprint"] == run.manifest["data_fingerprint"]


def test_extract_cached_reuses_the_store(tiny_net, synthetic_sample, tmp_path, monkeypatch):
    store = RunStore(tmp_path / "store")
    source = sample_set("all", synthetic_sample)
    run1, key1 = extract_cached(tiny_net, source, store, batch_size=32)
    ex = sys.modules["se_analysis.runs.extract"]  # the module, not the function the packages re-export
    monkeypatch.setattr(ex, "extract", lambda *a, **k: pytest.fail("recomputed a cached run"))
    run2, key2 = extract_cached(tiny_net, source, store, batch_size=32)
    assert key1 == key2
    np.testing.assert_array_equal(run1.logits, run2.logits)


def test_folder_with_corrupt_file_keeps_the_good_images(tiny_net, tmp_path):
    for cls in ("Trouser", "Bag"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "Bag" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    source = image_folder(tmp_path, tiny_net.class_names)
    run = extract(tiny_net, source, batch_size=4)
    assert len(run) == 6 and len(run.skipped) == 1
    assert run.skipped.iloc[0]["source"].endswith("broken.png")
    assert run.skipped.iloc[0]["reason"].startswith(("OSError:", "UnidentifiedImageError:"))
    assert sorted(run.images["label_name"].unique()) == ["Bag", "Trouser"]
    assert set(run.images["label"]) == {1, 8}  # mapped onto the model's classes


def test_resolve_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    for cuda, mps, expected in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda mps=mps: mps)
        assert resolve_device(None).type == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_extract_on_cuda_matches_cpu(tiny_net, synthetic_sample):
    source = sample_set("all", synthetic_sample)
    cpu = extract(tiny_net, source, device="cpu")
    gpu = extract(tiny_net, source, device="cuda")
    np.testing.assert_allclose(gpu.logits, cpu.logits, atol=1e-3)


class _Cancelled(Exception):
    pass


def test_interrupted_extraction_resumes_to_an_identical_run(tiny_net, synthetic_sample, tmp_path):
    source = sample_set("all", synthetic_sample)
    source.items[7] = source.items[7].__class__("broken", "broken.png", 0, lambda: (_ for _ in ()).throw(OSError("bad")))
    whole = extract(tiny_net, source, batch_size=4, chunk_batches=2)
    seen = []

    def cancel_midway(done, total):
        seen.append(done)
        if done >= 20:
            raise _Cancelled  # as when a Streamlit rerun stops the script, or the process is killed

    with pytest.raises(_Cancelled):
        extract(tiny_net, source, batch_size=4, chunk_batches=2, resume_dir=tmp_path / "partial", progress=cancel_midway)
    saved = sorted(p.name for p in (tmp_path / "partial").glob("chunk-*.npz"))
    assert saved == ["chunk-000000.npz", "chunk-000001.npz"]  # 2 chunks of 8 images each were finished
    resumed_from = []
    resumed = extract(tiny_net, source, batch_size=4, chunk_batches=2, resume_dir=tmp_path / "partial",
                      progress=lambda d, t: resumed_from.append(d))
    assert resumed_from[0] == 16 and resumed_from[-1] == 60
    pd.testing.assert_frame_equal(resumed.images, whole.images)
    np.testing.assert_array_equal(resumed.logits, whole.logits)
    for k in whole.gate_values:
        np.testing.assert_array_equal(resumed.gate_values[k], whole.gate_values[k])
    assert resumed.skipped.values.tolist() == whole.skipped.values.tolist() == [["broken.png", "OSError: bad"]]


def test_resume_folder_from_other_settings_is_not_reused(tiny_net, synthetic_sample, tmp_path):
    source = sample_set("all", synthetic_sample)
    extract(tiny_net, source, batch_size=4, chunk_batches=1, resume_dir=tmp_path / "p")
    run = extract(tiny_net, source, batch_size=8, chunk_batches=1, resume_dir=tmp_path / "p")  # other batch size
    np.testing.assert_allclose(run.logits, extract(tiny_net, source, batch_size=8).logits, atol=0)


def test_torchrun_two_processes_equal_one(tmp_path):
    """`torchrun --nproc_per_node=2 -m se_analysis extract` (gloo, CPU) merges to the single-process Run."""
    import subprocess
    import sys

    from se_analysis.runs.distributed import shard_bounds

    assert [shard_bounds(1000, 128, r, 2) for r in range(2)] == [(0, 512), (512, 1000)]
    common = ["extract", "--data", "sample", "--split", "reference", "--batch-size", "64", "--quiet"]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent.parent)}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "se_analysis", *common, "--out", str(tmp_path / "ddp")], check=True, env=env,
                   cwd=Path(__file__).parent.parent, capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "se_analysis", *common, "--out", str(tmp_path / "one")], check=True, env=env,
                   cwd=Path(__file__).parent.parent, capture_output=True, timeout=300)
    ddp, one = Run.load(tmp_path / "ddp"), Run.load(tmp_path / "one")
    assert ddp.manifest["world_size"] == 2 and len(ddp) == len(one) == 250
    pd.testing.assert_frame_equal(ddp.images, one.images)
    np.testing.assert_array_equal(ddp.logits, one.logits)
    for k in one.gate_values:
        np.testing.assert_array_equal(ddp.gate_values[k], one.gate_values[k])
    assert not (tmp_path / "ddp.shards").exists()


def test_out_of_memory_halves_the_batch_and_loses_nothing(tiny_net, synthetic_sample):
    source = sample_set("all", synthetic_sample)
    reference = extract(tiny_net, source, batch_size=16)
    real_forward = tiny_net.module.forward
    sizes = []

    def forward_with_small_memory(x):
        sizes.append(len(x))
        if len(x) > 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(x)

    tiny_net.module.forward = forward_with_small_memory
    try:
        run = extract(tiny_net, source, batch_size=16)
    finally:
        del tiny_net.module.forward
    assert max(s for s in sizes if s <= 5) <= 5 and 16 in sizes
    np.testing.assert_allclose(run.logits, reference.logits, atol=1e-5)
    for k in reference.gate_values:
        np.testing.assert_allclose(run.gate_values[k], reference.gate_values[k], atol=1e-6)
    pd.testing.assert_frame_equal(run.images.drop(columns="confidence"), reference.images.drop(columns="confidence"))


def test_killed_cli_extraction_resumes_to_an_identical_run(tmp_path):
    """SIGKILL an `extract` once some chunks are on disk; the same command then resumes and matches."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = [sys.executable, "-m", "se_analysis", "extract", "--split", "reference", "--batch-size", "8", "--quiet"]
    partial = tmp_path / "killed.partial"
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "killed")], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while len(list(partial.glob("chunk-*.npz"))) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(partial.glob("chunk-*.npz")))
    if (tmp_path / "killed" / "manifest.json").exists():
        pytest.skip("the extraction finished before it could be killed")
    assert finished >= 2
    subprocess.run([*args, "--out", str(tmp_path / "killed")], cwd=root, env=env, capture_output=True,
                         text=True, check=True)
    subprocess.run([*args, "--out", str(tmp_path / "whole")], cwd=root, env=env, check=True, capture_output=True)
    assert not partial.exists()
    killed, whole = Run.load(tmp_path / "killed"), Run.load(tmp_path / "whole")
    pd.testing.assert_frame_equal(killed.images, whole.images)
    np.testing.assert_array_equal(killed.logits, whole.logits)
    for k in whole.gate_values:
        np.testing.assert_array_equal(killed.gate_values[k], whole.gate_values[k])


def test_channels_last_and_bf16_autocast_keep_gates_close(tiny_net, synthetic_sample):
    source = sample_set("all", synthetic_sample)
    base = extract(tiny_net, source, batch_size=16)
    nhwc = extract(tiny_net, source, batch_size=16, channels_last=True)
    np.testing.assert_allclose(nhwc.logits, base.logits, atol=1e-4)
    assert all(p.is_contiguous() for p in tiny_net.module.parameters())  # memory format restored
    bf16 = extract(tiny_net, source, batch_size=16, amp_dtype=torch.bfloat16)
    for k in base.gate_values:
        np.testing.assert_allclose(bf16.gate_values[k], base.gate_values[k], atol=0.05)
    assert bf16.manifest["amp_dtype"] == "torch.bfloat16" and nhwc.manifest["channels_last"]


def test_torchrun_passes_summary_only_float16_and_amp_through(tmp_path):
    """The flags reach every rank, and the merged summaries equal one process's (issue: they were dropped)."""
    import subprocess
    import sys

    common = ["extract", "--model", "fmnist-se-resnet", "--data", "sample", "--split", "reference", "--batch-size",
              "64", "--quiet", "--summary-only", "--amp", "bf16"]
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent.parent)}
    root = Path(__file__).parent.parent
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "se_analysis", *common, "--out", str(tmp_path / "ddp")], check=True, env=env, cwd=root,
                   capture_output=True, timeout=300)
    subprocess.run([sys.executable, "-m", "se_analysis", *common, "--out", str(tmp_path / "one")], check=True,
                   env=env, cwd=root, capture_output=True, timeout=300)
    ddp, one = Run.load(tmp_path / "ddp"), Run.load(tmp_path / "one")
    assert not ddp.gate_values and set(ddp.moments) == set(one.moments) == {"label", "pred"}
    assert ddp.manifest["summary_only"] and ddp.manifest["amp_dtype"] == one.manifest["amp_dtype"] == "torch.bfloat16"
    np.testing.assert_array_equal(ddp.logits, one.logits)
    for by in ("label", "pred"):
        a, b = ddp.moments[by].to_arrays(), one.moments[by].to_arrays()
        for k in b:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12, err_msg=k)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                    "-m", "se_analysis", *common[:-3], "--float16", "--out", str(tmp_path / "f16")], check=True,
                   env=env, cwd=root, capture_output=True, timeout=300)
    assert all(v.dtype == np.float16 for v in Run.load(tmp_path / "f16").gate_values.values())


def test_runs_of_format_1_still_load(tmp_path):
    """A Run saved before the manifest format 2 (gate key ``block``, ``summaries``) loads with typed gates."""
    import json

    from safetensors.numpy import load_file, save_file

    from se_analysis.runs.moments import GateMoments

    run = make_run()
    moments = GateMoments.from_arrays(run.gate_values, run.images["label"].to_numpy(), 4, run.gate_names)
    folder = replace(run, moments={"label": moments}).save(tmp_path / "r")
    manifest = json.loads((folder / "manifest.json").read_text())
    for rec in manifest["gates"]:  # the old layout, written by hand
        rec["block"] = rec.pop("position")
    manifest["summaries"] = manifest.pop("moments")
    manifest.pop("format", None)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    arrays = load_file(str(folder / "arrays.safetensors"))
    save_file({k.replace("moments_", "summary_", 1): v for k, v in arrays.items()}, str(folder / "arrays.safetensors"))
    back = Run.load(folder)
    assert [(g.name, g.depth, g.stage, g.position) for g in back.gates] == [("SE_2_1", 0, 2, 1), ("SE_3_1", 1, 3, 1)]
    np.testing.assert_array_equal(back.moments["label"].mean["SE_3_1"], moments.mean["SE_3_1"])
