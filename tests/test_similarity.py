"""Class similarity of mean gate vectors, against pairwise computations done here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from se_analysis.analysis.similarity import class_similarity


def _cs(vectors: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [{"block": "SE_9_1", "depth": 0, "channel": c, "class": name, "class_index": i, "mean": v[c], "std": 0.0,
             "n": 5} for i, (name, v) in enumerate(vectors.items()) for c in range(len(v))]
    return pd.DataFrame(rows)


def test_similarity_values_and_clustered_order():
    rng = np.random.default_rng(0)
    base1, base2 = rng.uniform(0, 1, 12), rng.uniform(0, 1, 12)
    vectors = {"a1": base1, "b1": base2, "a2": base1 + rng.normal(0, 0.01, 12), "b2": base2 + rng.normal(0, 0.01, 12)}
    table, order = class_similarity(_cs(vectors), "SE_9_1", "cosine")
    for _, r in table.iterrows():
        x, y = vectors[r["class_a"]], vectors[r["class_b"]]
        assert r["similarity"] == pytest.approx(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
    pairs = {frozenset(order[:2]), frozenset(order[2:])}
    assert pairs == {frozenset({"a1", "a2"}), frozenset({"b1", "b2"})}  # alike classes sit together
    corr, _ = class_similarity(_cs(vectors), "SE_9_1", "correlation")
    got = corr.set_index(["class_a", "class_b"])["similarity"]
    assert got[("a1", "b2")] == pytest.approx(np.corrcoef(vectors["a1"], vectors["b2"])[0, 1])
