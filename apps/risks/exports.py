"""Rows of the risk export: raw values in the columns the import reads back."""

from collections.abc import Iterator

from django.db.models import QuerySet

from apps.risks.models import SCORE_FIELDS
from apps.risks.services.imports import RISK_COLUMNS


def risk_rows(risks: QuerySet) -> tuple[tuple[str, ...], Iterator[list]]:
    def rows():
        for risk in risks.select_related("owner").order_by("ref"):
            yield [
                risk.ref,
                risk.title,
                risk.description,
                risk.category,
                risk.owner.username,
                *(getattr(risk, name) for name in SCORE_FIELDS),
                risk.treatment,
                risk.status,
                risk.due_date,
                risk.review_cadence_days,
                risk.next_review_on,
            ]

    return RISK_COLUMNS, rows()
