"""The bad-input catalogue: every odd file is either used correctly or skipped with its reason."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from se_analysis.data.decode import decode_image, to_standard_mode
from se_analysis.data.image_sets import image_folder
from se_analysis.runs.extract import extract

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_catalogue(root) -> dict[str, str | None]:
    """Write the catalogue under root/Bag (and an empty root/Coat); return file -> expected reason (None = kept)."""
    bag = root / "Bag"
    bag.mkdir(parents=True)
    (root / "Coat").mkdir()
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8), "RGB")
    expected: dict[str, str | None] = {}

    def put(name: str, data: bytes, reason: str | None) -> None:
        (bag / name).write_bytes(data)
        expected[name] = reason

    put("good.png", _png(photo), None)
    put("corrupt.png", _png(photo)[:60] + b"\x00garbage" * 20, "Error")
    put("truncated.jpg", _jpeg(photo)[:300], "truncated")
    put("text.jpg", b"this is not an image\n", "cannot identify image file")
    put("zero.png", b"", "cannot identify image file")
    put("cmyk.jpg", _jpeg(photo.convert("CMYK")), None)
    put("gray16.png", _png(Image.fromarray((rng.integers(0, 65535, (20, 20))).astype(np.uint16))), None)
    put("palette.png", _png(photo.convert("P")), None)
    put("rgba.png", _png(photo.convert("RGBA")), None)
    put("gray.png", _png(photo.convert("L")), None)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    put("exif_rotated.jpg", _jpeg(Image.new("RGB", (20, 10), (200, 10, 10)), exif=exif), None)
    put("bomb.png", _png(Image.new("1", (9000, 9000))), "decompression bomb")
    put("tiny.png", _png(Image.new("RGB", (1, 1), (255, 255, 255))), None)
    os.symlink(bag / "loop.jpg", bag / "loop.jpg")
    expected["loop.jpg"] = "broken or looping symbolic link"
    if not IS_ROOT:  # root reads any file, so the permission case exists only for other users
        put("unreadable.png", _png(photo), "permission denied")
        os.chmod(bag / "unreadable.png", 0)
    expected["Coat"] = "empty class folder"
    return expected


def check_outcome(images: list[str], skipped: list[tuple[str, str]], expected: dict[str, str | None]) -> None:
    kept = {os.path.basename(s) for s in images}
    reasons = {os.path.basename(s): r for s, r in skipped}
    for name, reason in expected.items():
        if reason is None:
            assert name in kept, f"{name} should have been kept; skipped as {reasons.get(name)}"
        else:
            assert name in reasons and name not in kept, f"{name} should have been skipped"
            assert reason.lower() in reasons[name].lower(), (name, reasons[name])
    assert len(kept) == sum(r is None for r in expected.values())


@pytest.fixture
def catalogue(tmp_path):
    return tmp_path / "imgs", build_catalogue(tmp_path / "imgs")


def test_library_keeps_every_good_image(catalogue, tiny_net):
    root, expected = catalogue
    run = extract(tiny_net, image_folder(root, tiny_net.class_names), batch_size=4)
    check_outcome(run.images["source"].tolist(), list(run.skipped.itertuples(index=False)), expected)
    assert set(run.images["label_name"]) == {"Bag"}
    assert np.isfinite(run.logits).all()


def test_cli_reports_every_skipped_file(catalogue, capsys):
    from se_analysis.cli import main
    from se_analysis.runs.run import Run

    root, expected = catalogue
    assert main(["extract", "--data", str(root), "--out", str(root.parent / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    for name, reason in expected.items():
        if reason is not None:
            assert f"skipped {root}" in out and name in out
    run = Run.load(root.parent / "run")
    check_outcome(run.images["source"].tolist(), list(run.skipped.itertuples(index=False)), expected)


def test_app_lists_the_skipped_files(catalogue):
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    root, expected = catalogue
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.radio(key="data_kind").set_value("folder on this machine").run()
    at.text_input(key="folder").input(str(root)).run()
    at.button(key="run_button").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == str(sum(r is None for r in expected.values()))
    assert metrics["Skipped files"] == str(sum(r is not None for r in expected.values()))
    table = at.dataframe[0].value
    check_outcome([], list(table.itertuples(index=False)), {k: v for k, v in expected.items() if v})


def test_uploads_with_bad_files(tiny_net):
    from se_analysis.data.image_sets import uploads

    rng = np.random.default_rng(1)
    good = _png(Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)))
    source = uploads([("a.png", good), ("b.jpg", b"nope"), ("c.png", b"")], class_names=tiny_net.class_names)
    run = extract(tiny_net, source)
    assert run.images["source"].tolist() == ["a.png"] and sorted(run.skipped["source"]) == ["b.jpg", "c.png"]


def test_modes_are_converted_faithfully(tmp_path):
    sixteen = Image.fromarray(np.array([[0, 65535], [32896, 257]], dtype=np.uint16))
    assert np.asarray(to_standard_mode(sixteen)).tolist() == [[0, 255], [128, 1]]
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "r.jpg").write_bytes(_jpeg(Image.new("RGB", (20, 10)), exif=exif))
    assert decode_image(tmp_path / "r.jpg").size == (10, 20)
    assert decode_image(_png(Image.new("RGBA", (3, 3)))).mode == "RGB"
    assert decode_image(_jpeg(Image.new("CMYK", (3, 3)))).mode == "RGB"
    assert decode_image(_png(Image.new("1", (3, 3)))).mode == "L"


def test_labels_csv_and_wordnet_folders(tmp_path, tiny_net):
    from se_analysis.data.imagenet import imagenet_wnids

    flat = tmp_path / "flat"
    flat.mkdir()
    for i, name in enumerate(["a.png", "b.png", "c.png"]):
        Image.new("L", (28, 28), 50 * i).save(flat / name)
    (flat / "labels.csv").write_text("file,label\na.png,Sandal\nb.png,Bag\n")
    src = image_folder(flat, tiny_net.class_names)
    assert [(it.id, it.label) for it in src.items] == [("a.png", 5), ("b.png", 8)]
    assert src.skipped == [(str(flat / "c.png"), "no label in labels.csv")]
    wnids = imagenet_wnids()
    names = [f"class {i}" for i in range(1000)]
    (tmp_path / "inet" / "n01443537").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "inet" / "n01443537" / "x.jpg")
    src = image_folder(tmp_path / "inet", names, wnids)
    assert src.items[0].label == 1 and src.class_names == names  # n01443537 is goldfish, class 1


def test_folders_that_are_not_model_classes_are_analysed_by_prediction(tmp_path, tiny_net):
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        Image.new("L", (28, 28), 99).save(tmp_path / name / "a.png")
    source = image_folder(tmp_path, tiny_net.class_names)
    assert "cats" in source.note and "predicted class" in source.note
    run = extract(tiny_net, source)
    assert not run.has_labels and run.images["correct"].isna().all()
    assert set(run.images["label_name"]) == {"(none)"}
    plain = image_folder(tmp_path)  # without a model: the folders are the classes
    assert plain.class_names == ["cats", "dogs"] and [it.label for it in plain.items] == [0, 1]


def test_one_unknown_class_folder_keeps_the_labels_of_the_others(tmp_path, tiny_net):
    """Issue 20: a ``misc/`` beside known class folders dropped every folder's labels. Folder by folder now, as
    labels.csv goes row by row: the known folders keep theirs, misc/'s images are unlabelled, the note says so."""
    for name, n in (("Bag", 2), ("misc", 3), ("ankle_boot", 1)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.new("L", (28, 28), 40 * i).save(tmp_path / name / f"{i}.png")
    source = image_folder(tmp_path, tiny_net.class_names)
    # The expected labels, read off the class list by hand: Bag is class 8, Ankle boot class 9.
    assert {it.id: it.label for it in source.items} == {"Bag/0.png": 8, "Bag/1.png": 8, "ankle_boot/0.png": 9,
                                                        "misc/0.png": None, "misc/1.png": None, "misc/2.png": None}
    assert "misc/ (3 images)" in source.note and "other 2 folders keep their labels" in source.note
    assert "Bag" not in source.note
    run = extract(tiny_net, source)
    assert run.has_labels and run.images["correct"].notna().sum() == 3
    assert sorted(run.images["label_name"]) == ["(none)"] * 3 + ["Ankle boot", "Bag", "Bag"]
    # The case: WordNet-id folders of a 1000-class model beside misc/.
    inet = tmp_path / "inet"
    for name in ("n01440764", "misc"):
        (inet / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(inet / name / "x.jpg")
    from se_analysis.data.imagenet import imagenet_wnids

    src = image_folder(inet, [f"class {i}" for i in range(1000)], imagenet_wnids())
    assert {it.id: it.label for it in src.items} == {"n01440764/x.jpg": 0, "misc/x.jpg": None}  # tench is class 0
    assert "misc/ (1 image)" in src.note
