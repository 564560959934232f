"""The pipeline by section and status, and the monthly digest's totals folded from it.

``digest_queries.pipeline_of`` counts every issue in one GROUP BY (section, status), read from
a covering index: a few hundred rows at most (sections × 8 statuses), from which the pipeline,
the per-section counts, the hours saved and the sections silent this 年度 are all read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from storage.issues import OPEN_STATUSES

SAVED_STATUSES = ("implemented", "closed")  # their annual hours count as saved


class PipelineCell(NamedTuple):
    section: str
    status: str
    issues: int
    this_year: int  # of them, reported in the 年度 asked about
    hours: float  # the sum of their estimated annual hours


class SectionCount(NamedTuple):
    section: str
    open: int
    this_year: int


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The (section, status) counts, and the totals the monthly digest reads off them."""

    cells: tuple[PipelineCell, ...]

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for cell in self.cells:
            counts[cell.status] = counts.get(cell.status, 0) + cell.issues
        return counts

    def saved(self) -> tuple[int, float]:
        """(issues implemented or closed, their estimated annual hours)."""
        done = [c for c in self.cells if c.status in SAVED_STATUSES]
        return sum(c.issues for c in done), sum(c.hours for c in done)

    def reported_this_year(self) -> int:
        return sum(cell.this_year for cell in self.cells)

    def by_section(self) -> list[SectionCount]:
        """Sections with open issues or reports this 年度, the busiest first."""
        found: dict[str, SectionCount] = {}
        for cell in self.cells:
            known = found.get(cell.section, SectionCount(cell.section, 0, 0))
            opened = cell.issues if cell.status in OPEN_STATUSES else 0
            found[cell.section] = SectionCount(
                cell.section, known.open + opened, known.this_year + cell.this_year
            )
        busy = [s for s in found.values() if s.open or s.this_year]
        return sorted(busy, key=lambda s: (-s.open, -s.this_year, s.section))

    def silent(self, sections: Iterable[str]) -> list[str]:
        """Those of ``sections`` that have reported nothing this 年度, in their order."""
        reporting = {cell.section for cell in self.cells if cell.this_year}
        return [name for name in dict.fromkeys(sections) if name not in reporting]
