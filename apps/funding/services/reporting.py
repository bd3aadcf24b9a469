"""Reporting periods: a grant's schedule, each period's interim report, the funder's decision, and reminders.

A schedule cuts the grant's period into monthly, quarterly or yearly periods (or takes custom ones), each due a
number of days after it ends. The grantee side writes the narrative, attaches files and submits; the financial
part and the KPI snapshot are built from the ledger at submission. The funder (a viewer of the organization)
approves or returns it with comments. Every step runs through REPORTING_PERIODS (apps/funding/budget_machines.py).
"""

import datetime as dt
import itertools

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.core.uploads import evidence_check
from apps.funding.budget_machines import REPORTING_PERIODS
from apps.funding.models import (
    Grant,
    GrantStatus,
    PeriodAttachment,
    PeriodReminder,
    PeriodStatus,
    ReminderKind,
    ReportingFrequency,
    ReportingPeriod,
)
from apps.funding.permissions import can_manage_budget, can_submit_period_report
from apps.funding.services.common import check, clean_date
from apps.tenancy.models import Membership, Role

MONTHS = {ReportingFrequency.MONTHLY: 1, ReportingFrequency.QUARTERLY: 3, ReportingFrequency.YEARLY: 12}
MAX_PERIODS = 120
OVERDUE_EVERY_DAYS = 7
OPEN_PERIOD_STATUSES = (PeriodStatus.DUE, PeriodStatus.RETURNED)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    # The grant's start day, or the month's last day where the month is shorter.
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def schedule_periods(*, start: dt.date, end: dt.date, frequency: str, due_days: int) -> list[tuple]:
    """(start, end, due date) of each period from `start` to `end`: whole months from the start day; the last
    period ends with the grant."""
    months = MONTHS[frequency]
    periods, cursor, index = [], start, 1
    while cursor <= end:
        following = _add_months(start, months * index)
        period_end = min(following - dt.timedelta(days=1), end)
        periods.append((cursor, period_end, period_end + dt.timedelta(days=due_days)))
        cursor, index = following, index + 1
    return periods


def _custom_periods(periods, *, grant: Grant, due_days: int) -> list[tuple]:
    if not isinstance(periods, list) or not periods:
        raise ValidationFailed.for_field("periods", "A custom schedule lists its periods: [{start, end, due_date}].")
    cleaned = []
    for index, entry in enumerate(periods):
        if not isinstance(entry, dict):
            raise ValidationFailed.for_field(f"periods.{index}", "Give an object with start and end.")
        start = clean_date(entry.get("start"), field=f"periods.{index}.start")
        end = clean_date(entry.get("end"), field=f"periods.{index}.end")
        if end < start:
            raise ValidationFailed.for_field(f"periods.{index}.end", "The period ends before it starts.")
        if not (grant.period_start <= start and end <= grant.period_end):
            raise ValidationFailed.for_field(f"periods.{index}", "Periods lie within the grant's period.")
        due = entry.get("due_date")
        due = clean_date(due, field=f"periods.{index}.due_date") if due else end + dt.timedelta(days=due_days)
        if due < end:
            raise ValidationFailed.for_field(f"periods.{index}.due_date", "A report falls due after its period.")
        cleaned.append((start, end, due))
    cleaned.sort()
    for (_, previous_end, _), (start, _, _) in itertools.pairwise(cleaned):
        if start <= previous_end:
            raise ValidationFailed.for_field("periods", "Periods must not overlap.")
    return cleaned


def reporting_schedule_set(
    *, grant: Grant, by, frequency: str, due_days: int = 30, periods: list | None = None
) -> list[ReportingPeriod]:
    """Creates the grant's reporting periods. Periods already there are kept as they are (their reports are on
    record); a period starting on a day that already has one is not created twice."""
    check(can_manage_budget, by, grant.organization)
    if frequency not in ReportingFrequency.values:
        raise ValidationFailed.for_field("frequency", f"Choose one of: {', '.join(ReportingFrequency.values)}.")
    if isinstance(due_days, bool) or not isinstance(due_days, int) or not 0 <= due_days <= 365:
        raise ValidationFailed.for_field("due_days", "A whole number of days from 0 to 365.")
    if frequency == ReportingFrequency.CUSTOM:
        wanted = _custom_periods(periods, grant=grant, due_days=due_days)
    else:
        if periods:
            raise ValidationFailed.for_field("periods", "Periods are listed only for a custom schedule.")
        wanted = schedule_periods(
            start=grant.period_start, end=grant.period_end, frequency=frequency, due_days=due_days
        )
    if len(wanted) > MAX_PERIODS:
        raise ValidationFailed.for_field("frequency", f"At most {MAX_PERIODS} periods per grant.")
    with transaction.atomic():
        grant = Grant.objects.select_for_update().get(pk=grant.pk)
        if grant.status in (GrantStatus.REJECTED, GrantStatus.CLOSED):
            raise Conflict(f"This grant is {grant.status}: it has no reports to schedule.")
        existing = set(grant.reporting_periods.values_list("start", flat=True))
        created = ReportingPeriod.objects.bulk_create(
            [
                ReportingPeriod(
                    organization=grant.organization,
                    grant=grant,
                    frequency=frequency,
                    start=start,
                    end=end,
                    due_date=due,
                )
                for start, end, due in wanted
                if start not in existing
            ]
        )
        audit_record(
            action="reporting.schedule_set",
            actor=by,
            organization=grant.organization,
            obj=grant,
            after={
                "frequency": frequency,
                "due_days": due_days,
                "periods": [[p.start, p.end, p.due_date] for p in created],
            },
        )
    return created


def period_report_submit(*, period: ReportingPeriod, by, narrative: str = "") -> ReportingPeriod:
    if len(narrative or "") > 50_000:
        raise ValidationFailed.for_field("narrative", "At most 50000 characters.")
    return REPORTING_PERIODS.run(period, "submit", by=by, narrative=narrative)


def period_report_act(*, period: ReportingPeriod, by, action: str, reason: str = "") -> ReportingPeriod:
    """The funder's decision by the action's name (the dashboard's action buttons): approve or return."""
    if action == "submit":
        raise ValidationFailed.for_field("action", "A report is submitted with its narrative.")
    return REPORTING_PERIODS.run(period, REPORTING_PERIODS.person_action(action).name, by=by, reason=reason)


def period_report_approve(*, period: ReportingPeriod, by, note: str = "") -> ReportingPeriod:
    return REPORTING_PERIODS.run(period, "approve", by=by, reason=note)


def period_report_return(*, period: ReportingPeriod, by, reason: str) -> ReportingPeriod:
    return REPORTING_PERIODS.run(period, "return", by=by, reason=reason)


def period_attachment_add(*, period: ReportingPeriod, by, upload) -> PeriodAttachment:
    """A file for the period's report, checked by the upload service; only while the report can still change."""
    check(can_submit_period_report, by, period.organization)
    if period.status not in OPEN_PERIOD_STATUSES:
        raise Conflict(
            f"The report is {period.get_status_display().lower()}: attachments are added before it is "
            "submitted (or after it is returned)."
        )
    checked = evidence_check(upload)
    attachment = PeriodAttachment(
        period=period,
        original_name=checked.original_name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by=by,
    )
    with transaction.atomic():
        attachment.file.save(attachment.id.hex, upload, save=False)
        try:
            attachment.save(force_insert=True)
            audit_record(
                action="reporting.attachment_added",
                actor=by,
                organization=period.organization,
                obj=period,
                after={"file": attachment.original_name, "sha256": attachment.sha256, "size": attachment.size},
            )
        except Exception:
            attachment.file.delete(save=False)
            raise
    return attachment


# --- reminders --------------------------------------------------------------------------------------------------


def _recipients(period: ReportingPeriod) -> list[str]:
    owner = period.grant.owner
    if owner is not None and owner.email:
        return [owner.email]
    emails = Membership.objects.filter(
        organization=period.organization, role__in=[Role.OWNER, Role.FINANCE]
    ).values_list("user__email", flat=True)
    return sorted({email for email in emails if email})


def _reminder_kind(period: ReportingPeriod, today: dt.date) -> str | None:
    """Coming due: once, within REMINDER_DAYS_AHEAD days of the due date. Overdue: on the day after, then weekly."""
    if period.due_date >= today:
        if (period.due_date - today).days > settings.REMINDER_DAYS_AHEAD:
            return None
        already = period.reminders.filter(kind=ReminderKind.UPCOMING).exists()
        return None if already else ReminderKind.UPCOMING
    last = period.reminders.filter(kind=ReminderKind.OVERDUE).order_by("-sent_on").first()
    if last is not None and (today - last.sent_on).days < OVERDUE_EVERY_DAYS:
        return None
    return ReminderKind.OVERDUE


def period_reminders_write(*, today: dt.date | None = None) -> list[PeriodReminder]:
    """The beat task's first half: a reminder row for each open period that needs one today (the row is the
    record, and its unique day keeps two runs from writing twice)."""
    today = today or timezone.localdate()
    horizon = today + dt.timedelta(days=settings.REMINDER_DAYS_AHEAD)
    written = []
    periods = ReportingPeriod.objects.filter(status__in=OPEN_PERIOD_STATUSES, due_date__lte=horizon).select_related(
        "grant__owner", "organization"
    )
    for period in periods:
        kind = _reminder_kind(period, today)
        if kind is None:
            continue
        days = (period.due_date - today).days
        when = f"due in {days} day(s), on {period.due_date}" if days >= 0 else f"OVERDUE by {-days} day(s)"
        state = "returned with comments" if period.status == PeriodStatus.RETURNED else "not submitted"
        try:
            with transaction.atomic():
                written.append(
                    PeriodReminder.objects.create(
                        period=period,
                        kind=kind,
                        sent_on=today,
                        recipients=_recipients(period),
                        subject=f"[govtrack] Report {'overdue' if days < 0 else 'coming due'}: {period.grant.title} "
                        f"{period.start}..{period.end}",
                        body=f"The report for '{period.grant.title}', period {period.start} to {period.end}, is "
                        f"{when}. It is {state}.",
                    )
                )
        except IntegrityError:
            continue  # another run wrote today's reminder first
    return written


def period_reminders_deliver() -> int:
    """The second half, after the rows committed: sends each reminder not delivered yet, once."""
    sent = 0
    for reminder in PeriodReminder.objects.filter(delivered_at__isnull=True).order_by("created_at"):
        with transaction.atomic():
            locked = (
                PeriodReminder.objects.select_for_update(skip_locked=True)
                .filter(pk=reminder.pk, delivered_at__isnull=True)
                .first()
            )
            if locked is None:
                continue
            if locked.recipients:
                send_mail(locked.subject, locked.body, settings.DEFAULT_FROM_EMAIL, locked.recipients)
                sent += 1
            locked.delivered_at = timezone.now()
            locked.save(update_fields=["delivered_at", "updated_at"])
    return sent
