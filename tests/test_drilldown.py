"""Channel drill-down: top/bottom images, per-class values, specificity rank, contact sheet and CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from se_analysis.analysis import stats
from se_analysis.analysis.drilldown import channel_rank, channel_values, contact_sheet, top_images
from tests.conftest import make_run


def test_top_and_bottom_images_by_a_sort_of_the_raw_values():
    run = make_run(seed=2)
    v = run.gate_values["SE_3_1"][:, 4]
    t = top_images(run, "SE_3_1", 4, k=3)
    top, bottom = t[t["end"] == "top"], t[t["end"] == "bottom"]
    assert top["image_id"].tolist() == run.images["image_id"].iloc[np.argsort(-v)[:3]].tolist()
    assert bottom["image_id"].tolist() == run.images["image_id"].iloc[np.argsort(v)[:3]].tolist()
    np.testing.assert_allclose(top["value"], np.sort(v)[::-1][:3], atol=1e-7)
    with pytest.raises(ValueError, match="channels 0-4"):
        top_images(run, "SE_3_1", 5)


def test_ties_at_the_cut_are_counted():
    """A channel closed (0) on half the images: the bottom 3 are 3 of the 8 tied at 0, and the table says so."""
    run = make_run(seed=2)
    v = run.gate_values["SE_3_1"]
    v[:, 1] = np.where(np.arange(len(run)) % 2 == 0, 0.0, v[:, 1])  # every other image at exactly 0
    t = top_images(run, "SE_3_1", 1, k=3)
    bottom = t[t["end"] == "bottom"]
    assert bottom["value"].tolist() == [0.0, 0.0, 0.0]
    assert bottom["tied"].tolist() == [int((v[:, 1] == 0).sum())] * 3 == [8] * 3  # 16 images: 8 even-numbered
    assert (t[t["end"] == "top"]["tied"] == 1).all()


def test_channel_values_and_rank():
    run = make_run(seed=3)
    vals = channel_values(run, "SE_3_1", 2)
    y = run.images["label"].to_numpy()
    assert len(vals) == len(run) and vals.groupby("class")["value"].size().to_dict() == {"c0": 5, "c1": 7, "c3": 4}
    r = channel_rank(stats.channel_stats(run), "SE_3_1", 2)
    v = run.gate_values["SE_3_1"].astype(np.float64)
    eta = []
    for c in range(5):  # eta squared by its definition, per channel
        x = v[:, c]
        between = sum((y == k).sum() * (x[y == k].mean() - x.mean()) ** 2 for k in np.unique(y))
        eta.append(between / ((x - x.mean()) ** 2).sum())
    assert r["specificity"] == pytest.approx(eta[2]) and r["rank"] == 1 + sum(e > eta[2] for e in eta)


def test_contact_sheet_draws_every_tile(tmp_path):
    run = make_run()
    table = top_images(run, "SE_2_1", 0, k=3)
    red = Image.new("RGB", (20, 20), (255, 0, 0))
    sheet = contact_sheet(table, size=40, cols=3, load=lambda s: red)
    assert sheet.size == (120, 2 * (22 + 40 + 30))
    a = np.asarray(sheet)
    assert (a[22 + 20, 20] == [255, 0, 0]).all() and (a[22 + 70 + 22 + 20, 100] == [255, 0, 0]).all()


def test_contact_sheet_says_which_images_are_not_on_this_machine():
    """A Run made elsewhere: each missing image's tile is grey with words on it (not a blank square), and the
    tiles whose image is here are drawn."""
    run = make_run()
    table = top_images(run, "SE_2_1", 0, k=3)
    table["source"] = [f"/elsewhere/{i}.png" for i in table["image_id"]]
    here = table["source"].iloc[0]
    red = Image.new("RGB", (20, 20), (255, 0, 0))
    a = np.asarray(contact_sheet(table, size=112, cols=3, load=lambda s: red if s == here else None)).astype(int)
    tiles = [a[22 + 2:22 + 110, x + 2:x + 110] for x in (0, 112, 224)]
    first = (table["end"] == "top") & (table["rank"] == table.loc[table["end"] == "top", "rank"].min())
    assert bool(first.iloc[0])  # the table's first row is the top band's first tile
    assert (tiles[0] == [255, 0, 0]).all()
    for t in tiles[1:]:
        grey = (t == [0xD9, 0xD9, 0xD9]).all(-1)
        assert 0.7 < grey.mean() < 0.99  # mostly grey, with dark text on it
        assert (t.sum(-1) < 3 * 0x80).sum() > 50


def test_cli_top_images(tmp_path, capsys):
    from se_analysis.cli import main

    run = make_run()
    run.save(tmp_path / "run")
    assert main(["top-images", "--run", str(tmp_path / "run"), "--block", "SE_3_1", "--channel", "1", "--k", "4",
                 "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "top_images.csv")
    assert len(table) == 8 and Image.open(tmp_path / "out" / "contact_sheet.png").size[0] == 8 * 112
    assert "rank" in capsys.readouterr().out
