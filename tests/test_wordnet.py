"""WordNet superclasses: the shipped hypernym table against WordNet's own files, its rebuild, and grouping by it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from se_analysis.analysis import stats
from se_analysis.cli import main
from se_analysis.data.hierarchy import superclass_of, superclass_options
from se_analysis.data.imagenet import imagenet_class_names, imagenet_wnids
from se_analysis.data.wordnet import HYPERNYMS_CSV, NAMES_CSV, PROVENANCE_MD, read_data_noun
from se_analysis.runs.moments import GateMoments
from se_analysis.runs.run import Run
from tests.conftest import make_run

DATA_NOUN = Path("/usr/share/wordnet/data.noun")
needs_wordnet = pytest.mark.skipif(not DATA_NOUN.is_file(), reason="WordNet 3.0 (Debian's wordnet-base) is not "
                                                                    "installed at /usr/share/wordnet")
DOG = "n02084071"


def _hyponyms_of(root: str) -> set[str]:
    """Every synset below ``root`` in data.noun, by a breadth-first walk over all hyponym pointers (``~``, ``~i``):
    every path, not only the first-hypernym chain the table keeps."""
    below = defaultdict(list)
    for line in DATA_NOUN.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(" "):
            continue
        f = line.split(" | ")[0].split()
        at = 4 + 2 * int(f[3], 16)
        for i in range(int(f[at])):
            symbol, offset, pos = f[at + 1 + 4 * i: at + 4 + 4 * i]
            if symbol in ("~", "~i") and pos == "n":
                below["n" + f[0]].append("n" + offset)
    seen, queue = {root}, [root]
    while queue:
        for child in below[queue.pop(0)]:
            if child not in seen:
                seen.add(child)
                queue.append(child)
    return seen


@needs_wordnet
def test_dog_count_matches_an_independent_walk_down_wordnet():
    table = pd.read_csv(HYPERNYMS_CSV)
    assert table["wnid"].tolist() == imagenet_wnids()  # class-index order
    in_table = int(table["chain"].str.split(";").map(lambda c: DOG in c).sum())
    walked = len(_hyponyms_of(DOG) & set(imagenet_wnids()))
    assert in_table == walked == 118
    assert superclass_of(imagenet_wnids(), 13).count(DOG) == 118  # dog is at depth 13
    names = pd.read_csv(NAMES_CSV).set_index("wnid")
    assert names.loc[DOG, "name"] == "dog" and names.loc[DOG, "depth"] == 13


@needs_wordnet
def test_parser_reads_several_hypernyms_and_keeps_the_first():
    synsets = read_data_noun(DATA_NOUN)
    dog = synsets[DOG]
    assert dog.words[:2] == ("dog", "domestic_dog") and dog.hypernyms == ("n02083346", "n01317541")  # canine first
    chain = pd.read_csv(HYPERNYMS_CSV).set_index("wnid").loc["n02085620", "chain"].split(";")  # Chihuahua
    assert chain[0] == "n00001740" and chain[-1] == "n02085620"
    assert chain[chain.index(DOG) - 1] == "n02083346"


@needs_wordnet
def test_build_wordnet_reproduces_the_shipped_tables(tmp_path, capsys):
    assert main(["build-wordnet", "--out", str(tmp_path)]) == 0
    for shipped in (HYPERNYMS_CSV, NAMES_CSV, PROVENANCE_MD):
        assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name
    assert "Princeton" in PROVENANCE_MD.read_text() and "wordnet-base" in PROVENANCE_MD.read_text()


def test_options_count_the_groups_of_the_classes_at_hand():
    levels = {lv.depth: lv for lv in superclass_options(["n02085620", "n02102040", "n01530575", "n01440764"])}
    assert levels[9].groups == 3 and set(levels[9].largest) == {"mammal", "bird", "aquatic vertebrate"}
    assert levels[13].groups == 3 and "dog" in levels[13].largest
    assert min(levels) > 1 and max(lv.groups for lv in levels.values()) == 4  # stops once every class is alone


# Chihuahua, English springer (dogs), brambling, goldfinch (birds), tench (a fish)
CLASSES = {"n02085620": 3, "n02102040": 4, "n01530575": 2, "n01531178": 5, "n01440764": 3}
AT_9 = {"n02085620": "mammal", "n02102040": "mammal", "n01530575": "bird", "n01531178": "bird",
        "n01440764": "aquatic vertebrate"}


def _imagenet_run(seed: int = 0) -> Run:
    """A synthetic Run of a 1000-class ImageNet model: a few images of five classes, two blocks."""
    rng = np.random.default_rng(seed)
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    y = np.concatenate([np.full(n, index[w]) for w, n in CLASSES.items()])
    n = len(y)
    gates = {"SE_2_1": rng.uniform(0, 1, (n, 3)).astype(np.float32),
             "SE_3_1": rng.uniform(0, 1, (n, 4)).astype(np.float32)}
    logits = rng.normal(size=(n, 1000)).astype(np.float32)
    pred = rng.choice(y, n)  # predictions among the same classes, often wrong
    names = imagenet_class_names()
    images = pd.DataFrame({"index": np.arange(n), "image_id": [f"i{i}" for i in range(n)], "source": "x", "label": y,
                           "label_name": [names[c] for c in y], "pred": pred, "pred_name": [names[c] for c in pred],
                           "confidence": 0.5, "correct": pd.array(pred == y, dtype="boolean")})
    manifest = {"class_names": names, "pretrained": True,
                "gates": [{"name": b, "path": b, "channels": v.shape[1], "depth": i, "stage": 2 + i, "position": 1}
                          for i, (b, v) in enumerate(gates.items())]}
    return Run(images=images, gate_values=gates, logits=logits, manifest=manifest)


def _by_hand(run: Run, column: str, block: str) -> dict[str, np.ndarray]:
    """Mean gate vector of each depth-9 superclass, from the images whose ``column`` class falls in it."""
    wnids = imagenet_wnids()
    group = np.array([AT_9[wnids[c]] for c in run.images[column]])
    return {g: run.gate_values[block][group == g].astype(np.float64).mean(0) for g in set(AT_9.values())}


def test_grouping_by_superclass_gives_the_group_means_by_hand():
    run = _imagenet_run()
    for by, column in (("superclass:9", "label"), ("pred-superclass:9", "pred")):
        cs = stats.channel_stats(run, by=by)
        assert set(cs["class"]) == set(AT_9.values()) | {stats.ALL}
        for block in run.gate_names:
            for group, mean in _by_hand(run, column, block).items():
                got = cs[(cs["block"] == block) & (cs["class"] == group)].sort_values("channel")
                np.testing.assert_allclose(got["mean"], mean, atol=1e-6)
                assert (got["n"] == int((run.images[column].map(lambda c: AT_9[imagenet_wnids()[c]]) == group)
                                        .sum())).all()
    groups = stats.class_groups(run, "superclass:9")
    names = stats.group_names(run, "superclass:9")
    assert [names[g] for g in groups] == [AT_9[imagenet_wnids()[c]] for c in run.images["label"]]
    assert len(set(stats.group_names(run, "superclass:13"))) == len(stats.group_names(run, "superclass:13"))


def test_summary_only_runs_pool_their_class_moments_exactly():
    full = _imagenet_run(seed=1)
    summary = Run(images=full.images, gate_values={}, logits=full.logits, manifest=full.manifest,
                  moments={col: GateMoments.from_arrays(full.gate_values, full.images[col].to_numpy(), 1000)
                           for col in ("label", "pred")})
    for by in ("superclass:9", "pred-superclass:11"):
        a, b = stats.channel_stats(full, by=by), stats.channel_stats(summary, by=by)
        pd.testing.assert_frame_equal(a, b, atol=1e-9)
        np.testing.assert_allclose(stats.block_stats(full, by=by)["specificity"],
                                   stats.block_stats(summary, by=by)["specificity"], atol=1e-9)


def test_superclass_needs_an_imagenet_model_and_a_depth():
    with pytest.raises(ValueError, match="1000 ImageNet classes"):
        stats.channel_stats(make_run(), by="superclass:9")
    with pytest.raises(ValueError, match="needs a WordNet depth"):
        stats.parse_group_by("superclass")
    with pytest.raises(ValueError, match="group by label"):
        stats.parse_group_by("species")
    assert stats.parse_group_by("pred-superclass:7") == ("pred-superclass", 7)


def test_cli_stats_and_export_group_by_superclass(tmp_path, capsys):
    _imagenet_run().save(tmp_path / "run")
    assert main(["stats", "--run", str(tmp_path / "run"), "--kind", "block", "--by", "superclass:9",
                 "--out", str(tmp_path / "block.csv")]) == 0
    out = tmp_path / "export"
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(out), "--formats", "html",
                 "--by", "superclass:9", "--contrast", "mammal,bird"]) == 0
    cs = pd.read_csv(out / "channel_stats.csv")
    assert set(cs["class"]) == set(AT_9.values()) | {stats.ALL}
    contrast = list(out.glob("contrast_SE_3_1_mammal*bird.csv"))
    assert len(contrast) == 1 and pd.read_csv(contrast[0])["n_a"].iloc[0] == 7  # 3 Chihuahuas + 4 springers
    assert "WordNet superclass at depth 9" in contrast[0].with_suffix(".html").read_text()
    assert "bird" in (out / "report.html").read_text()
    make_run().save(tmp_path / "fmnist-like")
    capsys.readouterr()
    assert main(["stats", "--run", str(tmp_path / "fmnist-like"), "--by", "superclass:9",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "needs a model of the 1000 ImageNet classes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["stats", "--run", str(tmp_path / "run"), "--by", "superclass", "--out", str(tmp_path / "y.csv")])


def test_classes_page_offers_superclasses_for_imagenet_runs_only():
    from streamlit.testing.v1 import AppTest

    from se_analysis.runs.run import RunStore
    from tests.test_app import APP, PAGES, no_errors

    run = _imagenet_run()
    run.manifest.update(model="tiny", weights="w", data="synthetic", created="2024-01-01T00:00:00", n_images=len(run),
                        device="cpu")
    RunStore().put("imagenetlike", run)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run="imagenetlike", by="superclass", wndepth="9")
    at.run()
    at.switch_page(str(PAGES / "classes.py")).run()
    no_errors(at)
    assert at.radio(key="group_by").value == "superclass"
    assert at.select_slider(key="group_depth").value == 9
    assert any("depth 9: 3 groups" in c.value for c in at.caption)


def test_classes_page_says_why_a_small_model_has_no_superclasses():
    from se_analysis.runs.run import RunStore
    from tests.test_app import _open

    run = make_run()
    run.manifest.update(model="tiny", weights="w", data="synthetic", created="2024-01-01T00:00:00", n_images=len(run),
                        device="cpu")
    RunStore().put("tenclasses", run)
    at = _open("tenclasses", "classes.py", by="superclass", wndepth="9")
    assert at.radio(key="group_by").value == "label" and "superclass" not in at.radio(key="group_by").options
    assert any("needs a model of the 1000 ImageNet classes" in c.value for c in at.caption)


def test_grouping_by_superclass_and_back_keeps_the_chosen_classes():
    """Superclasses are chosen apart from classes: the classes chosen before grouping by superclass are the
    classes chosen after grouping back (not cut down to those that are also superclass names)."""
    from streamlit.testing.v1 import AppTest

    from se_analysis.runs.run import RunStore
    from tests.test_app import APP, PAGES, no_errors

    run = _imagenet_run()
    run.manifest.update(model="tiny", weights="w", data="synthetic", created="2024-01-01T00:00:00", n_images=len(run),
                        device="cpu")
    RunStore().put("imagenetlike2", run)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(run="imagenetlike2")
    at.run()
    at.switch_page(str(PAGES / "paper.py")).run()
    names = run.class_names
    chosen = [names[c] for c in sorted(set(run.images["label"]))][:2]
    at.multiselect(key="paper_classes").set_value(chosen).run()
    at.radio(key="group_by").set_value("superclass").run()
    no_errors(at)
    groups = at.multiselect(key="paper_classes@" + f"superclass:{at.select_slider(key='group_depth').value}")
    assert groups.value and not set(groups.value) & set(chosen)  # superclasses, chosen on their own
    at.radio(key="group_by").set_value("label").run()
    no_errors(at)
    assert at.multiselect(key="paper_classes").value == chosen
    at.switch_page(str(PAGES / "channel.py")).run()  # the chosen classes follow to the One channel page
    no_errors(at)


def test_wordnet_id_folders_read_as_their_classes():
    """Grouping by folder on ImageNet-style folders (``n01443537/``) shows each folder's class with its id,
    the per-folder means stay those of the folder's images, and the paper's classes are still the ones a
    view starts on; a folder that is no WordNet id keeps its name."""
    import csv

    from se_analysis.analysis.class_choice import run_starting_classes
    from se_analysis.data.labels import folder_labels

    run = _imagenet_run()
    wnids, names = imagenet_wnids(), imagenet_class_names()
    folders = [wnids[c] for c in run.images["label"]]
    folders[-2:] = ["misc", "misc"]  # a folder that is not a class
    folders[:3] = ["n01443537"] * 3  # goldfish, the paper's first class
    run.images["image_id"] = [f"{f}/{i}.JPEG" for i, f in enumerate(folders)]
    run.manifest["data_spec"] = {"kind": "folder", "root": "/data/val"}
    by_hand = {f: (f if f == "misc" else f"{names[wnids.index(f)]} ({f})") for f in set(folders)}
    assert stats.group_names(run, "folder") == [by_hand[f] for f in sorted(set(folders))]
    assert by_hand["n01443537"] == "goldfish (n01443537)"
    cs = stats.channel_stats(run, by="folder")
    values = run.gate_values["SE_3_1"].astype(np.float64)
    for f, label in by_hand.items():
        rows = cs[(cs["block"] == "SE_3_1") & (cs["class"] == label)].sort_values("channel")
        np.testing.assert_allclose(rows["mean"], values[np.array(folders) == f].mean(0), atol=1e-6)
    assert run_starting_classes(run, cs)[0] == "goldfish (n01443537)"
    # a small model: WordNet's own name for the id, read here from the shipped table itself
    with open(NAMES_CSV, newline="", encoding="utf-8") as fh:
        wordnet = {row["wnid"]: row["name"] for row in csv.DictReader(fh)}
    got = folder_labels(["n02084071", "cats", "n99999999"], ["cats", "dogs"])
    assert got == [f"{wordnet['n02084071']} (n02084071)", "cats", "n99999999"]
    # a label never repeats another folder's name
    assert folder_labels(["n01443537", "goldfish (n01443537)"], names) == ["n01443537", "goldfish (n01443537)"]
