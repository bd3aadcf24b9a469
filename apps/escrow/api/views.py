"""Thin API views: parse, call one service or selector, shape the answer."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api import SelectorViewSetMixin, error_responses, resolve_for_field
from apps.core.errors import NotFound, ValidationFailed
from apps.escrow import selectors
from apps.escrow.api import filters
from apps.escrow.api import serializers as s
from apps.escrow.models import ChainTx, EscrowAgreement, EscrowMilestone, EscrowToken
from apps.escrow.services import agreements, attestations, deadlines, outbox
from apps.funding import selectors as funding_selectors

TRANSITION_ERRORS = error_responses(400, 403, 404, 409)


def _parsed(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class EscrowTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Stablecoins accepted for escrow, with the currency each stands for."""

    queryset = EscrowToken.objects.none()
    serializer_class = s.EscrowTokenSerializer
    filterset_fields = ["chain_id", "currency"]

    def get_queryset(self):
        return self.queryset if getattr(self, "swagger_fake_view", False) else selectors.token_list()


class EscrowAgreementViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Milestones of a grant or an investment held in the escrow contract (created on chain by the outbox)."""

    queryset = EscrowAgreement.objects.none()
    serializer_class = s.EscrowAgreementSerializer
    filterset_class = filters.AgreementFilter
    list_selector, get_selector = selectors.agreement_list, selectors.agreement_get

    @extend_schema(request=s.AgreementInput, responses={201: s.EscrowAgreementSerializer, **TRANSITION_ERRORS})
    def create(self, request):
        data = _parsed(s.AgreementInput, request)
        grant_id, investment_id = data.pop("grant"), data.pop("investment")
        parent = (
            resolve_for_field(funding_selectors.grant_get, request, grant_id, field="grant")
            if grant_id
            else resolve_for_field(funding_selectors.investment_get, request, investment_id, field="investment")
        )
        try:
            token = selectors.token_get(pk=data.pop("token"))
        except NotFound:
            raise ValidationFailed.for_field("token", "Unknown token.") from None
        milestone_ids = data.pop("milestones", None)
        milestones = None
        if milestone_ids is not None:
            milestones = [
                resolve_for_field(funding_selectors.milestone_get, request, pk, field="milestones")
                for pk in milestone_ids
            ]
        agreement = agreements.escrow_agreement_create(
            parent=parent, by=request.user, token=token, milestones=milestones, **data
        )
        fresh = selectors.agreement_get(user=request.user, pk=agreement.pk)
        return Response(s.EscrowAgreementSerializer(fresh).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: s.EscrowAgreementSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def recreate(self, request, pk=None):
        """A failed agreement: fresh approve and create transactions with the same terms; owner or finance."""
        agreement = agreements.escrow_agreement_recreate(agreement=self.get_object(), by=request.user)
        fresh = selectors.agreement_get(user=request.user, pk=agreement.pk)
        return Response(s.EscrowAgreementSerializer(fresh).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: s.AttestationSerializer(many=True), **error_responses(404)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def attestations(self, request, pk=None):
        """Every Attested event of the agreement: approver and its kind, transaction, block, hash attested, and
        whether that hash is govtrack's report hash."""
        rows = selectors.attestations_of(self.get_object())
        return Response(s.AttestationSerializer(rows, many=True).data)


class EscrowMilestoneViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The escrow status of each milestone held on chain."""

    queryset = EscrowMilestone.objects.none()
    serializer_class = s.EscrowMilestoneSerializer
    filterset_class = filters.EscrowMilestoneFilter
    list_selector, get_selector = selectors.escrow_milestone_list, selectors.escrow_milestone_get

    @extend_schema(request=s.RefundInput, responses={202: s.ChainTxSerializer(many=True), **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        """Queues refund + claimRefund (sent once the deadline has passed on chain); owner or finance."""
        txs = attestations.escrow_refund_queue(
            escrow_milestone=self.get_object(), by=request.user, **_parsed(s.RefundInput, request)
        )
        return Response(s.ChainTxSerializer(txs, many=True).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.DeadlineExtensionInput, responses={202: s.ChainTxSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"], url_path="deadline-extension")
    def deadline_extension(self, request, pk=None):
        """Queues govtrack's step of moving the on-chain deadline later (funder and beneficiary together: one
        proposes, the other confirms the same deadline); owner or finance."""
        chain_tx = deadlines.escrow_deadline_extension_queue(
            escrow_milestone=self.get_object(), by=request.user, **_parsed(s.DeadlineExtensionInput, request)
        )
        return Response(s.ChainTxSerializer(chain_tx).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: s.SafeTransactionSerializer, **error_responses(404, 409)})
    @action(detail=True, methods=["get"], url_path=r"safe-transactions/(?P<safe>0x[0-9a-fA-F]{40})")
    def safe_transaction(self, request, pk=None, safe=None):
        """The Safe transaction the owners of the Safe approver `safe` sign to attest this milestone with govtrack's
        report hash (409 while there is nothing to sign: not verified and approved yet, or settled on chain)."""
        data = selectors.safe_transaction_get(user=request.user, escrow_milestone_pk=pk, safe=safe)
        return Response(s.SafeTransactionSerializer(data).data)


class ChainTxViewSet(SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The outbox history: every transaction, its hashes (replaced ones included), status and last error."""

    queryset = ChainTx.objects.none()
    serializer_class = s.ChainTxSerializer
    filterset_class = filters.ChainTxFilter
    list_selector, get_selector = selectors.chain_tx_list, selectors.chain_tx_get

    @extend_schema(request=None, responses={202: s.ChainTxSerializer, **TRANSITION_ERRORS})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Failed: a new transaction with the same intent (a failed approve or create: a fresh approve and create
        pair). Waiting or unmined: tried again now (higher fees)."""
        chain_tx = outbox.chaintx_retry(chain_tx=self.get_object(), by=request.user)
        return Response(s.ChainTxSerializer(chain_tx).data, status=status.HTTP_202_ACCEPTED)
