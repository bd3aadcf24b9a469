"""Risks: open -> treating -> accepted (until an expiry) or closed; scores checked against the register's matrix.

Every change is an audit event, and every change of a score also appends a RiskScoreSnapshot for the charts.
"""

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import Conflict, ValidationFailed
from apps.risks import permissions
from apps.risks.machines import RISKS
from apps.risks.models import (
    SCORE_FIELDS,
    Mitigation,
    MitigationStatus,
    Risk,
    RiskMatrix,
    RiskRegister,
    RiskReview,
    RiskScoreSnapshot,
    RiskStatus,
    Treatment,
)
from apps.tenancy.models import Membership, Organization
from apps.tenancy.services import require

logger = logging.getLogger(__name__)

RISK_EDITABLE = (
    "title",
    "description",
    "category",
    "owner",
    *SCORE_FIELDS,
    "treatment",
    "due_date",
    "review_cadence_days",
    "next_review_on",
)


def member_by_username(organization: Organization, username, *, field: str):
    username = (username or "").strip() if isinstance(username, str) else username
    if not username:
        raise ValidationFailed.for_field(field, "Name a member of the organization (username).")
    membership = (
        Membership.objects.select_related("user").filter(organization=organization, user__username=username).first()
    )
    if membership is None:
        raise ValidationFailed.for_field(field, f"{username} is not a member of {organization.name}.")
    return membership.user


def check_scores(matrix: RiskMatrix, values: dict) -> None:
    """Each likelihood and impact given must lie on the matrix's scale; the error names the field."""
    for name in SCORE_FIELDS:
        if name not in values:
            continue
        value = values[name]
        size = matrix.likelihood_size if name.endswith("likelihood") else matrix.impact_size
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= size:
            raise ValidationFailed.for_field(
                name,
                f"Must be a whole number from 1 to {size} on the register's "
                f"{matrix.likelihood_size}x{matrix.impact_size} matrix '{matrix.name}'.",
            )


def check_risk_values(register: RiskRegister, values: dict) -> None:
    if "title" in values and not (values["title"] or "").strip():
        raise ValidationFailed.for_field("title", "A risk needs a title.")
    if "category" in values and values["category"] not in register.categories:
        raise ValidationFailed.for_field(
            "category", f"'{values['category']}' is not a category of this register: {', '.join(register.categories)}."
        )
    if "treatment" in values and values["treatment"] not in Treatment.values:
        raise ValidationFailed.for_field("treatment", f"Choose one of: {', '.join(Treatment.values)}.")
    if "review_cadence_days" in values and not 1 <= (values["review_cadence_days"] or 0) <= 3660:
        raise ValidationFailed.for_field("review_cadence_days", "Review every 1 to 3660 days.")
    check_scores(register.matrix, values)


def record_snapshot(risk: Risk, *, reason: str, at: dt.datetime | None = None) -> RiskScoreSnapshot:
    return RiskScoreSnapshot.objects.create(
        risk=risk,
        recorded_at=at or timezone.now(),
        reason=reason,
        current_level=risk.register.matrix.level_of(risk.current_likelihood, risk.current_impact) or "",
        **{name: getattr(risk, name) for name in SCORE_FIELDS},
    )


def default_scores(values: dict) -> dict:
    """Current defaults to inherent, and residual to current, when not given."""
    values = dict(values)
    for stage, source in (("current", "inherent"), ("residual", "current")):
        for axis in ("likelihood", "impact"):
            if values.get(f"{stage}_{axis}") is None:
                values[f"{stage}_{axis}"] = values.get(f"{source}_{axis}")
    return values


def next_risk_ref(register: RiskRegister, taken: set[str] = frozenset()) -> str:
    number = register.risks.count() + 1
    while True:
        ref = f"R-{number:03d}"
        if ref not in taken and not register.risks.filter(ref=ref).exists():
            return ref
        number += 1


def risk_create(
    *,
    register: RiskRegister,
    title: str,
    category: str,
    owner: str,
    inherent_likelihood: int,
    inherent_impact: int,
    by,
    current_likelihood: int | None = None,
    current_impact: int | None = None,
    residual_likelihood: int | None = None,
    residual_impact: int | None = None,
    treatment: str = Treatment.MITIGATE,
    description: str = "",
    due_date: dt.date | None = None,
    review_cadence_days: int | None = None,
    ref: str | None = None,
) -> Risk:
    organization = register.organization
    require(permissions.can_create_risk(by, organization))
    values = default_scores(
        {
            "title": (title or "").strip(),
            "description": description,
            "category": category,
            "inherent_likelihood": inherent_likelihood,
            "inherent_impact": inherent_impact,
            "current_likelihood": current_likelihood,
            "current_impact": current_impact,
            "residual_likelihood": residual_likelihood,
            "residual_impact": residual_impact,
            "treatment": treatment,
            "due_date": due_date,
            "review_cadence_days": review_cadence_days or register.review_cadence_days,
        }
    )
    check_risk_values(register, values)
    values["owner"] = member_by_username(organization, owner, field="owner")
    values["next_review_on"] = timezone.localdate() + dt.timedelta(days=values["review_cadence_days"])
    with transaction.atomic():
        ref = (ref or "").strip() or next_risk_ref(register)
        if register.risks.filter(ref=ref).exists():
            raise ValidationFailed.for_field("ref", f"Register '{register.name}' already has a risk {ref}.")
        risk = Risk.objects.create(organization=organization, register=register, ref=ref, **values)
        record_snapshot(risk, reason="created")
        audit_record(
            action="risk.created",
            actor=by,
            organization=organization,
            obj=risk,
            after=snapshot(risk, ["register", "ref", *RISK_EDITABLE, "status"]),
        )
    return risk


def risk_update(*, risk: Risk, by, **changes) -> Risk:
    require(permissions.can_update_risk(by, risk))
    unknown = set(changes) - set(RISK_EDITABLE)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    check_risk_values(risk.register, changes)
    if "owner" in changes:
        changes["owner"] = member_by_username(risk.organization, changes["owner"], field="owner")
    with transaction.atomic():
        locked = Risk.objects.select_for_update().select_related("register__matrix", "organization").get(pk=risk.pk)
        require(permissions.can_update_risk(by, locked))
        if locked.status == RiskStatus.CLOSED:
            raise Conflict(f"Risk {locked.ref} is closed: reopen it to change it.")
        if "owner" in changes and changes["owner"].pk != locked.owner_id:
            require(permissions.can_decide_risk(by, locked))  # handing a risk to someone else is a manager's call
        before = snapshot(locked, RISK_EDITABLE)
        for name, value in changes.items():
            setattr(locked, name, value)
        if "review_cadence_days" in changes and "next_review_on" not in changes:
            base = locked.last_reviewed_at.date() if locked.last_reviewed_at else timezone.localdate()
            locked.next_review_on = base + dt.timedelta(days=locked.review_cadence_days)
        before, after = changed_fields(before, snapshot(locked, RISK_EDITABLE))
        if after:
            locked.save(update_fields=[*RISK_EDITABLE, "updated_at"])
            if any(name in after for name in SCORE_FIELDS):
                record_snapshot(locked, reason="updated")
            audit_record(
                action="risk.updated",
                actor=by,
                organization=locked.organization,
                obj=locked,
                before=before,
                after=after,
            )
    return locked


# --- status machine: every transition runs through apps.risks.machines.RISKS ---------------------------------


def risk_start_treatment(*, risk: Risk, by) -> Risk:
    return RISKS.run(risk, "start_treatment", by=by)


def risk_accept(*, risk: Risk, by, reason: str, expires_on: dt.date) -> Risk:
    """The approver (owner or compliance) accepts the risk as it stands until `expires_on` (at most a year)."""
    return RISKS.run(risk, "accept", by=by, reason=reason, expires_on=expires_on)


def risk_close(*, risk: Risk, by, reason: str = "") -> Risk:
    return RISKS.run(risk, "close", by=by, reason=reason)


def risk_reopen(*, risk: Risk, by, reason: str = "") -> Risk:
    return RISKS.run(risk, "reopen", by=by, reason=reason)


def risk_act(*, risk: Risk, by, action: str, reason: str = "", **params) -> Risk:
    """Runs the person's action `action` of RISKS (the dashboard's entry; the table is the list of actions)."""
    return RISKS.run(risk, RISKS.person_action(action).name, by=by, reason=reason, **params)


def risk_review(
    *, risk: Risk, by, notes: str = "", current_likelihood: int | None = None, current_impact: int | None = None
) -> RiskReview:
    """Records a review (optionally rescoring the current likelihood and impact) and sets the next review date."""
    require(permissions.can_update_risk(by, risk))
    rescore = {
        name: value
        for name, value in (("current_likelihood", current_likelihood), ("current_impact", current_impact))
        if value is not None
    }
    check_scores(risk.register.matrix, rescore)
    with transaction.atomic():
        locked = Risk.objects.select_for_update().select_related("register__matrix", "organization").get(pk=risk.pk)
        require(permissions.can_update_risk(by, locked))
        if locked.status == RiskStatus.CLOSED:
            raise Conflict(f"Risk {locked.ref} is closed: reopen it to review it.")
        names = ["current_likelihood", "current_impact", "next_review_on", "last_reviewed_at"]
        before = snapshot(locked, names)
        for name, value in rescore.items():
            setattr(locked, name, value)
        now = timezone.now()
        locked.last_reviewed_at = now
        locked.next_review_on = timezone.localdate() + dt.timedelta(days=locked.review_cadence_days)
        locked.save(update_fields=[*names, "updated_at"])
        review = RiskReview.objects.create(
            risk=locked, reviewed_by=by, notes=notes, next_review_on=locked.next_review_on
        )
        record_snapshot(locked, reason="reviewed", at=now)
        before, after = changed_fields(before, snapshot(locked, names))
        audit_record(
            action="risk.reviewed",
            actor=by,
            organization=locked.organization,
            obj=locked,
            before=before,
            after=after | {"notes": notes},
        )
    return review


# --- mitigations ------------------------------------------------------------------------------------------------

MITIGATION_EDITABLE = ("title", "owner", "status", "due_date")


def mitigation_create(*, risk: Risk, title: str, owner: str, by, due_date: dt.date | None = None) -> Mitigation:
    require(permissions.can_update_risk(by, risk))
    if not (title or "").strip():
        raise ValidationFailed.for_field("title", "Describe the mitigation.")
    owner_user = member_by_username(risk.organization, owner, field="owner")
    with transaction.atomic():
        mitigation = Mitigation.objects.create(risk=risk, title=title.strip(), owner=owner_user, due_date=due_date)
        audit_record(
            action="mitigation.created",
            actor=by,
            organization=risk.organization,
            obj=mitigation,
            after=snapshot(mitigation, ["risk", *MITIGATION_EDITABLE]),
        )
    return mitigation


def mitigation_update(*, mitigation: Mitigation, by, **changes) -> Mitigation:
    risk = mitigation.risk
    require(permissions.can_update_risk(by, risk))
    unknown = set(changes) - set(MITIGATION_EDITABLE)
    if unknown:
        raise ValidationFailed.for_field(sorted(unknown)[0], "This field cannot be changed here.")
    if "status" in changes and changes["status"] not in MitigationStatus.values:
        raise ValidationFailed.for_field("status", f"Choose one of: {', '.join(MitigationStatus.values)}.")
    if "title" in changes and not (changes["title"] or "").strip():
        raise ValidationFailed.for_field("title", "Describe the mitigation.")
    if "owner" in changes:
        changes["owner"] = member_by_username(risk.organization, changes["owner"], field="owner")
    with transaction.atomic():
        locked = Mitigation.objects.select_for_update().get(pk=mitigation.pk)
        before = snapshot(locked, [*MITIGATION_EDITABLE, "completed_at"])
        for name, value in changes.items():
            setattr(locked, name, value)
        if "status" in changes:
            locked.completed_at = timezone.now() if locked.status == MitigationStatus.DONE else None
        before, after = changed_fields(before, snapshot(locked, [*MITIGATION_EDITABLE, "completed_at"]))
        if after:
            locked.save(update_fields=[*MITIGATION_EDITABLE, "completed_at", "updated_at"])
            audit_record(
                action="mitigation.updated",
                actor=by,
                organization=risk.organization,
                obj=locked,
                before=before,
                after=after,
            )
    return locked


# --- reminders (Celery beat) ------------------------------------------------------------------------------------


def risks_remind(*, today: dt.date | None = None) -> int:
    """Once a day at most per risk: emails the owner of each risk whose review is overdue or whose acceptance
    has expired (the approver too). Expired acceptances stay accepted, flagged, until someone decides."""
    today = today or timezone.localdate()
    due = Q(next_review_on__lt=today) & ~Q(status=RiskStatus.CLOSED)
    expired = Q(status=RiskStatus.ACCEPTED, acceptance_expires_on__lt=today)
    candidates = Risk.objects.filter(due | expired).exclude(last_reminded_on=today)
    sent = 0
    for risk_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            risk = (
                Risk.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("owner", "accepted_by", "organization")
                .filter(due | expired, pk=risk_id)
                .exclude(last_reminded_on=today)
                .first()
            )
            if risk is None:
                continue
            reasons = []
            if risk.status != RiskStatus.CLOSED and risk.next_review_on < today:
                reasons.append(f"its review was due on {risk.next_review_on:%Y-%m-%d}")
            if risk.status == RiskStatus.ACCEPTED and risk.acceptance_expires_on < today:
                reasons.append(f"its acceptance expired on {risk.acceptance_expires_on:%Y-%m-%d}")
            recipients = {u.email for u in (risk.owner, risk.accepted_by) if u is not None and u.email}
            if recipients:
                send_mail(
                    f"[govtrack] Risk {risk.ref} needs attention",
                    f"{risk.organization.name}: risk {risk.ref} '{risk.title}' needs attention: {'; '.join(reasons)}.",
                    settings.DEFAULT_FROM_EMAIL,
                    sorted(recipients),
                )
            risk.last_reminded_on = today
            risk.save(update_fields=["last_reminded_on", "updated_at"])
            audit_record(
                action="risk.reminder_sent",
                organization=risk.organization,
                obj=risk,
                after={"to": sorted(recipients), "reasons": reasons},
            )
            sent += 1
    return sent
