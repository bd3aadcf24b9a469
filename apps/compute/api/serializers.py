"""Output serializers shape rows; input serializers parse types. Rules live in the services."""

import json

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from apps.compute.models import ComputeSource, Device, DeviceKind, SourceKind, VerificationReport
from apps.compute.services.sources import config_redacted
from apps.core.serializer_fields import JSONObjectField
from compute_hooks import METRICS

# --- output ----------------------------------------------------------------------------------------------


class SourceSerializer(serializers.ModelSerializer):
    config = serializers.SerializerMethodField(help_text="The collector's settings; secrets are shown as ********.")

    class Meta:
        model = ComputeSource
        fields = [
            "id",
            "organization",
            "name",
            "kind",
            "device_kind",
            "config",
            "schedule_seconds",
            "cadence_seconds",
            "lateness_seconds",
            "enabled",
            "last_run_at",
            "last_success_at",
            "last_error",
            "last_sample_count",
            "consecutive_failures",
            "next_run_at",
            "created_at",
            "updated_at",
        ]

    def get_config(self, source) -> dict:
        return config_redacted(source.config)


class DeviceSerializer(serializers.ModelSerializer):
    source_name = serializers.CharField(source="source.name", read_only=True, default=None, allow_null=True)
    has_token = serializers.BooleanField(read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "organization",
            "key",
            "kind",
            "labels",
            "source",
            "source_name",
            "has_token",
            "token_prefix",
            "last_seen_at",
            "late_samples",
            "last_late_at",
            "created_at",
            "updated_at",
        ]


class DeviceWithTokenSerializer(DeviceSerializer):
    token = serializers.CharField(help_text="The push token. Shown this once; govtrack keeps only its SHA-256.")

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "token"]


class ReportSerializer(serializers.ModelSerializer):
    milestone_title = serializers.CharField(source="milestone.title", read_only=True)
    criterion_description = serializers.CharField(source="criterion.description", read_only=True)
    superseded_by = serializers.SerializerMethodField(help_text="The report that superseded this one, if any.")
    late_samples = serializers.IntegerField(
        read_only=True, help_text="Samples of its devices and window that arrived after it sealed the window."
    )

    def get_superseded_by(self, report) -> str | None:
        following = getattr(report, "superseded_by", None)
        return str(following.pk) if following is not None else None

    class Meta:
        model = VerificationReport
        fields = [
            "id",
            "organization",
            "milestone",
            "milestone_title",
            "criterion",
            "criterion_description",
            "source",
            "window_start",
            "window_end",
            "passed",
            "value",
            "devices_counted",
            "sha256",
            "late_samples",
            "supersedes",
            "superseded_by",
            "reason",
            "created_at",
        ]


class ReportDetailSerializer(ReportSerializer):
    report = serializers.SerializerMethodField(help_text="The canonical JSON, parsed.")

    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "query", "canonical_json", "report"]

    def get_report(self, report) -> dict:
        return json.loads(report.canonical_json)


class RebuildSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    stored_sha256 = serializers.CharField()
    rebuilt_sha256 = serializers.CharField()
    text_matches_hash = serializers.BooleanField()
    differences = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())


class SupersedeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the report is re-evaluated; kept with the report.")


class PointSerializer(serializers.Serializer):
    ts = serializers.DateTimeField()
    value = serializers.FloatField(required=False, help_text="Raw resolution.")
    avg = serializers.FloatField(required=False, help_text="Minute resolution.")
    min = serializers.FloatField(required=False)
    max = serializers.FloatField(required=False)
    count = serializers.IntegerField(required=False)


@extend_schema_serializer(many=False)  # the list action answers one object: the device's series
class SamplesSerializer(serializers.Serializer):
    device = serializers.UUIDField()
    metric = serializers.CharField()
    resolution = serializers.ChoiceField(choices=["raw", "minute"])
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    points = PointSerializer(many=True)


class IngestErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    field = serializers.CharField()
    message = serializers.CharField()


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    late = serializers.IntegerField(
        help_text="Of the accepted, those past the device's lateness allowance: stored apart, counted as late."
    )
    errors = IngestErrorSerializer(many=True)


# --- input -------------------------------------------------------------------------------------------------


class SourceInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    device_kind = serializers.ChoiceField(choices=DeviceKind.choices, required=False, default=DeviceKind.GPU)
    config = JSONObjectField(required=False, default=dict)
    schedule_seconds = serializers.IntegerField(required=False, default=60)
    cadence_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    lateness_seconds = serializers.IntegerField(required=False, allow_null=True, default=None)
    enabled = serializers.BooleanField(required=False, default=True)


class SourceUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    device_kind = serializers.ChoiceField(choices=DeviceKind.choices, required=False)
    config = JSONObjectField(required=False, help_text="Secrets sent back as ******** keep their value.")
    schedule_seconds = serializers.IntegerField(required=False)
    cadence_seconds = serializers.IntegerField(required=False, allow_null=True)
    lateness_seconds = serializers.IntegerField(required=False, allow_null=True)
    enabled = serializers.BooleanField(required=False)


class DeviceInput(serializers.Serializer):
    organization = serializers.UUIDField(required=False)
    key = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=DeviceKind.choices, required=False, default=DeviceKind.GPU)
    labels = JSONObjectField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    source = serializers.UUIDField(required=False, allow_null=True, default=None)


class DeviceUpdateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DeviceKind.choices, required=False)
    labels = JSONObjectField(child=serializers.CharField(allow_blank=True), required=False)


class SamplesQuery(serializers.Serializer):
    device = serializers.UUIDField()
    metric = serializers.ChoiceField(choices=sorted(METRICS))
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(required=False, help_text="Default: now.")


class WireSampleSerializer(serializers.Serializer):
    metric = serializers.CharField()
    ts = serializers.CharField(help_text="ISO 8601 with a time zone, e.g. 2026-11-26T18:00:00.000000Z.")
    value = serializers.FloatField()
    labels = JSONObjectField(child=serializers.CharField(), required=False)


class IngestRequestSerializer(serializers.Serializer):
    device = serializers.CharField(help_text="The device's key; must be the device the token belongs to.")
    samples = WireSampleSerializer(many=True)
