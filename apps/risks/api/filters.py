"""The risks API's list filters."""

from django_filters import rest_framework as filters

from apps.risks.models import (
    KeyRiskIndicator,
    Mitigation,
    Risk,
    RiskMatrix,
    RiskRegister,
)


class OrganizationFilter(filters.FilterSet):
    organization = filters.UUIDFilter(field_name="organization_id")


class RiskMatrixFilter(OrganizationFilter):
    class Meta:
        model = RiskMatrix
        fields = ["organization"]


class RiskRegisterFilter(OrganizationFilter):
    class Meta:
        model = RiskRegister
        fields = ["organization", "program"]


class RiskFilter(OrganizationFilter):
    register = filters.UUIDFilter(field_name="register_id")
    owner = filters.CharFilter(field_name="owner__username")
    flagged = filters.BooleanFilter(field_name="flagged_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Risk
        fields = ["organization", "register", "category", "status", "treatment", "owner", "flagged"]


class MitigationFilter(filters.FilterSet):
    risk = filters.UUIDFilter(field_name="risk_id")

    class Meta:
        model = Mitigation
        fields = ["risk", "status"]


class KeyRiskIndicatorFilter(OrganizationFilter):
    risk = filters.UUIDFilter(field_name="risk_id")

    class Meta:
        model = KeyRiskIndicator
        fields = ["organization", "risk", "source", "state"]
