"""Proof links: created and revoked by an owner or finance of the milestone's organization, each audited."""

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict
from apps.funding.models import Milestone, MilestoneStatus
from apps.proofs import permissions
from apps.proofs.models import ProofLink
from apps.tenancy.services import require


def proof_link_create(*, milestone: Milestone, by) -> ProofLink:
    """A new link to the proof page of a released milestone (a milestone may have several, e.g. one per funder or
    auditor, each revoked on its own). The audit event names the link, never its token."""
    with transaction.atomic():
        milestone = Milestone.objects.select_for_update().select_related("organization").get(pk=milestone.pk)
        require(permissions.can_share_proof(by, milestone.organization))
        if milestone.status != MilestoneStatus.RELEASED:
            status = milestone.get_status_display().lower()
            raise Conflict(
                f"Only a released milestone has a proof to share; this one is {status}.",
                {"status": milestone.status},
            )
        link = ProofLink.objects.create(organization=milestone.organization, milestone=milestone, created_by=by)
        audit_record(
            action="milestone.proof_link_created",
            actor=by,
            organization=milestone.organization,
            obj=milestone,
            after={"proof_link": str(link.pk)},
        )
    return link


def proof_link_revoke(*, link: ProofLink, by) -> ProofLink:
    """Revokes a link: its page answers 410 from now on. Revoking a revoked link changes nothing."""
    with transaction.atomic():
        link = ProofLink.objects.select_for_update().select_related("organization").get(pk=link.pk)
        require(permissions.can_share_proof(by, link.organization))
        if link.revoked_at is not None:
            return link
        link.revoked_at, link.revoked_by = timezone.now(), by
        link.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
        audit_record(
            action="milestone.proof_link_revoked",
            actor=by,
            organization=link.organization,
            obj=link.milestone,
            before={"proof_link": str(link.pk), "revoked_at": None},
            after={"proof_link": str(link.pk), "revoked_at": link.revoked_at},
        )
    return link


def proof_links_report_printed(*, links: list[ProofLink], data_sha256: str, generated_at) -> None:
    """A grant report PDF printed these links: each proof page shows that PDF's data hash, so a reader can match
    the PDF in hand with the page (bookkeeping of a report already made, not a change of any record's state)."""
    if links:
        ProofLink.objects.filter(pk__in=[link.pk for link in links]).update(
            report_data_sha256=data_sha256, report_generated_at=generated_at, updated_at=timezone.now()
        )
