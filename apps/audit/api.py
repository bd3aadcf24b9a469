from django_filters import rest_framework as filters
from rest_framework import mixins, serializers, viewsets

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_list
from apps.core.filtering import UtcIsoDateTimeFilter
from apps.core.pagination import CreatedCursorPagination


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "organization",
            "seq",
            "actor_repr",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "request_id",
            "occurred_at",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields


class AuditEventFilter(filters.FilterSet):
    # A time window is half-open, [after, before), so consecutive windows neither overlap nor leave a gap.
    occurred_after = UtcIsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="Occurred at or after this time (inclusive)."
    )
    occurred_before = UtcIsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="Occurred before this time (exclusive)."
    )

    class Meta:
        model = AuditEvent
        fields = ["organization", "action", "object_type", "object_id"]


class OccurredCursorPagination(CreatedCursorPagination):
    ordering = ("-occurred_at", "-id")


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit trail of your organizations (owner, finance and compliance roles)."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()  # for the schema; requests use the scoped selector
    filterset_class = AuditEventFilter
    pagination_class = OccurredCursorPagination
    filter_backends = [filters.DjangoFilterBackend]  # newest first, always

    def get_queryset(self):
        return audit_event_list(user=self.request.user)
