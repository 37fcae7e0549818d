"""The optional Art. 8(1) exclusion (second subparagraph), decided once per area and said on what.

Regulation (EU) 2024/1991, Art. 8(1): a Member State may exclude urban ecosystem areas "where the share
of urban green space in the urban centres and urban clusters ... exceeds 45 % and the share of urban
tree canopy cover exceeds 10 %". The shares are therefore over the area's urban centres and urban
clusters (UCC, Degree of Urbanisation), measured in the baseline year:

* with UCC figures in the official baseline observation (a UCC layer configured, see
  `services/areas/_ucc.py` and `services/clms/official.py`), on those: basis `ucc`, the legal figure;
* otherwise over the whole area: basis `whole-area`, an APPROXIMATION, and every state says so.

The exclusion is a property of the area, not of a series: when the official baseline has UCC figures,
its decision is passed to the evaluation of every series of the area (`area_exclusion`) and to the
national totals, so an area is never excluded on one series and counted on another. Without UCC
figures each series decides on its own baseline over the whole area, as before.

Both shares must be MORE than the thresholds (compared without dividing: 450 of 1000 m2 is exactly
45 %, never 45.000000000000007 %). An area whose UCC part is empty has no UCC shares and is not
excluded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from greenwatch.services.trend._annual import OFFICIAL, Annual, share_pct

if TYPE_CHECKING:
    from greenwatch.services.trend._rules import Rules

Doc = dict[str, Any]
BASIS_UCC = "urban centres and clusters (official CLC+/TCD)"
BASIS_WHOLE = "whole area (approximation: no urban centres and clusters layer configured)"
BASIS_WHOLE_MISSING = "whole area (approximation: no urban centres and clusters figures for {year} yet)"


@dataclass(frozen=True)
class ExclusionBasis:
    """One area's exclusion decision: whether, on which figures (`kind` 'ucc' or 'whole-area', and
    the human `basis`), from which year and series, and the shares it compared."""

    excluded: bool
    kind: str
    basis: str
    year: int
    series: str | None
    green_m2: float
    canopy_m2: float
    area_m2: float

    @property
    def green_share_pct(self) -> float | None:
        return share_pct(self.green_m2, self.area_m2)

    @property
    def canopy_share_pct(self) -> float | None:
        return share_pct(self.canopy_m2, self.area_m2)

    def to_doc(self) -> Doc:
        return {"excluded": self.excluded, "basis": self.basis, "basis_kind": self.kind, "year": self.year,
                "series": self.series, "area_m2": self.area_m2, "green_m2": self.green_m2,
                "canopy_m2": self.canopy_m2, "green_share_pct": self.green_share_pct,
                "canopy_share_pct": self.canopy_share_pct}

    def reason(self, rules: Rules) -> str:
        """'excluded from ...' or 'not excluded ...', with the shares and the basis."""
        where = f"basis: {self.basis}" + (f", decided on the {self.series} series" if self.series else "")
        g, c = self.green_share_pct, self.canopy_share_pct
        if g is None or c is None:
            return f"not excluded (Art. 8(1)): the area has no urban centres or clusters in {self.year}; {where}"
        if self.excluded:
            return (f"excluded from the no-net-loss obligation (Art. 8(1)): in {self.year} green space {g:.2f} % > "
                    f"{rules.exclusion_green_pct:g} % and tree canopy {c:.2f} % > {rules.exclusion_canopy_pct:g} %; "
                    f"{where}")
        gm = ">" if self.green_m2 * 100.0 > rules.exclusion_green_pct * self.area_m2 else "not more than"
        cm = ">" if self.canopy_m2 * 100.0 > rules.exclusion_canopy_pct * self.area_m2 else "not more than"
        return (f"not excluded (Art. 8(1)): in {self.year} green space {g:.2f} % {gm} {rules.exclusion_green_pct:g} % "
                f"and tree canopy {c:.2f} % {cm} {rules.exclusion_canopy_pct:g} %; {where}")


def exclusion_basis(base: Annual, rules: Rules, *, series: str | None = None) -> ExclusionBasis | None:
    """The decision on a baseline annual value; None when the exclusion is not applied (`rules.exclusion`)."""
    if not rules.exclusion:
        return None
    if base.ucc_area_m2 is not None:
        kind, basis = "ucc", BASIS_UCC
        green, canopy, area = base.ucc_green_m2 or 0.0, base.ucc_canopy_m2 or 0.0, base.ucc_area_m2
    else:
        kind = "whole-area"
        basis = BASIS_WHOLE_MISSING.format(year=base.year) if rules.ucc_layer else BASIS_WHOLE
        green, canopy, area = base.green_m2, base.canopy_m2, base.area_m2
    excluded = (area > 0 and green * 100.0 > rules.exclusion_green_pct * area
                and canopy * 100.0 > rules.exclusion_canopy_pct * area)
    return ExclusionBasis(excluded, kind, basis, base.year, series, green, canopy, area)


def area_exclusion(by_series: dict[str, dict[int, Annual]], rules: Rules) -> ExclusionBasis | None:
    """The decision every series of an area must share: the official baseline's, when it has UCC
    figures (the best data); None otherwise (each series then decides on its own baseline)."""
    base = by_series.get(OFFICIAL, {}).get(rules.baseline_year)
    if base is None or base.ucc_area_m2 is None:
        return None
    return exclusion_basis(base, rules, series=OFFICIAL)
