"""Reads of the risks app. Every query for a user goes through the tenancy scoping helpers."""

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.risks.models import (
    KeyRiskIndicator,
    KriEvent,
    KriState,
    Mitigation,
    MitigationStatus,
    Risk,
    RiskMatrix,
    RiskRegister,
    RiskScoreSnapshot,
    RiskStatus,
)
from apps.tenancy.scoping import get_scoped, scope_to_user

HEAT_MAP_STAGES = ("inherent", "current", "residual")


def risk_matrix_list(*, user) -> QuerySet:
    return scope_to_user(RiskMatrix.objects.all(), user=user)


def risk_matrix_get(*, user, pk) -> RiskMatrix:
    return get_scoped(RiskMatrix.objects.select_related("organization"), user=user, pk=pk)


def _register_queryset() -> QuerySet:
    return RiskRegister.objects.select_related("matrix", "organization").annotate(
        risk_count=Count("risks", filter=~Q(risks__status=RiskStatus.CLOSED)),
        flagged_count=Count("risks", filter=Q(risks__flagged_at__isnull=False)),
    )


def risk_register_list(*, user) -> QuerySet:
    return scope_to_user(_register_queryset(), user=user)


def risk_register_get(*, user, pk) -> RiskRegister:
    return get_scoped(_register_queryset(), user=user, pk=pk)


def _risk_queryset() -> QuerySet:
    return Risk.objects.select_related("organization", "register__matrix", "owner", "accepted_by").annotate(
        open_mitigations=Count(
            "mitigations",
            filter=Q(mitigations__status__in=[MitigationStatus.PLANNED, MitigationStatus.IN_PROGRESS]),
            distinct=True,
        ),
        breached_indicators=Count("indicators", filter=Q(indicators__state=KriState.BREACHED), distinct=True),
    )


def risk_list(*, user) -> QuerySet:
    return scope_to_user(_risk_queryset(), user=user)


def risk_get(*, user, pk) -> Risk:
    return get_scoped(_risk_queryset(), user=user, pk=pk)


def is_acceptance_expired(risk: Risk, today: dt.date | None = None) -> bool:
    return risk.status == RiskStatus.ACCEPTED and risk.acceptance_expires_on < (today or timezone.localdate())


def is_review_overdue(risk: Risk, today: dt.date | None = None) -> bool:
    return risk.status != RiskStatus.CLOSED and risk.next_review_on < (today or timezone.localdate())


def risk_score_history(*, risk: Risk) -> QuerySet:
    return RiskScoreSnapshot.objects.filter(risk=risk).order_by("recorded_at", "id")


def mitigation_list(*, user) -> QuerySet:
    return scope_to_user(Mitigation.objects.select_related("owner", "risk"), user=user, org_field="risk__organization")


def mitigation_get(*, user, pk) -> Mitigation:
    return get_scoped(
        Mitigation.objects.select_related("owner", "risk__organization", "risk__owner"),
        user=user,
        org_field="risk__organization",
        pk=pk,
    )


def kri_list(*, user) -> QuerySet:
    return scope_to_user(KeyRiskIndicator.objects.select_related("risk"), user=user)


def kri_get(*, user, pk) -> KeyRiskIndicator:
    return get_scoped(
        KeyRiskIndicator.objects.select_related("risk__organization", "risk__owner", "organization"), user=user, pk=pk
    )


def kri_event_list(*, indicator: KeyRiskIndicator) -> QuerySet:
    return KriEvent.objects.filter(indicator=indicator).order_by("-occurred_at", "-id")


def risk_heat_map(*, register: RiskRegister, include_closed: bool = False, filtered: QuerySet | None = None) -> dict:
    """Counts of risks per (likelihood, impact) cell for the inherent, current and residual scores.

    `filtered` narrows the count to a filtered list of the register's risks (the dashboard's filters); by default
    every risk of the register is counted.

    For the dashboard and the PDF: `cells` lists every cell of the matrix with its level and three counts;
    `grids[stage][likelihood - 1][impact - 1]` holds the same counts as a matrix.
    """
    matrix = register.matrix
    risks = Risk.objects.filter(register=register)
    if filtered is not None:
        risks = risks.filter(pk__in=filtered.order_by().values("pk"))
    if not include_closed:
        risks = risks.exclude(status=RiskStatus.CLOSED)
    grids = {stage: [[0] * matrix.impact_size for _ in range(matrix.likelihood_size)] for stage in HEAT_MAP_STAGES}
    # One grouped query for the three stages: each row is a combination of the six scores, counted into each grid.
    fields = [f"{stage}_{axis}" for stage in HEAT_MAP_STAGES for axis in ("likelihood", "impact")]
    for row in risks.values(*fields).annotate(n=Count("id")).order_by():
        for stage in HEAT_MAP_STAGES:
            likelihood, impact = row[f"{stage}_likelihood"], row[f"{stage}_impact"]
            if 1 <= likelihood <= matrix.likelihood_size and 1 <= impact <= matrix.impact_size:
                grids[stage][likelihood - 1][impact - 1] += row["n"]
    cells = [
        {
            "likelihood": likelihood,
            "impact": impact,
            "score": likelihood * impact,
            "level": matrix.level_of(likelihood, impact),
            **{stage: grids[stage][likelihood - 1][impact - 1] for stage in HEAT_MAP_STAGES},
        }
        for likelihood in range(1, matrix.likelihood_size + 1)
        for impact in range(1, matrix.impact_size + 1)
    ]
    return {
        "register": register.pk,
        "matrix": {
            "id": matrix.pk,
            "name": matrix.name,
            "likelihood_labels": matrix.likelihood_labels,
            "impact_labels": matrix.impact_labels,
            "levels": matrix.levels,
        },
        "total": sum(cell["inherent"] for cell in cells),
        "cells": cells,
        "grids": grids,
    }
