"""Putting a grant's or an investment's milestones in escrow from its page (owner, finance): the stablecoin, the
beneficiary, the approvers (govtrack's signer, other accounts, a Safe) and how many must attest. The service
(`escrow_agreement_create`) checks every term and writes the agreement with its token allowance and createAgreement
transactions as outbox rows; they go on chain after commit, and the page shows the agreement as it is mined."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import NotFound, ValidationFailed
from apps.dashboard import forms
from apps.dashboard.context import org_view
from apps.dashboard.views.common import get_or_404, run_service
from apps.dashboard.views.funding import detail_page
from apps.escrow.selectors import token_get, tokens_for
from apps.escrow.services.agreements import escrow_agreement_create
from apps.funding.selectors import grant_get, investment_get


def _create(request, parent):
    form = forms.EscrowAgreementForm(request.POST, tokens=tokens_for(parent=parent))
    status = 400
    if form.is_valid():
        data = form.cleaned_data

        def create():
            try:
                token = token_get(pk=data["token"])
            except NotFound:
                raise ValidationFailed.for_field("token", "Unknown token.") from None
            return escrow_agreement_create(
                parent=parent,
                by=request.user,
                token=token,
                beneficiary_address=data["beneficiary_address"],
                approvers=data["approvers"],
                threshold=data["threshold"],
            )

        agreement, status = run_service(form, create)
        if agreement is not None:
            messages.success(
                request,
                f"Escrow agreement for {agreement.milestones.count()} milestone(s) queued: govtrack's signer sends "
                f"the {agreement.token.symbol} allowance and the agreement to the contract; it shows here once mined.",
            )
            return redirect(reverse(f"dashboard:{parent._meta.model_name}", args=[parent.pk]) + "#escrow-title")
    return detail_page(request, parent, status=status, escrow_form=form)


@require_POST
@org_view
def grant_escrow_create(request, pk):
    return _create(request, get_or_404(request, grant_get, pk=pk))


@require_POST
@org_view
def investment_escrow_create(request, pk):
    return _create(request, get_or_404(request, investment_get, pk=pk))
