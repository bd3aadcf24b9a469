from django.db.models import Q
from django_filters import rest_framework as filters

from apps.funding.models import Disbursement, Funder, Grant, Investment, KpiReading, Milestone


class FunderFilter(filters.FilterSet):
    class Meta:
        model = Funder
        fields = ["organization", "kind"]


class GrantFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Grant._meta.get_field("status").choices)
    period_ends_before = filters.DateFilter(
        field_name="period_end", lookup_expr="lte", help_text="Period ends on or before this date (inclusive)."
    )
    period_ends_after = filters.DateFilter(
        field_name="period_end", lookup_expr="gte", help_text="Period ends on or after this date (inclusive)."
    )

    class Meta:
        model = Grant
        fields = ["organization", "funder", "currency", "status"]


class InvestmentFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Investment._meta.get_field("status").choices)
    funder = filters.UUIDFilter(field_name="investor", help_text="The funder who invests.")
    investor = filters.UUIDFilter(field_name="investor", help_text="Deprecated: use `funder`.")

    class Meta:
        model = Investment
        fields = ["organization", "funder", "investor", "currency", "instrument", "status"]


class MilestoneFilter(filters.FilterSet):
    status = filters.MultipleChoiceFilter(choices=Milestone._meta.get_field("status").choices)
    due_before = filters.DateFilter(
        field_name="due_date", lookup_expr="lte", help_text="Due on or before this date (inclusive)."
    )
    due_after = filters.DateFilter(
        field_name="due_date", lookup_expr="gte", help_text="Due on or after this date (inclusive)."
    )
    funder = filters.UUIDFilter(method="filter_funder", help_text="The funder of the grant or investment.")

    class Meta:
        model = Milestone
        fields = ["organization", "grant", "investment", "currency", "status"]

    def filter_funder(self, queryset, name, value):
        return queryset.filter(Q(grant__funder=value) | Q(investment__investor=value))


class DisbursementFilter(filters.FilterSet):
    paid_before = filters.DateFilter(
        field_name="paid_on", lookup_expr="lte", help_text="Paid on or before this date (inclusive)."
    )
    paid_after = filters.DateFilter(
        field_name="paid_on", lookup_expr="gte", help_text="Paid on or after this date (inclusive)."
    )
    grant = filters.UUIDFilter(field_name="milestone__grant")
    investment = filters.UUIDFilter(field_name="milestone__investment")

    class Meta:
        model = Disbursement
        fields = ["organization", "milestone", "currency", "kind"]


class KpiReadingFilter(filters.FilterSet):
    period_after = filters.DateFilter(
        field_name="period_start", lookup_expr="gte", help_text="Period starts on or after this date (inclusive)."
    )
    period_before = filters.DateFilter(
        field_name="period_end", lookup_expr="lte", help_text="Period ends on or before this date (inclusive)."
    )

    class Meta:
        model = KpiReading
        fields = ["organization", "metric", "source"]
