"""Which product of a datatake is the current one: reprocessings supersede what came before.

A Sentinel-2 *datatake* is one continuous acquisition; it is cut into many MGRS tiles, one item each.
ESA reprocesses datatakes with newer processing baselines, and the reprocessed item has a new id. So a
product's identity for superseding is (datatake without its baseline, MGRS tile):

* EOPF/CDSE `eopf:datatake_id` like `GS2A_20251113T102311_054288_N05.11` embeds the baseline: it is
  compared without the trailing `_Nxx.yy`;
* Earth Search's `s2:datatake_id` has the same shape; items with neither fall back to the product
  id (`S2A_MSIL2A_<sensing>_N0511_R065_T32TNQ_<generation>`: platform, sensing time, relative orbit).

The newer product is the one with the higher (processing baseline, generation time); the generation
time is the id's last field (or `processing:datetime`), so a same-baseline regeneration also wins.
"""

from __future__ import annotations

import re
from typing import Any

_DATATAKE_BASELINE = re.compile(r"_N\d{2}\.\d{2}$")
_PRODUCT_ID = re.compile(r"^(S2[A-D])_MSIL2A_(\d{8}T\d{6})_N\d{4}_R(\d{3})_T(\d{2}[C-X][A-Z]{2})_(\d{8}T\d{6})$")
_GENERATION = re.compile(r"_(\d{8}T\d{6})$")


def datatake_key(scene: dict[str, Any]) -> str | None:
    """(datatake without baseline)/(MGRS tile), or None when the item says too little to tell."""
    datatake = scene.get("datatake_id")
    tile = scene.get("mgrs_tile")
    if isinstance(datatake, str) and datatake and tile:
        return f"{_DATATAKE_BASELINE.sub('', datatake)}/{tile}"
    m = _PRODUCT_ID.match(str(scene.get("item_id", "")))
    if m:
        platform, sensing, orbit, id_tile, _ = m.groups()
        return f"{platform}_{sensing}_R{orbit}/{tile or id_tile}"
    return None


def rank(scene: dict[str, Any], item: dict[str, Any] | None = None) -> list[str]:
    """Sort key of a product among the products of its datatake: [baseline, generation time]."""
    baseline = scene.get("processing_baseline") or "00.00"
    m = _GENERATION.search(str(scene.get("item_id", "")))
    generation = m.group(1) if m else ""
    if not generation and item is not None:
        props = item.get("properties") or {}
        generation = str(props.get("processing:datetime") or props.get("updated") or "")
    return [baseline, generation]
