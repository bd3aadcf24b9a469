"""Reads of escrow data for a user: scoped to the user's organizations, with what the API and admin show loaded."""

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet

from apps.core.errors import Conflict, NotFound
from apps.escrow.models import (
    ApproverKind,
    ChainEvent,
    ChainTx,
    EscrowAgreement,
    EscrowApprover,
    EscrowContract,
    EscrowMilestone,
    EscrowToken,
)
from apps.tenancy.scoping import get_scoped, scope_to_user

AGREEMENT_RELATED = ("token", "grant", "investment")
MILESTONE_RELATED = ("agreement", "milestone")


def _with_paused(agreements: QuerySet) -> QuerySet:
    """`contract_paused`: the agreement's contract is paused by its owner (as the indexer last recorded it)."""
    paused = EscrowContract.objects.filter(
        chain_id=OuterRef("chain_id"), address=OuterRef("contract_address"), paused=True
    )
    return agreements.annotate(contract_paused=Exists(paused))


AGREEMENT_PREFETCH = ("milestones__milestone", "approver_rows")


def agreement_list(*, user) -> QuerySet:
    return scope_to_user(
        _with_paused(EscrowAgreement.objects.select_related(*AGREEMENT_RELATED).prefetch_related(*AGREEMENT_PREFETCH)),
        user=user,
    )


def agreement_get(*, user, pk) -> EscrowAgreement:
    return get_scoped(
        _with_paused(
            EscrowAgreement.objects.select_related(*AGREEMENT_RELATED, "organization").prefetch_related(
                *AGREEMENT_PREFETCH
            )
        ),
        user=user,
        pk=pk,
    )


def escrow_milestone_list(*, user) -> QuerySet:
    return scope_to_user(
        EscrowMilestone.objects.select_related(*MILESTONE_RELATED), user=user, org_field="agreement__organization"
    )


def escrow_milestone_get(*, user, pk) -> EscrowMilestone:
    return get_scoped(
        EscrowMilestone.objects.select_related(*MILESTONE_RELATED, "agreement__organization"),
        user=user,
        org_field="agreement__organization",
        pk=pk,
    )


def attestations_of(agreement: EscrowAgreement) -> list[dict]:
    """Every Attested event of the agreement on the canonical chain, oldest first: who attested (address and
    kind), the transaction and block, the hash attested and whether it is govtrack's report hash. `confirmed`:
    applied by the indexer (deep enough); an unconfirmed one is shown too."""
    if agreement.onchain_id is None:
        return []
    kinds = {a.address: a.get_kind_display() for a in agreement.approver_rows.all()}
    kind_codes = {a.address: a.kind for a in agreement.approver_rows.all()}
    milestones = {m.index: m for m in agreement.milestones.all()}
    events = ChainEvent.objects.filter(
        chain_id=agreement.chain_id,
        contract_address=agreement.contract_address,
        agreement_onchain_id=agreement.onchain_id,
        name="Attested",
        removed=False,
    ).order_by("block_number", "log_index")
    rows = []
    for event in events:
        index = int(event.args["milestoneIndex"])
        approver = event.args["approver"]
        ours = milestones[index].evidence_hash if index in milestones else ""
        rows.append(
            {
                "escrow_milestone": str(milestones[index].pk) if index in milestones else None,
                "milestone_index": index,
                "approver": approver,
                "approver_kind": kind_codes.get(approver, ""),
                "approver_kind_label": kinds.get(approver, "Not an approver govtrack knows"),
                "evidence_hash": event.args["evidenceHash"],
                "matches_report": bool(ours) and event.args["evidenceHash"].lower() == ours.lower(),
                "approvals": int(event.args["approvals"]),
                "tx_hash": event.tx_hash,
                "block_number": event.block_number,
                "block_timestamp": event.block_timestamp,
                "confirmed": event.applied,
            }
        )
    return rows


def safe_transaction_get(*, user, escrow_milestone_pk, safe: str) -> dict:
    """The Safe transaction the owners of `safe` (an approver of the milestone's agreement) sign to attest the
    milestone with govtrack's report hash; 404 when the Safe is not an approver, 409 while there is nothing to sign."""
    escrow_milestone = escrow_milestone_get(user=user, pk=escrow_milestone_pk)
    approver = (
        EscrowApprover.objects.filter(agreement_id=escrow_milestone.agreement_id, kind=ApproverKind.SAFE)
        .filter(address__iexact=safe)
        .first()
    )
    if approver is None:
        raise NotFound(f"{safe} is not a Safe approver of this agreement.")
    return safe_transaction_for(escrow_milestone=escrow_milestone, approver=approver)


def safe_transaction_for(
    *, escrow_milestone: EscrowMilestone, approver: EscrowApprover, attestations: list[dict] | None = None, rpc=None
) -> dict:
    """The Safe transaction that attests `escrow_milestone` with govtrack's report hash from the Safe `approver`:
    to the escrow contract, value 0, the `attest` call data, operation 0 (call), the Safe's current nonce, no gas
    refund, and its safeTxHash (computed per EIP-712 and the same as the Safe's own getTransactionHash, or not
    shown). Conflict while there is nothing to sign yet (or any more)."""
    from apps.escrow import chain, safe
    from apps.escrow.models import OnchainMilestoneStatus

    agreement = escrow_milestone.agreement
    if agreement.onchain_id is None:
        raise Conflict("The agreement is not on chain yet: there is nothing to attest.")
    if escrow_milestone.onchain_status != OnchainMilestoneStatus.PENDING:
        raise Conflict(
            f"The milestone is {escrow_milestone.get_onchain_status_display().lower()} on chain: nothing to sign."
        )
    if not escrow_milestone.evidence_hash:
        raise Conflict(
            "govtrack has no report hash for this milestone yet: the Safe transaction exists once the milestone is "
            "verified and its release approved."
        )
    if attestations is None:
        attestations = attestations_of(agreement)
    done = next(
        (
            a
            for a in attestations
            if a["approver"] == approver.address and a["milestone_index"] == escrow_milestone.index
        ),
        None,
    )
    if done is not None:
        raise Conflict(
            f"This Safe attested the milestone in transaction {done['tx_hash']} (block {done['block_number']}).",
            {"tx_hash": done["tx_hash"]},
        )
    data = chain.encode_call(
        "MilestoneEscrow",
        "attest",
        [agreement.onchain_id, escrow_milestone.index, bytes.fromhex(escrow_milestone.evidence_hash[2:])],
    )
    try:
        rpc = rpc or chain.Rpc()
        nonce = int(safe.safe_call(rpc, approver.address, "nonce"))
        typed_data = safe.safe_tx_typed_data(
            chain_id=agreement.chain_id, safe=approver.address, to=agreement.contract_address, data=data, nonce=nonce
        )
        safe_tx_hash = safe.safe_tx_hash(typed_data)
        onchain_hash = safe.safe_tx_hash_onchain(rpc, typed_data)
    except chain.ChainError as exc:
        raise Conflict(
            f"The chain node could not be asked for the Safe's nonce: {str(exc)[:200]}", {"safe": approver.address}
        ) from None
    if onchain_hash != safe_tx_hash:
        raise Conflict(
            f"The Safe computes {onchain_hash} for this transaction, govtrack {safe_tx_hash}: not shown.",
            {"safe": approver.address},
        )
    message = typed_data["message"]
    return {
        "safe": approver.address,
        "safe_threshold": approver.safe_threshold,
        "safe_owners": approver.safe_owners,
        "chain_id": agreement.chain_id,
        "escrow_milestone": str(escrow_milestone.pk),
        "evidence_hash": escrow_milestone.evidence_hash,
        "to": message["to"],
        "value": "0",
        "data": data,
        "operation": message["operation"],
        "safe_tx_gas": "0",
        "base_gas": "0",
        "gas_price": "0",
        "gas_token": message["gasToken"],
        "refund_receiver": message["refundReceiver"],
        "nonce": nonce,
        "safe_tx_hash": safe_tx_hash,
        "typed_data": typed_data,
    }


def escrow_overview(*, parent) -> list[dict]:
    """For the grant or investment page: each escrow agreement of `parent` with its approvers (a Safe's owners and
    threshold), binding conflicts, every attestation, and per milestone its on-chain state and, for each Safe
    approver, the Safe transaction its owners sign (or why there is none). Each agreement carries `contract_paused`.
    """
    from apps.core.errors import ApplicationError
    from apps.escrow.models import OnchainMilestoneStatus
    from apps.escrow.services.agreements import from_base_units

    key = "grant" if parent._meta.model_name == "grant" else "investment"
    agreements = (
        _with_paused(EscrowAgreement.objects.filter(**{key: parent}))
        .select_related("token")
        .prefetch_related("approver_rows", "milestones__milestone")
        .order_by("created_at")
    )
    overview = []
    for agreement in agreements:
        approvers = list(agreement.approver_rows.all())
        safes = [a for a in approvers if a.kind == ApproverKind.SAFE]
        attestations = attestations_of(agreement)
        milestones = []
        for escrow_milestone in agreement.milestones.all():
            safe_txs = []
            if escrow_milestone.onchain_status == OnchainMilestoneStatus.PENDING and escrow_milestone.evidence_hash:
                for approver in safes:
                    try:
                        tx = safe_transaction_for(
                            escrow_milestone=escrow_milestone, approver=approver, attestations=attestations
                        )
                        safe_txs.append({"approver": approver, "tx": tx})
                    except ApplicationError as exc:
                        safe_txs.append({"approver": approver, "unavailable": exc.message})
            milestones.append(
                {
                    "row": escrow_milestone,
                    "milestone": escrow_milestone.milestone,
                    "safe_txs": safe_txs,
                    "withdrawn": from_base_units(int(escrow_milestone.withdrawn_base_units), agreement.token_decimals),
                    "attestations": [a for a in attestations if a["milestone_index"] == escrow_milestone.index],
                }
            )
        overview.append(
            {"agreement": agreement, "approvers": approvers, "milestones": milestones, "attestations": attestations}
        )
    return overview


def chain_tx_list(*, user) -> QuerySet:
    """Transactions of the user's organizations (deployments belong to none: they are the operator's)."""
    return scope_to_user(ChainTx.objects.select_related("escrow_milestone"), user=user)


def chain_tx_get(*, user, pk) -> ChainTx:
    return get_scoped(ChainTx.objects.select_related("escrow_milestone", "organization"), user=user, pk=pk)


def token_list() -> QuerySet:
    """Accepted stablecoins are the operator's, shared by every organization."""
    return EscrowToken.objects.all()


def tokens_for(*, parent) -> list[EscrowToken]:
    """The stablecoins an agreement of a grant or an investment may hold: the operator's, in its currency."""
    return list(EscrowToken.objects.filter(currency=parent.currency).order_by("symbol"))


def token_get(*, pk) -> EscrowToken:
    try:
        return EscrowToken.objects.get(pk=pk)
    except (EscrowToken.DoesNotExist, ValidationError, ValueError):
        raise NotFound("Token not found.") from None


def escrow_held(*, milestones: QuerySet, per: str) -> dict:
    """What the contract holds now of these escrow milestones, summed per `per` (a field path from EscrowMilestone,
    e.g. the agreement's currency or grant), in currency units (base units / 10**decimals), in one query: the
    milestones deposited (the agreement active or settled, the milestone on chain) and neither refunded nor
    cancelled, less what was withdrawn of them. The overview's totals and each grant's and investment's figure
    are both read here."""
    from decimal import Decimal

    from django.db.models import Sum

    from apps.escrow.models import AgreementStatus, OnchainMilestoneStatus

    rows = (
        milestones.filter(agreement__status__in=(AgreementStatus.ACTIVE, AgreementStatus.SETTLED))
        .exclude(
            onchain_status__in=(
                OnchainMilestoneStatus.NONE,
                OnchainMilestoneStatus.REFUNDED,
                OnchainMilestoneStatus.CANCELLED,
            )
        )
        .values(per, "agreement__token_decimals")
        .annotate(held=Sum("amount_base_units"), withdrawn=Sum("withdrawn_base_units"))
        .order_by()
    )
    held: dict = {}
    for row in rows:
        units = Decimal((row["held"] or 0) - (row["withdrawn"] or 0)) / Decimal(10) ** row["agreement__token_decimals"]
        held[row[per]] = held.get(row[per], Decimal(0)) + units
    return held


def escrow_held_attach(parents: list) -> None:
    """FUNDING_BRIEF_HOOKS: sets `escrowed` on each grant (or investment) of a page: what the contract holds for
    it now (`escrow_held`), in one query."""
    from decimal import Decimal

    from apps.funding.models import Grant

    if not parents:
        return
    key = "agreement__grant_id" if isinstance(parents[0], Grant) else "agreement__investment_id"
    held = escrow_held(milestones=EscrowMilestone.objects.filter(**{f"{key}__in": [p.pk for p in parents]}), per=key)
    for parent in parents:
        parent.escrowed = held.get(parent.pk, Decimal(0))
