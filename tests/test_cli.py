"""The CLI: extract a Run, export statistics, and clear one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from se_analysis.cli import main
from se_analysis.runs.run import Run


def test_extract_then_stats(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["extract", "--model", "default", "--data", "sample", "--split", "eval", "--out", str(out),
                 "--quiet"]) == 0
    run = Run.load(out)
    assert len(run) == run.images["image_id"].nunique() > 0
    assert "top-1" in capsys.readouterr().out
    assert main(["stats", "--run", str(out), "--out", str(tmp_path / "ch.csv")]) == 0
    table = pd.read_csv(tmp_path / "ch.csv")
    assert set(table["block"]) == set(run.gate_names)
    assert main(["stats", "--run", str(out), "--kind", "block", "--out", str(tmp_path / "b.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "b.parquet")) == len(run.gate_names)


def test_folder_data(tmp_path):
    import numpy as np
    from PIL import Image

    for cls in ("Sandal", "Coat"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((30, 20, 3), 60 * i, np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.jpg")
    assert main(["extract", "--model", "fmnist-se-resnet", "--data", str(tmp_path / "imgs"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert sorted(Run.load(tmp_path / "r").images["label_name"]) == ["Coat", "Coat", "Sandal", "Sandal"]


@pytest.mark.parametrize("argv, message", [
    (["extract", "--model", "nope", "--out", "x"], "unknown model 'nope'"),
    (["extract", "--data", "/does/not/exist", "--out", "x"], "is not a folder"),
    (["stats", "--run", "/does/not/exist", "--out", "x.csv"], "holds no Run"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", ["models", "extract", "stats", "train-fmnist"])
def test_help(command):
    out = subprocess.run([sys.executable, "-m", "se_analysis", command, "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "usage: python -m se_analysis" in out


def _flat_folder(root, n: int):
    """``n`` random 28x28 gray PNGs in one flat folder: images without labels."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(root / f"{i:02d}.png")
    return root


def test_ablation_commands_and_export_on_an_unlabelled_run(tmp_path, capsys):
    """Issue 20: ``ablate`` on images without labels stopped with ``error: top1_before``. It reports what
    needs no labels (flips, confidence, KL); so do ``sweep``, ``fold`` and the report."""
    import numpy as np
    from scipy.special import softmax

    run_dir = tmp_path / "run"
    assert main(["extract", "--model", "fmnist-se-resnet", "--data", str(_flat_folder(tmp_path / "imgs", 12)),
                 "--out", str(run_dir), "--quiet"]) == 0
    run = Run.load(run_dir)
    assert not run.has_labels
    capsys.readouterr()
    assert main(["ablate", "--run", str(run_dir), "--blocks", "-1", "--out", str(tmp_path / "abl.csv")]) == 0
    out = capsys.readouterr().out
    assert "top-1" not in out and "NLL" not in out
    assert "predictions flipped" in out and "KL(before || after)" in out and "on 12 images" in out
    confidence = softmax(run.logits.astype(np.float64), axis=1).max(1).mean()  # before: from the Run's logits
    assert f"confidence {confidence * 100:.1f}% ->" in out
    assert main(["sweep", "--run", str(run_dir), "--out", str(tmp_path / "sweep.csv")]) == 0
    assert "kl_before_after" in capsys.readouterr().out
    assert main(["fold", "--run", str(run_dir), "--blocks", "-1", "--out", str(tmp_path / "f.safetensors")]) == 0
    assert "KL(before || after)" in capsys.readouterr().out
    assert main(["export", "--run", str(run_dir), "--ablation", str(tmp_path / "abl.csv"), "--out",
                 str(tmp_path / "exp"), "--formats", "html"]) == 0
    report = (tmp_path / "exp" / "report.html").read_text()
    assert "Per-class accuracy" not in report and "These images have no labels" in report
    assert not (tmp_path / "exp" / "ablation_per_class.html").exists()  # no accuracy figure of nothing


def test_extract_says_resuming_only_when_it_resumes(tmp_path, capsys):
    """Issue 20: every fresh run said ``resuming: N images were already done`` (the first batch's report)."""
    from se_analysis.cli.common import image_source
    from se_analysis.models.zoo import load_model
    from se_analysis.runs.extract import extract

    folder = _flat_folder(tmp_path / "imgs", 20)
    argv = ["extract", "--model", "fmnist-se-resnet", "--data", str(folder), "--batch-size", "2"]
    assert main([*argv, "--out", str(tmp_path / "fresh")]) == 0
    captured = capsys.readouterr()
    assert "resuming:" not in captured.out + captured.err

    class Stop(Exception):
        pass

    def stop_after_a_chunk(done: int, total: int) -> None:  # a chunk is 8 batches of 2: 16 images
        if done >= 16:
            raise Stop

    net = load_model("fmnist-se-resnet")
    partial = tmp_path / "resumed.partial"  # where the command keeps the chunks of --out resumed
    with pytest.raises(Stop):
        extract(net, image_source(str(folder), "all", net), batch_size=2, progress=stop_after_a_chunk,
                resume_dir=partial)
    assert main([*argv, "--out", str(tmp_path / "resumed")]) == 0
    captured = capsys.readouterr()
    assert f"resuming: 16 images already done in {partial}" in captured.out + captured.err
    assert len(Run.load(tmp_path / "resumed")) == 20
