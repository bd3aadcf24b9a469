"""Reads of escrow data for a user: scoped to the user's organizations, with what the API and admin show loaded."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from apps.core.errors import NotFound
from apps.escrow.models import ChainTx, EscrowAgreement, EscrowMilestone, EscrowToken
from apps.tenancy.scoping import get_scoped, scope_to_user

AGREEMENT_RELATED = ("token", "grant", "investment")
MILESTONE_RELATED = ("agreement", "milestone")


def agreement_list(*, user) -> QuerySet:
    return scope_to_user(
        EscrowAgreement.objects.select_related(*AGREEMENT_RELATED).prefetch_related("milestones__milestone"),
        user=user,
    )


def agreement_get(*, user, pk) -> EscrowAgreement:
    return get_scoped(
        EscrowAgreement.objects.select_related(*AGREEMENT_RELATED, "organization").prefetch_related(
            "milestones__milestone"
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
