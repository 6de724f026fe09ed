"""Flat folders: files named as ImageNet's train set names them are labelled from their WordNet id; a flat folder
with no labels at all says how to give it some."""

from __future__ import annotations

from PIL import Image

from se_analysis.data.image_sets import image_folder
from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids


def _jpeg(path):
    Image.new("RGB", (8, 8), (120, 30, 200)).save(path, format="JPEG")


def test_imagenet_train_names_label_a_flat_folder(tmp_path):
    wnids = imagenet_wnids()
    for name in ("n01440764_10026.JPEG", "n01440764_1.jpeg", "n03888257_7.JPG", "n02102040_3.jpg"):
        _jpeg(tmp_path / name)
    _jpeg(tmp_path / "n99999999_1.JPEG")  # a WordNet-looking id that is no class
    _jpeg(tmp_path / "holiday.jpg")  # no id at all
    source = image_folder(tmp_path, imagenet_class_names(), wnids)
    labels = {it.id: it.label for it in source.items}
    assert labels == {"n01440764_10026.JPEG": 0, "n01440764_1.jpeg": 0, "n03888257_7.JPG": wnids.index("n03888257"),
                      "n02102040_3.jpg": wnids.index("n02102040"), "n99999999_1.JPEG": None, "holiday.jpg": None}
    assert "labelled from the WordNet id in each file name: 4 of 6 files" in source.note
    assert "2 files whose name starts with no WordNet id of this model's classes, analysed unlabelled" in source.note
    assert "holiday.jpg" in source.note and not source.skipped


def test_all_files_named_by_class_say_so(tmp_path):
    wnids = imagenet_wnids()
    for i, w in enumerate(wnids[:3]):
        _jpeg(tmp_path / f"{w}_{i}.JPEG")
    source = image_folder(tmp_path, imagenet_class_names(), wnids)
    assert [it.label for it in source.items] == [0, 1, 2]
    assert source.note == "labelled from the WordNet id in each file name: 3 of 3 files"


def test_wnid_names_for_a_model_of_other_classes_stay_unlabelled_and_say_why(tmp_path):
    _jpeg(tmp_path / "n01440764_1.JPEG")
    source = image_folder(tmp_path, [f"class {i}" for i in range(10)], None)
    assert source.items[0].label is None and "not classes of this model" in source.note


def test_a_flat_folder_without_labels_hints_at_labels_csv(tmp_path):
    for name in ("a.jpg", "b.png"):
        _jpeg(tmp_path / name) if name.endswith("jpg") else Image.new("RGB", (8, 8)).save(tmp_path / name)
    source = image_folder(tmp_path, imagenet_class_names(), imagenet_wnids())
    assert all(it.label is None for it in source.items)
    assert "no labels in this flat folder" in source.note
    assert "labels.csv beside them with the columns file and label" in source.note
    assert "<WordNet id>_<number>.JPEG" in source.note
    # the hint's columns are the ones labels.csv is read with
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,tench\nb.png,n03888257\n")
    labelled = image_folder(tmp_path, imagenet_class_names(), imagenet_wnids())
    assert [it.label for it in labelled.items] == [0, imagenet_wnids().index("n03888257")] and labelled.note == ""
