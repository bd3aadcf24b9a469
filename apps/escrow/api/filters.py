from django_filters import rest_framework as filters

from apps.escrow.models import ChainTx, EscrowAgreement, EscrowMilestone


class AgreementFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=EscrowAgreement._meta.get_field("status").choices)

    class Meta:
        model = EscrowAgreement
        fields = ["organization", "grant", "investment", "status", "currency"]


class EscrowMilestoneFilter(filters.FilterSet):
    onchain_status = filters.MultipleChoiceFilter(choices=EscrowMilestone._meta.get_field("onchain_status").choices)

    class Meta:
        model = EscrowMilestone
        fields = ["agreement", "milestone", "onchain_status"]


class ChainTxFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=ChainTx._meta.get_field("status").choices)
    kind = filters.MultipleChoiceFilter(choices=ChainTx._meta.get_field("kind").choices)
    has_error = filters.BooleanFilter(method="filter_has_error", help_text="Only rows with (or without) an error.")
    milestone = filters.UUIDFilter(field_name="escrow_milestone__milestone", help_text="The funding milestone.")

    class Meta:
        model = ChainTx
        fields = ["organization", "agreement", "escrow_milestone", "status", "kind", "tx_hash"]

    def filter_has_error(self, queryset, name, value):
        return queryset.exclude(last_error="") if value else queryset.filter(last_error="")
