"""The audit score.

Rule: compliant counts 1, partially 0.5, non_compliant 0; not_applicable and not_assessed controls are left
out. Each control counts with its weight from the framework YAML (default 1). The score is the weighted
mean, as a percentage with two decimals; an audit with no applicable assessed control has no score (None),
not 0. Coverage tells how much of the audit has been assessed, so a partial score is not mistaken for a final one.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from apps.compliance.models import AssessmentResult

RESULT_VALUES = {
    AssessmentResult.COMPLIANT: Decimal(1),
    AssessmentResult.PARTIALLY: Decimal("0.5"),
    AssessmentResult.NON_COMPLIANT: Decimal(0),
}
_CENT = Decimal("0.01")


@dataclass
class ScoreAccumulator:
    earned: Decimal = Decimal(0)
    possible: Decimal = Decimal(0)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AssessmentResult.values, 0))

    def add(self, result: str, weight: Decimal) -> None:
        self.counts[result] += 1
        if result in RESULT_VALUES:
            self.earned += RESULT_VALUES[result] * weight
            self.possible += weight

    @property
    def score(self) -> Decimal | None:
        if not self.possible:
            return None
        return (self.earned * 100 / self.possible).quantize(_CENT, rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict:
        total = sum(self.counts.values())
        assessed = total - self.counts[AssessmentResult.NOT_ASSESSED]
        return {
            "score": self.score,
            "controls": total,
            "assessed": assessed,
            "coverage": (Decimal(assessed * 100) / total).quantize(_CENT) if total else None,
            "counts": dict(self.counts),
        }


def score_assessments(rows: Iterable[tuple[str, str, Decimal]]) -> dict:
    """`rows` are (section, result, weight); returns the total and a breakdown per section."""
    total = ScoreAccumulator()
    sections: dict[str, ScoreAccumulator] = {}
    for section, result, weight in rows:
        total.add(result, weight)
        sections.setdefault(section, ScoreAccumulator()).add(result, weight)
    return total.as_dict() | {"sections": [{"section": name} | acc.as_dict() for name, acc in sections.items()]}
