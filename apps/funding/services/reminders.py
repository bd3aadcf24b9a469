"""Reminders for milestones and grant reports coming due or overdue, sent once a day at most per item."""

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from apps.funding.models import OPEN_MILESTONE_STATUSES, GrantReport, GrantReportStatus, Milestone
from apps.tenancy.models import Membership, Role


def _recipients(item_owner, organization) -> list[str]:
    if item_owner is not None and item_owner.email:
        return [item_owner.email]
    # No owner with an email: the organization's owners and finance people hear about it.
    emails = Membership.objects.filter(organization=organization, role__in=[Role.OWNER, Role.FINANCE]).values_list(
        "user__email", flat=True
    )
    return sorted({email for email in emails if email})


def _state(due: dt.date, today: dt.date) -> str:
    return "overdue" if due < today else "due today" if due == today else "due soon"


def _line(due: dt.date, today: dt.date) -> str:
    days = (due - today).days
    if days < 0:
        return f"OVERDUE by {-days} day(s) (was due {due})"
    return "due today" if days == 0 else f"due in {days} day(s), on {due}"


def reminders_send(*, today: dt.date | None = None) -> dict:
    """Emails owners about open milestones and reports due within REMINDER_DAYS_AHEAD days or overdue.

    Idempotent per day: each item records the day it was last reminded, so a second run sends nothing.
    """
    today = today or timezone.localdate()
    horizon = today + dt.timedelta(days=settings.REMINDER_DAYS_AHEAD)
    sent = {"milestones": 0, "reports": 0}
    milestones = (
        Milestone.objects.filter(status__in=OPEN_MILESTONE_STATUSES, due_date__lte=horizon)
        .exclude(last_reminded_on=today)
        .select_related("owner", "organization")
    )
    for milestone in milestones:
        with transaction.atomic():
            locked = (
                Milestone.objects.select_for_update(skip_locked=True)
                .filter(pk=milestone.pk)
                .exclude(last_reminded_on=today)
                .first()
            )
            if locked is None:
                continue
            recipients = _recipients(milestone.owner, milestone.organization)
            if recipients:
                send_mail(
                    f"[govtrack] Milestone {_state(milestone.due_date, today)}: {milestone.title}",
                    f"The milestone '{milestone.title}' ({milestone.amount} {milestone.currency}) of "
                    f"{milestone.organization.name} is {_line(milestone.due_date, today)}. "
                    f"Its status is {milestone.get_status_display().lower()}.",
                    settings.DEFAULT_FROM_EMAIL,
                    recipients,
                )
                sent["milestones"] += 1
            Milestone.objects.filter(pk=milestone.pk).update(last_reminded_on=today)
    reports = (
        GrantReport.objects.filter(status=GrantReportStatus.DUE, due_date__lte=horizon)
        .exclude(last_reminded_on=today)
        .select_related("grant__owner", "grant__organization")
    )
    for report in reports:
        with transaction.atomic():
            locked = (
                GrantReport.objects.select_for_update(skip_locked=True)
                .filter(pk=report.pk)
                .exclude(last_reminded_on=today)
                .first()
            )
            if locked is None:
                continue
            recipients = _recipients(report.grant.owner, report.grant.organization)
            if recipients:
                send_mail(
                    f"[govtrack] Grant report {_state(report.due_date, today)}: {report.title}",
                    f"The report '{report.title}' for the grant '{report.grant.title}' is "
                    f"{_line(report.due_date, today)}.",
                    settings.DEFAULT_FROM_EMAIL,
                    recipients,
                )
                sent["reports"] += 1
            GrantReport.objects.filter(pk=report.pk).update(last_reminded_on=today)
    return sent
