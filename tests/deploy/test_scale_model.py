"""docs/scale.md's Netherlands figures are computed by benchmarks/scale_model.py: the tile tasks per
round over whole tiles (the model's upper bound) and over each tile's MGRS core (what the planner makes)."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.scale_model import nl_tiles
from greenwatch.services.areas import AreaSet

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale.md"


def test_cored_tasks_are_a_subset_and_the_doc_quotes_the_computed_figures() -> None:
    nl = nl_tiles(AreaSet.load())
    tiles = nl["per_tile"]
    assert sum(t["core_tasks"] for t in tiles) == nl["core_tasks_per_round"]
    assert sum(t["core_results"] for t in tiles) == nl["core_results_per_round"]
    assert all(t["core_tasks"] <= t["tasks"] and t["core_results"] <= t["results"] for t in tiles)
    # the country straddles 6 E: tiles of both zones lose the chunks beyond their strip
    assert {t["zone"] for t in tiles if t["core_tasks"] < t["tasks"]} == {31, 32}
    text = " ".join(DOC.read_text().split())
    assert f"{nl['tasks_per_round']} tile tasks per round" in text
    core = re.search(r"gives (\d+) tasks and ([\d,]+) results per round", text)
    assert core is not None
    assert (int(core[1]), int(core[2].replace(",", ""))) == (nl["core_tasks_per_round"], nl["core_results_per_round"])
