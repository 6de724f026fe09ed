"""Issue 18 in the app: the pages at 1,000 classes (1 or 2 images each) stay legible and say what they cannot do."""

from __future__ import annotations

import json

import numpy as np

from tests.test_app import PAGES, _open, _stored, no_errors

MB = 5_000_000
PAPER = ["c1", "c254", "c404", "c972"]  # goldfish, pug, airliner, cliff: a 1,000-class model's indices


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _small(at) -> None:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        assert len(chart.proto.spec) < MB and spec["layout"].get("height", 450) <= 2000


def test_one_image_per_class_at_1000_classes():
    _stored("k1000x1", "2024-01-01T00:00:00", n_per_class=(1,) * 1000, channels=(6, 40), seed=1)
    at = _open("k1000x1", "contrast.py")
    assert not at.error and any("at least 2 images" in i.value and "1000 classes here have only one" in i.value
                                for i in at.info)
    at.switch_page(str(PAGES / "paper.py")).run()
    no_errors(at)
    assert at.multiselect(key="paper_classes").value == PAPER  # the paper's own four (1,000 classes: ImageNet)
    _small(at)
    at.switch_page(str(PAGES / "depth.py")).run()
    no_errors(at)
    assert any("1 by construction" in w.value for w in at.warning)
    assert not any("read omega" in w.value for w in at.warning)
    assert any("a class needs one image to fit its mean and one to score it" in i.value for i in at.info)
    _small(at)
    at.switch_page(str(PAGES / "classes.py")).run()
    no_errors(at)
    assert at.multiselect(key="heatmap_classes").value == PAPER  # rows: the selection, not 1,000
    heat, sim = _charts(at)
    assert heat["data"][0]["y"] == PAPER
    _small(at)


def test_two_classes_offers_only_classes_with_two_images():
    counts = (2,) * 500 + (1,) * 500
    _stored("k1000x2", "2024-01-01T00:00:00", n_per_class=counts, channels=(6, 40), seed=2)
    at = _open("k1000x2", "contrast.py")
    options = at.selectbox(key="contrast_a").options
    assert len(options) == 500 and "c999" not in options
    assert any("500 classes with a single image left out" in c.value for c in at.caption)
    assert [at.selectbox(key=k).value for k in ("contrast_a", "contrast_b")] == ["c1", "c254"]  # the paper's
    (chart,) = _charts(at)
    assert chart["data"]
    at.switch_page(str(PAGES / "depth.py")).run()
    no_errors(at)
    assert any("500 classes with a single image left out" in c.value for c in at.caption)
    _small(at)
    at.switch_page(str(PAGES / "channel.py")).run()
    no_errors(at)
    _small(at)
    assert np.all([len(t.get("name", "")) < 40 for t in _charts(at)[0]["data"]])
