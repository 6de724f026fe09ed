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
