"""Putting a grant's or an investment's milestones in escrow.

Amounts: the token must be a stablecoin denominated in the parent's currency (an EscrowToken row says which
currency a token stands for). A milestone of `amount` (two decimals) is `amount * 10^decimals` base units on
chain, which must be a whole number (a token with fewer than two decimals cannot carry cents). The on-chain
deadline of a milestone is the end of its due date (UTC) plus ESCROW_DEADLINE_GRACE_DAYS: approvers may attest
until then, and anyone may refund after it.

Creation is a pair of outbox rows, the ERC-20 approve of the total and the createAgreement call that spends it,
built from the agreement's own terms; the sender orders the pairs of one token (services/sender.py). A failed
pair is never patched: retrying either row, or re-creating the agreement, queues a fresh pair.
"""

import datetime as dt
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_utils import is_address, to_checksum_address

from apps.audit.services import audit_record
from apps.core.canonical import sha256_hex
from apps.core.errors import Conflict, ValidationFailed
from apps.escrow import chain, permissions
from apps.escrow.models import (
    AgreementStatus,
    ChainTx,
    ChainTxKind,
    ChainTxStatus,
    EscrowAgreement,
    EscrowMilestone,
    EscrowToken,
)
from apps.escrow.services.approvers import MAX_APPROVERS, approvers_check, approvers_record
from apps.escrow.services.outbox import chaintx_enqueue, escrow_address
from apps.escrow.signer import signer_address
from apps.funding.models import Grant, Investment, Milestone, MilestoneStatus
from apps.funding.services.common import check

MAX_MILESTONES = 64  # the contract's MAX_MILESTONES
ESCROWABLE_STATUSES = (
    MilestoneStatus.PLANNED,
    MilestoneStatus.IN_PROGRESS,
    MilestoneStatus.SUBMITTED,
    MilestoneStatus.VERIFIED,
)


def base_units(amount: Decimal, decimals: int, *, field: str = "amount") -> int:
    """`amount` whole tokens as integer base units; refuses an amount the token cannot represent exactly."""
    units = amount * (Decimal(10) ** decimals)
    if units != units.to_integral_value():
        raise ValidationFailed.for_field(field, f"{amount} cannot be expressed in a token of {decimals} decimals.")
    return int(units)


def from_base_units(units: int, decimals: int) -> Decimal:
    return Decimal(units) / (Decimal(10) ** decimals)


def clean_address(value, *, field: str) -> str:
    text = str(value or "").strip()
    if not is_address(text) or int(text, 16) == 0:
        raise ValidationFailed.for_field(field, f"'{value}' is not an Ethereum address (0x and 40 hex digits).")
    return to_checksum_address(text)


def milestone_deadline(milestone: Milestone) -> dt.datetime:
    day_end = dt.datetime.combine(milestone.due_date, dt.time(23, 59, 59), tzinfo=dt.UTC)
    return day_end + dt.timedelta(days=settings.ESCROW_DEADLINE_GRACE_DAYS)


def external_ref_for(agreement_id: uuid.UUID) -> str:
    return "0x" + sha256_hex(f"govtrack:escrow-agreement:{agreement_id}")


def _create_call(agreement: EscrowAgreement, terms: list[tuple[int, dt.datetime]]) -> str:
    """createAgreement's call data from the agreement's terms: (base units, deadline) per milestone, in index order."""
    return chain.encode_call(
        "MilestoneEscrow",
        "createAgreement",
        [
            agreement.beneficiary_address,
            agreement.token_address,
            [units for units, _ in terms],
            [int(deadline.timestamp()) for _, deadline in terms],
            list(agreement.approvers),
            int(agreement.threshold),
            bytes.fromhex(agreement.external_ref[2:]),
        ],
    )


def _creation_enqueue(
    agreement: EscrowAgreement, terms: list[tuple[int, dt.datetime]], *, retry_of: dict | None = None
) -> list[ChainTx]:
    """The approve of exactly the total and the create that spends it; the create names its approve, which the
    sender waits for (a create is only estimated once the allowance it spends is on chain)."""
    retry_of = retry_of or {}
    approve = chaintx_enqueue(
        kind=ChainTxKind.TOKEN_APPROVE,
        to=agreement.token_address,
        params={"spender": agreement.contract_address, "amount": str(int(agreement.total_base_units))},
        organization=agreement.organization,
        agreement=agreement,
        retry_of=retry_of.get(ChainTxKind.TOKEN_APPROVE),
    )
    create = chaintx_enqueue(
        kind=ChainTxKind.CREATE,
        to=agreement.contract_address,
        params={"data": _create_call(agreement, terms), "approve": str(approve.pk)},
        organization=agreement.organization,
        agreement=agreement,
        retry_of=retry_of.get(ChainTxKind.CREATE),
    )
    return [approve, create]


def escrow_agreement_create(
    *,
    parent: Grant | Investment,
    by,
    token: EscrowToken,
    beneficiary_address: str,
    approvers: list[dict] | None = None,
    threshold: int = 1,
    milestones: list[Milestone] | None = None,
) -> EscrowAgreement:
    """Queues the deposit of the parent's milestones into the escrow contract: an ERC-20 allowance and the
    createAgreement call, in the transaction that writes the agreement. The signer is the funder.

    `approvers`: [{"address", "kind"}] with kind `govtrack`, `eoa` or `safe` (services/approvers.py checks them,
    reading a Safe on chain before the transaction opens); left out, govtrack's signer alone approves."""
    organization = parent.organization
    check(permissions.can_manage_escrow, by, organization)
    if token.chain_id != settings.ETH_CHAIN_ID:
        raise ValidationFailed.for_field(
            "token", f"The token is on chain {token.chain_id}, not {settings.ETH_CHAIN_ID}."
        )
    if token.currency != parent.currency:
        raise ValidationFailed.for_field(
            "token",
            f"{token.symbol} stands for {token.currency}; this {parent._meta.verbose_name} is in {parent.currency}.",
        )
    funder = signer_address()
    beneficiary = clean_address(beneficiary_address, field="beneficiary_address")
    if beneficiary == funder:
        raise ValidationFailed.for_field("beneficiary_address", "The beneficiary cannot be the funder (the signer).")
    approver_specs = approvers_check(approvers=approvers, signer=funder)
    approver_list = [a["address"] for a in approver_specs]
    if len(set(approver_list)) != len(approver_list) or not 1 <= len(approver_list) <= MAX_APPROVERS:
        raise ValidationFailed.for_field("approvers", f"1 to {MAX_APPROVERS} distinct addresses.")
    if beneficiary in approver_list:
        raise ValidationFailed.for_field("approvers", "The beneficiary cannot approve its own milestones.")
    if not 1 <= int(threshold) <= len(approver_list):
        raise ValidationFailed.for_field("threshold", f"Between 1 and {len(approver_list)} (the approvers).")
    contract = escrow_address()
    now = timezone.now()

    with transaction.atomic():
        parent = type(parent).objects.select_for_update().get(pk=parent.pk)
        chosen = milestones if milestones is not None else list(parent.milestones.all())
        rows = list(
            Milestone.objects.filter(pk__in=[m.pk for m in chosen], status__in=ESCROWABLE_STATUSES, escrow__isnull=True)
            .filter(**{"grant" if isinstance(parent, Grant) else "investment": parent})
            .order_by("due_date", "created_at")
        )
        if milestones is not None and len(rows) != len({m.pk for m in milestones}):
            raise ValidationFailed.for_field(
                "milestones", "Each milestone must be of this parent, open or verified, and not already in escrow."
            )
        if not rows:
            raise Conflict("No milestone to put in escrow: every milestone is settled or already in escrow.")
        if len(rows) > MAX_MILESTONES:
            raise ValidationFailed.for_field("milestones", f"At most {MAX_MILESTONES} milestones per agreement.")
        terms = []
        for milestone in rows:
            deadline = milestone_deadline(milestone)
            if deadline <= now:
                raise ValidationFailed.for_field(
                    "milestones", f"'{milestone.title}' was due on {milestone.due_date}: its deadline has passed."
                )
            terms.append((milestone, base_units(milestone.amount, token.decimals, field="milestones"), deadline))
        total = sum(units for _, units, _ in terms)
        if total >= 2**96:
            raise ValidationFailed.for_field("milestones", "The total exceeds what the contract holds per agreement.")

        agreement_id = uuid.uuid4()
        external_ref = external_ref_for(agreement_id)
        try:
            agreement = EscrowAgreement.objects.create(
                id=agreement_id,
                organization=organization,
                grant=parent if isinstance(parent, Grant) else None,
                investment=parent if isinstance(parent, Investment) else None,
                chain_id=settings.ETH_CHAIN_ID,
                contract_address=contract,
                external_ref=external_ref,
                funder_address=funder,
                beneficiary_address=beneficiary,
                token=token,
                token_address=token.address,
                token_decimals=token.decimals,
                currency=token.currency,
                total_base_units=total,
                approvers=approver_list,
                threshold=int(threshold),
                created_by=by,
            )
            EscrowMilestone.objects.bulk_create(
                [
                    EscrowMilestone(
                        agreement=agreement, milestone=milestone, index=i, amount_base_units=units, deadline=deadline
                    )
                    for i, (milestone, units, deadline) in enumerate(terms)
                ]
            )
            approvers_record(agreement=agreement, approvers=approver_specs)
        except IntegrityError:
            raise Conflict(
                "One of these milestones was put in escrow at the same time; reload and try again."
            ) from None
        _creation_enqueue(agreement, [(units, deadline) for _, units, deadline in terms])
        audit_record(
            action="escrow.agreement_created",
            actor=by,
            organization=organization,
            obj=agreement,
            after={
                "parent": str(parent.pk),
                "chain_id": settings.ETH_CHAIN_ID,
                "contract": contract,
                "token": token.address,
                "currency": token.currency,
                "total_base_units": str(total),
                "beneficiary": beneficiary,
                "approvers": approver_specs,
                "threshold": int(threshold),
                "milestones": [str(m.pk) for m, _, _ in terms],
                "external_ref": external_ref,
            },
        )
    return agreement


def escrow_token_register(
    *, address: str, symbol: str, decimals: int, currency: str, name: str = "", chain_id: int | None = None
) -> EscrowToken:
    """Operator (manage.py escrow_token_register, the demo seeder): accepts a stablecoin for escrow. Global, not an
    organization's row."""
    from apps.core.money import clean_currency

    address = clean_address(address, field="address")
    currency = clean_currency(currency)
    with transaction.atomic():
        token, created = EscrowToken.objects.get_or_create(
            chain_id=chain_id or settings.ETH_CHAIN_ID,
            address=address,
            defaults={"symbol": symbol, "decimals": decimals, "currency": currency, "name": name},
        )
        if created:
            audit_record(
                action="escrow.token_registered",
                obj=token,
                after={"address": address, "symbol": symbol, "decimals": decimals, "currency": currency},
            )
    return token


def agreement_lock(pk) -> EscrowAgreement | None:
    """Locks an agreement in the documented order (docs/controls.md): its grant or investment, then the agreement.
    What an event does next may take the parent (a withdrawal recorded as a disbursement) or run the milestone
    machine (which takes the parent before the agreement), so the parent must already be held."""
    row = EscrowAgreement.objects.filter(pk=pk).values_list("grant_id", "investment_id").first()
    if row is None:
        return None
    grant_id, investment_id = row
    if grant_id is not None:
        Grant.objects.select_for_update().filter(pk=grant_id).first()
    if investment_id is not None:
        Investment.objects.select_for_update().filter(pk=investment_id).first()
    return EscrowAgreement.objects.select_for_update(of=("self",)).select_related("organization").get(pk=pk)


CREATION_KINDS = (ChainTxKind.TOKEN_APPROVE, ChainTxKind.CREATE)


def escrow_agreement_recreate(*, agreement: EscrowAgreement, by, retried: ChainTx | None = None) -> EscrowAgreement:
    """A way forward for an agreement whose creation failed on chain: a fresh approve and create pair with the same
    terms (the failed transactions stay as history), and the agreement is creating again. Also what the retry of
    a failed approve or create does (`retried`): the allowance a lone create would spend may be gone, so the two
    always go again together."""
    check(permissions.can_manage_escrow, by, agreement.organization)
    with transaction.atomic():
        agreement = agreement_lock(agreement.pk)
        pair = agreement.transactions.filter(kind__in=CREATION_KINDS)
        creates = pair.filter(kind=ChainTxKind.CREATE)
        # Creating, with every create failed: a failure the agreement did not record (rows of older versions).
        stuck = (
            agreement.status == AgreementStatus.CREATING
            and creates.exists()
            and not creates.exclude(status=ChainTxStatus.FAILED).exists()
        )
        if agreement.status != AgreementStatus.FAILED and not stuck:
            raise Conflict(
                f"Only a failed agreement is re-created; this one is {agreement.get_status_display().lower()}.",
                {"status": agreement.status, "allowed_from": [AgreementStatus.FAILED]},
            )
        expired = agreement.milestones.filter(deadline__lte=timezone.now()).select_related("milestone")
        if expired:
            raise Conflict(
                f"'{expired[0].milestone.title}' is past its deadline, so the contract would refuse the agreement: "
                "pay the milestones outside escrow instead (owner and finance together)."
            )
        in_flight = pair.filter(status__in=[ChainTxStatus.SIGNED, ChainTxStatus.SENT]).first()
        if in_flight is not None:
            raise Conflict(
                f"The {in_flight.get_kind_display().lower()} transaction {in_flight.pk} is signed and not mined yet; "
                "wait for its receipt, then try again.",
                {"transaction": str(in_flight.pk), "status": in_flight.status},
            )
        waiting = list(pair.filter(status=ChainTxStatus.PENDING).select_for_update(skip_locked=True))
        if len(waiting) != pair.filter(status=ChainTxStatus.PENDING).count():
            raise Conflict("A transaction of this agreement is being signed right now; try again in a moment.")
        for row in waiting:  # never signed: nothing of it can reach the chain
            row.status, row.next_attempt_at = ChainTxStatus.FAILED, None
            row.last_error = "Not sent: superseded when the agreement was re-created."
            row.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
        last = {kind: pair.filter(kind=kind).order_by("-created_at").first() for kind in CREATION_KINDS}
        terms = [(int(m.amount_base_units), m.deadline) for m in agreement.milestones.order_by("index")]
        fresh = _creation_enqueue(agreement, terms, retry_of=last)
        status_before = agreement.status
        agreement.status = AgreementStatus.CREATING
        agreement.save(update_fields=["status", "updated_at"])
        audit_record(
            action="escrow.agreement_recreated",
            actor=by,
            organization=agreement.organization,
            obj=agreement,
            before={"status": status_before},
            after={"status": AgreementStatus.CREATING, "transactions": [str(tx.pk) for tx in fresh]},
        )
        if retried is not None:
            audit_record(
                action="escrow.transaction_retried",
                actor=by,
                organization=agreement.organization,
                obj=retried,
                before={"status": retried.status, "last_error": retried.last_error},
                after={"retry": str(next(tx.pk for tx in fresh if tx.kind == retried.kind))},
            )
    return agreement
