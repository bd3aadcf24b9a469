"""Rows of the CSV/XLSX exports: raw values in the columns the imports read back."""

from collections.abc import Iterator

from django.db.models import QuerySet

from apps.compliance.services.imports import ACTIVITY_COLUMNS, FINDING_COLUMNS
from apps.core.tabular import join_list


def finding_rows(findings: QuerySet) -> tuple[tuple[str, ...], Iterator[list]]:
    def rows():
        for f in findings.select_related("owner", "control").order_by("ref"):
            yield [
                f.ref,
                f.title,
                f.description,
                f.severity,
                f.status,
                f.owner.username,
                f.due_date,
                f.control.ref if f.control else "",
            ]

    return FINDING_COLUMNS, rows()


def processing_activity_rows(activities: QuerySet) -> tuple[tuple[str, ...], Iterator[list]]:
    def rows():
        for a in activities.select_related("owner").order_by("name"):
            yield [
                a.name,
                a.purpose,
                a.role,
                a.lawful_basis,
                join_list(a.data_categories),
                a.special_categories,
                join_list(a.data_subjects),
                join_list(a.recipients),
                join_list(a.transfers),
                a.retention,
                a.owner.username if a.owner else "",
            ]

    return ACTIVITY_COLUMNS, rows()
