from django.db import IntegrityError, transaction

from apps.audit.services import audit_record, changed_fields, snapshot
from apps.core.errors import ValidationFailed
from apps.funding.models import Funder, FunderContact, FunderKind
from apps.funding.permissions import can_manage_funding
from apps.funding.services.common import check, clean_text

FUNDER_FIELDS = ["name", "kind", "website", "notes"]


def _clean_kind(kind: str) -> str:
    if kind not in FunderKind.values:
        raise ValidationFailed.for_field("kind", f"Choose one of: {', '.join(FunderKind.values)}.")
    return kind


def funder_create(*, organization, by, name: str, kind: str, website: str = "", notes: str = "") -> Funder:
    check(can_manage_funding, by, organization)
    name = clean_text(name, field="name", max_length=200)
    try:
        with transaction.atomic():
            funder = Funder.objects.create(
                organization=organization, name=name, kind=_clean_kind(kind), website=website, notes=notes
            )
            audit_record(
                action="funder.created",
                actor=by,
                organization=organization,
                obj=funder,
                after=snapshot(funder, FUNDER_FIELDS),
            )
    except IntegrityError:
        raise ValidationFailed.for_field("name", f"A funder named '{name}' already exists.") from None
    return funder


def funder_update(*, funder: Funder, by, **changes) -> Funder:
    check(can_manage_funding, by, funder.organization)
    if "name" in changes:
        changes["name"] = clean_text(changes["name"], field="name", max_length=200)
    if "kind" in changes:
        _clean_kind(changes["kind"])
    try:
        with transaction.atomic():
            before = snapshot(funder, FUNDER_FIELDS)
            for field in FUNDER_FIELDS:
                if field in changes:
                    setattr(funder, field, changes[field])
            funder.save(update_fields=[*FUNDER_FIELDS, "updated_at"])
            old, new = changed_fields(before, snapshot(funder, FUNDER_FIELDS))
            audit_record(
                action="funder.updated", actor=by, organization=funder.organization, obj=funder, before=old, after=new
            )
    except IntegrityError:
        raise ValidationFailed.for_field("name", f"A funder named '{changes.get('name')}' already exists.") from None
    return funder


def funder_contact_add(
    *, funder: Funder, by, name: str, email: str = "", phone: str = "", title: str = ""
) -> FunderContact:
    check(can_manage_funding, by, funder.organization)
    name = clean_text(name, field="name", max_length=200)
    with transaction.atomic():
        contact = FunderContact.objects.create(funder=funder, name=name, email=email, phone=phone, title=title)
        audit_record(
            action="funder.contact_added",
            actor=by,
            organization=funder.organization,
            obj=funder,
            after={"contact": name, "email": email},
        )
    return contact
