"""The risks API's serializers: what its operations take and answer."""

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from apps.compliance.api.serializers import username_of
from apps.core.api import ActionStateSerializer, actions_data
from apps.core.serializer_fields import JSONObjectField
from apps.risks import selectors
from apps.risks.machines import RISKS
from apps.risks.models import (
    SCORE_FIELDS,
    Aggregation,
    Comparison,
    IndicatorSource,
    KeyRiskIndicator,
    KriEvent,
    Mitigation,
    MitigationStatus,
    Risk,
    RiskMatrix,
    RiskRegister,
    RiskReview,
    RiskScoreSnapshot,
    Treatment,
)
from apps.risks.services import matrices as matrix_services


class LevelSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    min_score = serializers.IntegerField(min_value=1)


class RiskMatrixSerializer(serializers.ModelSerializer):
    likelihood_labels = serializers.ListField(child=serializers.CharField())
    impact_labels = serializers.ListField(child=serializers.CharField())
    levels = LevelSerializer(many=True)
    likelihood_size = serializers.IntegerField(read_only=True)
    impact_size = serializers.IntegerField(read_only=True)

    class Meta:
        model = RiskMatrix
        fields = [
            "id",
            "organization",
            "name",
            "likelihood_labels",
            "impact_labels",
            "levels",
            "likelihood_size",
            "impact_size",
            "created_at",
        ]
        read_only_fields = fields


class RiskMatrixUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    likelihood_labels = serializers.ListField(child=serializers.CharField(), required=False)
    impact_labels = serializers.ListField(child=serializers.CharField(), required=False)
    levels = serializers.ListField(child=JSONObjectField(), required=False)


class RiskMatrixCreateSerializer(RiskMatrixUpdateSerializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=100)
    preset = serializers.ChoiceField(
        choices=sorted(matrix_services.PRESETS), required=False, help_text="Start from a 5x5 or 3x3 default."
    )


class RiskRegisterSerializer(serializers.ModelSerializer):
    matrix_name = serializers.CharField(source="matrix.name", read_only=True)
    risk_count = serializers.IntegerField(read_only=True, help_text="Risks not closed.")
    flagged_count = serializers.IntegerField(read_only=True, help_text="Risks with a breached indicator.")

    class Meta:
        model = RiskRegister
        fields = [
            "id",
            "organization",
            "name",
            "program",
            "description",
            "matrix",
            "matrix_name",
            "categories",
            "review_cadence_days",
            "risk_count",
            "flagged_count",
            "created_at",
        ]
        read_only_fields = fields


class RiskRegisterUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    program = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    matrix = serializers.UUIDField(required=False)
    categories = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    review_cadence_days = serializers.IntegerField(min_value=1, max_value=3660, required=False)


class RiskRegisterCreateSerializer(RiskRegisterUpdateSerializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200)
    matrix = serializers.UUIDField()
    template = serializers.CharField(
        required=False, help_text="Fill the register from a starter template, e.g. 'seed-strategy'."
    )


class HeatMapCellSerializer(serializers.Serializer):
    likelihood = serializers.IntegerField()
    impact = serializers.IntegerField()
    score = serializers.IntegerField()
    level = serializers.CharField(allow_null=True)
    inherent = serializers.IntegerField()
    current = serializers.IntegerField()
    residual = serializers.IntegerField()


class HeatMapSerializer(serializers.Serializer):
    register = serializers.UUIDField()
    matrix = inline_serializer(
        "HeatMapMatrix",
        {
            "id": serializers.UUIDField(),
            "name": serializers.CharField(),
            "likelihood_labels": serializers.ListField(child=serializers.CharField()),
            "impact_labels": serializers.ListField(child=serializers.CharField()),
            "levels": LevelSerializer(many=True),
        },
    )
    total = serializers.IntegerField()
    cells = HeatMapCellSerializer(many=True)
    grids = serializers.DictField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.IntegerField())),
        help_text="inherent/current/residual: [likelihood-1][impact-1] -> count.",
    )


class RiskSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    accepted_by = serializers.SerializerMethodField()
    inherent_level = serializers.SerializerMethodField()
    current_level = serializers.SerializerMethodField()
    residual_level = serializers.SerializerMethodField()
    acceptance_expired = serializers.SerializerMethodField()
    review_overdue = serializers.SerializerMethodField()
    flagged = serializers.SerializerMethodField()
    open_mitigations = serializers.IntegerField(read_only=True)
    breached_indicators = serializers.IntegerField(read_only=True)

    class Meta:
        model = Risk
        fields = [
            "id",
            "organization",
            "register",
            "ref",
            "title",
            "description",
            "category",
            "owner",
            *SCORE_FIELDS,
            "inherent_level",
            "current_level",
            "residual_level",
            "treatment",
            "status",
            "due_date",
            "accepted_by",
            "accepted_at",
            "acceptance_reason",
            "acceptance_expires_on",
            "acceptance_expired",
            "review_cadence_days",
            "next_review_on",
            "last_reviewed_at",
            "review_overdue",
            "flagged",
            "flagged_at",
            "open_mitigations",
            "breached_indicators",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _level(self, risk, stage: str) -> str | None:
        return risk.register.matrix.level_of(getattr(risk, f"{stage}_likelihood"), getattr(risk, f"{stage}_impact"))

    def get_inherent_level(self, risk) -> str | None:
        return self._level(risk, "inherent")

    def get_current_level(self, risk) -> str | None:
        return self._level(risk, "current")

    def get_residual_level(self, risk) -> str | None:
        return self._level(risk, "residual")

    def get_accepted_by(self, risk) -> str | None:
        return username_of(risk.accepted_by)

    def get_acceptance_expired(self, risk) -> bool:
        return selectors.is_acceptance_expired(risk)

    def get_review_overdue(self, risk) -> bool:
        return selectors.is_review_overdue(risk)

    def get_flagged(self, risk) -> bool:
        return risk.flagged_at is not None


class RiskDetailSerializer(RiskSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta(RiskSerializer.Meta):
        fields = [*RiskSerializer.Meta.fields, "allowed_actions"]
        read_only_fields = fields

    @extend_schema_field(ActionStateSerializer(many=True))
    def get_allowed_actions(self, risk) -> list[dict]:
        return actions_data(RISKS, risk, self.context)


def _score_field(**kwargs):
    return serializers.IntegerField(min_value=1, **kwargs)


class RiskUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.CharField(max_length=60, required=False)
    owner = serializers.CharField(required=False, help_text="Username of a member.")
    inherent_likelihood = _score_field(required=False)
    inherent_impact = _score_field(required=False)
    current_likelihood = _score_field(required=False)
    current_impact = _score_field(required=False)
    residual_likelihood = _score_field(required=False)
    residual_impact = _score_field(required=False)
    treatment = serializers.ChoiceField(choices=Treatment.choices, required=False)
    due_date = serializers.DateField(required=False, allow_null=True)
    review_cadence_days = serializers.IntegerField(min_value=1, max_value=3660, required=False)
    next_review_on = serializers.DateField(required=False)


class RiskCreateSerializer(RiskUpdateSerializer):
    register = serializers.UUIDField()
    ref = serializers.CharField(max_length=30, required=False, allow_blank=True, help_text="Default R-001, ...")
    title = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=60)
    owner = serializers.CharField(help_text="Username of a member.")
    inherent_likelihood = _score_field()
    inherent_impact = _score_field()
    next_review_on = None


class RiskAcceptSerializer(serializers.Serializer):
    reason = serializers.CharField()
    expires_on = serializers.DateField(help_text="At most a year ahead; expired acceptances are flagged and reminded.")


class RiskReviewSerializer(serializers.ModelSerializer):
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True)

    class Meta:
        model = RiskReview
        fields = ["id", "risk", "reviewed_by", "notes", "next_review_on", "created_at"]
        read_only_fields = fields


class RiskReviewCreateSerializer(serializers.Serializer):
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    current_likelihood = _score_field(required=False)
    current_impact = _score_field(required=False)


class RiskScoreSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskScoreSnapshot
        fields = ["recorded_at", "reason", *SCORE_FIELDS, "current_level"]
        read_only_fields = fields


class MitigationSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Mitigation
        fields = ["id", "risk", "title", "owner", "status", "due_date", "completed_at", "created_at"]
        read_only_fields = fields


class MitigationUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    owner = serializers.CharField(required=False, help_text="Username of a member.")
    status = serializers.ChoiceField(choices=MitigationStatus.choices, required=False)
    due_date = serializers.DateField(required=False, allow_null=True)


class MitigationCreateSerializer(serializers.Serializer):
    risk = serializers.UUIDField()
    title = serializers.CharField(max_length=300)
    owner = serializers.CharField(help_text="Username of a member.")
    due_date = serializers.DateField(required=False, allow_null=True, default=None)


class KeyRiskIndicatorSerializer(serializers.ModelSerializer):
    class Meta:
        model = KeyRiskIndicator
        fields = [
            "id",
            "risk",
            "name",
            "source",
            "metric",
            "aggregation",
            "window",
            "comparison",
            "threshold",
            "state",
            "last_value",
            "last_evaluated_at",
            "last_error",
            "breached_since",
            "created_at",
        ]
        read_only_fields = fields


class KeyRiskIndicatorUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    source = serializers.ChoiceField(choices=IndicatorSource.choices, required=False)
    metric = serializers.CharField(max_length=100, required=False)
    aggregation = serializers.ChoiceField(choices=Aggregation.choices, required=False)
    window = serializers.DurationField(required=False, help_text='e.g. "01:00:00" for an hour, "7 00:00:00".')
    comparison = serializers.ChoiceField(choices=Comparison.choices, required=False)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6, required=False)


class KeyRiskIndicatorCreateSerializer(KeyRiskIndicatorUpdateSerializer):
    risk = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    source = serializers.ChoiceField(choices=IndicatorSource.choices)
    metric = serializers.CharField(max_length=100)
    window = serializers.DurationField()
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6)


class KriEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = KriEvent
        fields = ["id", "kind", "value", "threshold", "occurred_at", "notified"]
        read_only_fields = fields
