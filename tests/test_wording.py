"""Messages read right: counts agree with their nouns, notes count each kind of problem apart, and an error
always has a line to show."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from se_analysis.app.common import first_line
from se_analysis.cli import main
from se_analysis.data.image_sets import image_folder
from se_analysis.models.bundled.fmnist.idx import CLASS_NAMES
from se_analysis.utils.text import plural
from tests.conftest import make_run


def test_plural():
    assert [plural(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert plural(1, "process", "processes") == "1 process" and plural(3, "process", "processes") == "3 processes"


@pytest.mark.parametrize("error, line", [
    (ValueError(""), "ValueError"),  # issue 20: an empty message raised IndexError
    (RuntimeError(), "RuntimeError"),
    (OSError("\n  \nsecond line"), "second line"),
    (KeyError("top1_before"), "top1_before"),
    (ValueError("first\nsecond"), "first"),
])
def test_first_line_always_has_a_line(error, line):
    assert first_line(error) == line


def test_labels_csv_note_counts_missing_files_apart_from_unlabelled_rows(tmp_path):
    """Issue 20: a row naming a missing file with an unknown label was counted among those 'analysed unlabelled'."""
    for name in ("a.png", "c.png"):
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("file,label\na.png,Trouser\nc.png,Spaceship\nd.png,Coat\ne.png,Unicorn\n")
    source = image_folder(tmp_path, list(CLASS_NAMES))
    assert [it.id for it in source.items] == ["a.png", "c.png"]  # what is analysed: c.png is the unlabelled one
    assert "1 row with no class of this model, analysed unlabelled: c.png ('Spaceship')" in source.note
    assert "e.png" not in source.note.split(";")[0]  # not there, so not analysed at all
    assert "2 rows naming a file that is not there, skipped" in source.note
    assert sorted(src for src, _ in source.skipped) == [str(tmp_path / "d.png"), str(tmp_path / "e.png")]


def test_cli_counts_in_the_singular(tmp_path, capsys):
    run = make_run(n_per_class=(2, 3), channels=(3,))
    run.save(tmp_path / "run")
    assert main(["stats", "--run", str(tmp_path / "run"), "--kind", "block", "--out", str(tmp_path / "b.csv")]) == 0
    assert "1 row ->" in capsys.readouterr().out  # one block: was "1 rows"
