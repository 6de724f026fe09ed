"""ImageNet as people keep it: each layout is built here from the bundled validation images, and must
give every image the label of the WordNet-id folder it came from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from se_analysis.data.image_sets import image_folder
from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids
from se_analysis.data.paths import IMAGENET_SAMPLE

WNIDS = imagenet_wnids()


@pytest.fixture(scope="module")
def originals() -> list[tuple[Path, str]]:
    """Three bundled images per class: (file, WordNet id of its folder)."""
    return [(f, d.name) for d in sorted(IMAGENET_SAMPLE.iterdir()) for f in sorted(d.glob("*.JPEG"))[:3]]


def _flat(tmp_path: Path, originals) -> Path:
    val = tmp_path / "ILSVRC2012_img_val"
    val.mkdir()
    for f, _ in originals:
        shutil.copy(f, val / f.name)
    return val


def _expected(originals) -> dict[str, int]:
    return {f.name: WNIDS.index(w) for f, w in originals}


def test_devkit_ground_truth_maps_ilsvrc_ids_through_meta_mat(tmp_path, originals):
    from scipy.io import savemat

    val = _flat(tmp_path, originals)
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ilsvrc_id = rng.permutation(1000) + 1  # the devkit's IDs are not the standard class order
    synsets = np.array([(int(ilsvrc_id[i]), w) for i, w in enumerate(WNIDS)],
                       dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O")])
    savemat(str(devkit / "meta.mat"), {"synsets": synsets})
    numbers = {int(f.stem.split("_")[-1]): w for f, w in originals}
    lines = [str(ilsvrc_id[WNIDS.index(numbers[i])]) if i in numbers else "1" for i in range(1, max(numbers) + 1)]
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(lines) + "\n")
    source = image_folder(val, imagenet_class_names(), WNIDS)
    assert {Path(it.source).name: it.label for it in source.items} == _expected(originals)
    assert "devkit" in source.note


def test_devkit_ground_truth_without_meta_mat_is_refused_plainly(tmp_path, originals):
    val = _flat(tmp_path, originals[:2])
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("490\n361\n")
    with pytest.raises(ValueError, match="meta.mat"):
        image_folder(val, imagenet_class_names(), WNIDS)


def test_kaggle_solution_csv(tmp_path, originals):
    val = _flat(tmp_path, originals)
    rows = ["ImageId,PredictionString"] + [f"{f.stem},{w} 10 20 100 200 {w} 5 5 50 50" for f, w in originals]
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    source = image_folder(val, imagenet_class_names(), WNIDS)
    assert {Path(it.source).name: it.label for it in source.items} == _expected(originals)


def test_hugging_face_parquet_shards(tmp_path, originals):
    shards = tmp_path / "hf"
    shards.mkdir()
    for k, part in enumerate((originals[:13], originals[13:])):
        table = pa.table({"image": [{"bytes": f.read_bytes(), "path": f.name} for f, _ in part],
                          "label": [WNIDS.index(w) for _, w in part]})
        pq.write_table(table, shards / f"validation-{k:05d}-of-00002.parquet", row_group_size=4)
    source = image_folder(shards, imagenet_class_names(), WNIDS)
    assert [it.label for it in source.items] == [WNIDS.index(w) for _, w in originals]
    # Lazily read bytes decode to the same pixels as the original files.
    from se_analysis.data.decode import decode_image

    for it, (f, _) in zip(source.items[::7], originals[::7]):
        assert np.array_equal(np.asarray(it.load()), np.asarray(decode_image(f)))


def test_the_default_runs_on_the_flat_layout_as_on_wordnet_folders(tmp_path, originals):
    from se_analysis.models.zoo import load_model
    from se_analysis.runs.extract import extract

    val = _flat(tmp_path, originals[::6])
    rows = ["ImageId,PredictionString"] + [f"{f.stem},{w} 1 1 2 2" for f, w in originals[::6]]
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    net = load_model("default")
    flat = extract(net, image_folder(val, net.class_names, WNIDS))
    folders = tmp_path / "folders"
    for f, w in originals[::6]:
        (folders / w).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, folders / w / f.name)
    by_wnid = extract(net, image_folder(folders, net.class_names, WNIDS))
    a = flat.images.assign(name=flat.images["image_id"].map(lambda s: Path(s).name)).sort_values("name")
    b = by_wnid.images.assign(name=by_wnid.images["image_id"].map(lambda s: Path(s).name)).sort_values("name")
    assert a["label"].tolist() == b["label"].tolist()
    np.testing.assert_allclose(flat.logits[a.index], by_wnid.logits[b.index], atol=1e-5)
