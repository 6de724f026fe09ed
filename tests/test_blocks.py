"""Block selection: timm's feature_take_indices rules (int = last n, negative from the end), names and patterns."""

import pytest

from se_analysis.gates.blocks import parse_block_spec, select_blocks

NAMES = ["SE_2_1", "SE_4_1", "SE_4_2", "SE_4_3", "SE_5_1", "SE_5_2", "SE_6_1", "SE_6_2", "SE_6_3"]


@pytest.mark.parametrize("spec, expected", [
    (3, NAMES[6:]),                                # the last three
    ([-1], ["SE_6_3"]),                            # negative: from the end
    ([0, -1], ["SE_2_1", "SE_6_3"]),               # positions, returned in forward order
    ("SE_4_*", ["SE_4_1", "SE_4_2", "SE_4_3"]),    # fnmatch pattern
    (["SE_6_3", "SE_5_?", -1], ["SE_5_1", "SE_5_2", "SE_6_3"]),  # mixed, each once
])
def test_select_blocks(spec, expected):
    assert select_blocks(NAMES, spec) == expected


def test_parse_and_refuse():
    assert parse_block_spec("3") == 3 and parse_block_spec("SE_4_*, -1") == ["SE_4_*", -1]
    with pytest.raises(ValueError, match="last 10 blocks of 9"):
        select_blocks(NAMES, 10)
    with pytest.raises(ValueError, match="index -10 is out of range"):
        select_blocks(NAMES, [-10])
    with pytest.raises(ValueError, match="unknown blocks SE_9_9"):
        select_blocks(NAMES, "SE_9_9")
