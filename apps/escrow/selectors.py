"""Reads of escrow data for a user: scoped to the user's organizations, with what the API and admin show loaded."""

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet

from apps.core.errors import NotFound
from apps.escrow.models import ChainTx, EscrowAgreement, EscrowContract, EscrowMilestone, EscrowToken
from apps.tenancy.scoping import get_scoped, scope_to_user

AGREEMENT_RELATED = ("token", "grant", "investment")
MILESTONE_RELATED = ("agreement", "milestone")


def _with_paused(agreements: QuerySet) -> QuerySet:
    """`contract_paused`: the agreement's contract is paused by its owner (as the indexer last recorded it)."""
    paused = EscrowContract.objects.filter(
        chain_id=OuterRef("chain_id"), address=OuterRef("contract_address"), paused=True
    )
    return agreements.annotate(contract_paused=Exists(paused))


def agreement_list(*, user) -> QuerySet:
    return scope_to_user(
        _with_paused(
            EscrowAgreement.objects.select_related(*AGREEMENT_RELATED).prefetch_related("milestones__milestone")
        ),
        user=user,
    )


def agreement_get(*, user, pk) -> EscrowAgreement:
    return get_scoped(
        _with_paused(
            EscrowAgreement.objects.select_related(*AGREEMENT_RELATED, "organization").prefetch_related(
                "milestones__milestone"
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


def chain_tx_list(*, user) -> QuerySet:
    """Transactions of the user's organizations (deployments belong to none: they are the operator's)."""
    return scope_to_user(ChainTx.objects.select_related("escrow_milestone"), user=user)


def chain_tx_get(*, user, pk) -> ChainTx:
    return get_scoped(ChainTx.objects.select_related("escrow_milestone", "organization"), user=user, pk=pk)


def token_list() -> QuerySet:
    """Accepted stablecoins are the operator's, shared by every organization."""
    return EscrowToken.objects.all()


def token_get(*, pk) -> EscrowToken:
    try:
        return EscrowToken.objects.get(pk=pk)
    except (EscrowToken.DoesNotExist, ValidationError, ValueError):
        raise NotFound("Token not found.") from None


def escrow_held_attach(parents: list) -> None:
    """FUNDING_BRIEF_HOOKS: sets `escrowed` on each grant (or investment) of a page: what the contract holds for
    it now (deposited, neither withdrawn nor refunded), in currency units, in one query."""
    from decimal import Decimal

    from django.db.models import Sum

    from apps.escrow.models import AgreementStatus, EscrowMilestone, OnchainMilestoneStatus
    from apps.funding.models import Grant

    if not parents:
        return
    key = "agreement__grant_id" if isinstance(parents[0], Grant) else "agreement__investment_id"
    rows = (
        EscrowMilestone.objects.filter(
            **{f"{key}__in": [parent.pk for parent in parents]},
            agreement__status__in=(AgreementStatus.ACTIVE, AgreementStatus.SETTLED),
        )
        .exclude(
            onchain_status__in=(
                OnchainMilestoneStatus.NONE,
                OnchainMilestoneStatus.REFUNDED,
                OnchainMilestoneStatus.CANCELLED,
            )
        )
        .values(key, "agreement__token_decimals")
        .annotate(held=Sum("amount_base_units"), withdrawn=Sum("withdrawn_base_units"))
        .order_by()
    )
    held: dict = {}
    for row in rows:
        units = Decimal((row["held"] or 0) - (row["withdrawn"] or 0)) / Decimal(10) ** row["agreement__token_decimals"]
        held[row[key]] = held.get(row[key], Decimal(0)) + units
    for parent in parents:
        parent.escrowed = held.get(parent.pk, Decimal(0))
