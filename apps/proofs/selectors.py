"""Reading proof links: the organization's own (scoped), and one page's proof by its token (no account)."""

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from apps.core.errors import ApplicationError, NotFound
from apps.proofs.models import ProofLink
from apps.tenancy.scoping import get_scoped, scope_to_user


class Gone(ApplicationError):
    status_code = 410


def proof_link_list(*, user) -> QuerySet:
    return scope_to_user(ProofLink.objects.select_related("milestone", "created_by", "revoked_by"), user=user)


def proof_link_get(*, user, pk) -> ProofLink:
    return get_scoped(ProofLink.objects.select_related("milestone", "organization"), user=user, pk=pk)


def proof_link_by_token(*, token: str) -> ProofLink:
    """The link a token names: NotFound for an unknown token, Gone for a revoked one."""
    link = (
        ProofLink.objects.select_related("organization", "milestone__grant__funder", "milestone__investment__investor")
        .filter(token=token)
        .first()
    )
    if link is None:
        raise NotFound("No proof at this address.")
    if link.revoked_at is not None:
        raise Gone("This proof link was revoked by the organization that shared it.")
    return link


def proof_url(link: ProofLink) -> str:
    """The link as printed: PUBLIC_BASE_URL + the page's path (the path alone when no public address is set)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("proof-page", kwargs={"token": link.token})


def proof_links_of_released(*, user, milestones) -> list[dict]:
    """For a grant or investment page: each released milestone with its active links (the user's organizations)."""
    released = [m for m in milestones if m.status == "released"]
    # One query whatever the statuses (the page's query count stays the same as milestones are released).
    links = proof_link_list(user=user).filter(
        milestone_id__in=[m.pk for m in milestones], milestone__status="released", revoked_at=None
    )
    by_milestone = {}
    for link in links.order_by("created_at"):
        by_milestone.setdefault(link.milestone_id, []).append({"link": link, "url": proof_url(link)})
    return [{"milestone": m, "links": by_milestone.get(m.pk, [])} for m in released]


def proof_links_active_by_milestone(*, milestone_ids: list) -> dict:
    """The newest active link of each milestone (what a grant report prints), by milestone id."""
    newest = {}
    for link in ProofLink.objects.filter(milestone_id__in=milestone_ids, revoked_at=None).order_by("created_at"):
        newest[link.milestone_id] = link
    return newest


def _verification_report(milestone, evidence_hash: str):
    from apps.compute.models import VerificationReport

    reports = VerificationReport.objects.filter(milestone=milestone, passed=True).order_by("-created_at")
    if evidence_hash.startswith("0x") and len(evidence_hash) == 66:
        exact = reports.filter(sha256=evidence_hash[2:].lower()).first()
        if exact is not None:
            return exact, True
    return reports.first(), False


def _chain_proof(milestone) -> dict | None:
    """What the chain says about the milestone: the attestation that approved it and its MilestoneApproved log."""
    from apps.escrow.models import ChainEvent, ChainTx, ChainTxKind, ChainTxStatus, EscrowMilestone

    escrow = EscrowMilestone.objects.filter(milestone=milestone).select_related("agreement").first()
    if escrow is None:
        return None
    agreement = escrow.agreement
    approved = None
    if agreement.onchain_id is not None:
        events = ChainEvent.objects.filter(
            chain_id=agreement.chain_id,
            contract_address=agreement.contract_address,
            agreement_onchain_id=agreement.onchain_id,
            name="MilestoneApproved",
            removed=False,
        ).order_by("block_number", "log_index")
        approved = next((e for e in events if int(e.args.get("index", -1)) == escrow.index), None)
    attestation = (
        ChainTx.objects.filter(
            escrow_milestone=escrow,
            kind=ChainTxKind.ATTEST,
            status__in=[ChainTxStatus.MINED, ChainTxStatus.CONFIRMED],
        )
        .order_by("block_number")
        .last()
    )
    return {
        "chain_id": agreement.chain_id,
        "contract_address": agreement.contract_address,
        "agreement_onchain_id": agreement.onchain_id,
        "milestone_index": escrow.index,
        "onchain_status": escrow.get_onchain_status_display(),
        "evidence_hash": escrow.onchain_evidence_hash or escrow.evidence_hash,
        "approved_event": None
        if approved is None
        else {
            "tx_hash": approved.tx_hash,
            "block_number": approved.block_number,
            "block_hash": approved.block_hash,
            "block_timestamp": approved.block_timestamp,
            "log_index": approved.log_index,
        },
        "attestation": None
        if attestation is None
        else {"tx_hash": attestation.tx_hash, "block_number": attestation.block_number, "sender": attestation.sender},
    }


def proof_page_data(*, link: ProofLink) -> dict:
    """Everything the proof page states about the link's one milestone."""
    from apps.escrow.services.attestations import milestone_evidence_hash

    milestone = link.milestone
    chain = _chain_proof(milestone)
    evidence_hash = chain["evidence_hash"] if chain and chain["evidence_hash"] else milestone_evidence_hash(milestone)
    report, report_is_evidence = _verification_report(milestone, evidence_hash)
    parent = milestone.parent
    return {
        "organization": link.organization.name,
        "milestone": milestone,
        "parent_title": parent.title,
        "funder": parent.funder.name if milestone.grant_id else parent.investor.name,
        "evidence_hash": evidence_hash,
        "report": report,
        "report_is_evidence": report_is_evidence,
        "chain": chain,
        "report_data_sha256": link.report_data_sha256,
        "report_generated_at": link.report_generated_at,
    }
