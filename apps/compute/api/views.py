"""Thin API views: parse, call one service or selector, shape the answer."""

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.compute import selectors
from apps.compute.api import serializers as s
from apps.compute.api.authentication import DeviceTokenAuthentication, HasDeviceToken
from apps.compute.models import ComputeSource, Device, VerificationReport
from apps.compute.services import devices, sources, verification
from apps.compute.services.ingest import samples_ingest
from apps.core.api import (
    ErrorSerializer,
    SelectorViewSetMixin,
    error_responses,
    organization_for_create,
    resolve_for_field,
)
from apps.core.errors import ApplicationError, PermissionDenied, ValidationFailed
from apps.core.metrics import ingest_counted
from apps.core.parsers import BoundedJSONParser
from apps.core.tabular import CsvExportMixin, CSVRenderer, csv_stream
from apps.funding.selectors import criterion_get

WRITE_ERRORS = error_responses(400, 403, 404, 409)


def _parsed(serializer_class, data, partial=False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class BatchTooLarge(ApplicationError):
    status_code = 413


# --- ingest -------------------------------------------------------------------------------------------------


class IngestJSONParser(BoundedJSONParser):
    """Lets NaN and Infinity through the parser, so they are refused per sample rather than as a whole batch; a
    batch may be as large as COMPUTE_INGEST_MAX_BYTES."""

    strict = False

    @property
    def max_bytes(self) -> int:
        return settings.COMPUTE_INGEST_MAX_BYTES


class IngestView(APIView):
    """Edge agents push samples here with their device token (compute_hooks/edge_agent.py)."""

    authentication_classes = [DeviceTokenAuthentication]
    permission_classes = [HasDeviceToken]
    parser_classes = [IngestJSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes: list = []

    @extend_schema(
        operation_id="compute_ingest",
        request=s.IngestRequestSerializer,
        responses={
            200: s.IngestResultSerializer,
            413: OpenApiResponse(ErrorSerializer, description="More samples than COMPUTE_INGEST_MAX_BATCH."),
            **error_responses(400, 401, 403),
        },
        description=(
            "Stores a batch of one device's samples. Each sample is checked on its own: refused ones are listed in "
            "`errors` by index, the rest stored. A resent sample (same device, metric and ts) counts as a duplicate."
        ),
    )
    def post(self, request):
        limit = settings.COMPUTE_INGEST_MAX_BATCH
        if int(request.META.get("CONTENT_LENGTH") or 0) > settings.COMPUTE_INGEST_MAX_BYTES:
            raise BatchTooLarge(
                f"The body is larger than {settings.COMPUTE_INGEST_MAX_BYTES} bytes.", {"max_batch": limit}
            )
        body = request.data
        if not isinstance(body, dict):
            raise ValidationFailed.for_field("non_field_errors", 'Send {"device": "<key>", "samples": [...]}.')
        device_key, samples = body.get("device"), body.get("samples")
        if not isinstance(device_key, str) or not device_key:
            raise ValidationFailed.for_field("device", "The device's key is required.")
        if not isinstance(samples, list):
            raise ValidationFailed.for_field("samples", "A list of samples is required.")
        if len(samples) > limit:
            raise BatchTooLarge(
                f"At most {limit} samples per batch; this one has {len(samples)}.", {"max_batch": limit}
            )
        device = request.auth
        if device_key != device.key:
            raise PermissionDenied(f"This token belongs to device '{device.key}', not '{device_key[:200]}'.")
        result = samples_ingest(device=device, samples=samples).as_dict()
        ingest_counted(accepted=result["accepted"], duplicates=result["duplicates"], rejected=len(result["errors"]))
        return Response(result)


# --- sources ------------------------------------------------------------------------------------------------


class SourceFilter(filters.FilterSet):
    class Meta:
        model = ComputeSource
        fields = ["organization", "kind", "enabled"]


class SourceViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Where samples come from: NVML, nvidia-smi and Prometheus sources are collected on their schedule; push
    sources group edge agents."""

    queryset = ComputeSource.objects.none()
    serializer_class = s.SourceSerializer
    filterset_class = SourceFilter
    list_selector, get_selector = selectors.source_list, selectors.source_get
    csv_filename = "compute-sources.csv"
    csv_columns = [
        ("id", "id"),
        ("name", "name"),
        ("kind", "kind"),
        ("enabled", "enabled"),
        ("schedule_seconds", "schedule_seconds"),
        ("last_success_at", "last_success_at"),
        ("consecutive_failures", "consecutive_failures"),
        ("last_error", "last_error"),
    ]

    @extend_schema(request=s.SourceInput, responses={201: s.SourceSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(s.SourceInput, request.data)
        organization = organization_for_create(request, data.pop("organization", None))
        source = sources.source_create(organization=organization, by=request.user, **data)
        return Response(s.SourceSerializer(source).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SourceUpdateInput, responses={200: s.SourceSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.SourceUpdateInput, request.data, partial=True)
        source = sources.source_update(source=self.get_object(), by=request.user, **data)
        return Response(s.SourceSerializer(source).data)

    @extend_schema(responses={204: None, **error_responses(403, 404)})
    def destroy(self, request, pk=None):
        sources.source_delete(source=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.SourceSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Queues a collection now (embedded: runs it before answering)."""
        source = sources.source_run_now(source=self.get_object(), by=request.user)
        return Response(s.SourceSerializer(source).data)


# --- devices ------------------------------------------------------------------------------------------------


class DeviceFilter(filters.FilterSet):
    class Meta:
        model = Device
        fields = ["organization", "kind", "source", "key"]


class DeviceViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """GPUs, NPUs and edge boards. Registering a device returns its push token once; rotate it to replace it."""

    queryset = Device.objects.none()
    serializer_class = s.DeviceSerializer
    filterset_class = DeviceFilter
    list_selector, get_selector = selectors.device_list, selectors.device_get
    csv_filename = "devices.csv"
    csv_columns = [
        ("id", "id"),
        ("key", "key"),
        ("kind", "kind"),
        ("labels", lambda d: ";".join(f"{k}={v}" for k, v in sorted(d.labels.items()))),
        ("source", lambda d: d.source.name if d.source_id else ""),
        ("last_seen_at", "last_seen_at"),
    ]

    def _with_token(self, device, token, code):
        device.token = token  # shown this once, never stored
        return Response(s.DeviceWithTokenSerializer(device).data, status=code)

    @extend_schema(request=s.DeviceInput, responses={201: s.DeviceWithTokenSerializer, **WRITE_ERRORS})
    def create(self, request):
        data = _parsed(s.DeviceInput, request.data)
        organization = organization_for_create(request, data.pop("organization", None))
        data["source"] = resolve_for_field(selectors.source_get, request, data["source"], field="source")
        device, token = devices.device_create(organization=organization, by=request.user, **data)
        return self._with_token(device, token, status.HTTP_201_CREATED)

    @extend_schema(request=s.DeviceUpdateInput, responses={200: s.DeviceSerializer, **WRITE_ERRORS})
    def partial_update(self, request, pk=None):
        data = _parsed(s.DeviceUpdateInput, request.data, partial=True)
        device = devices.device_update(device=self.get_object(), by=request.user, **data)
        return Response(s.DeviceSerializer(device).data)

    @extend_schema(request=None, responses={200: s.DeviceWithTokenSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request, pk=None):
        device, token = devices.device_rotate_token(device=self.get_object(), by=request.user)
        return self._with_token(device, token, status.HTTP_200_OK)


# --- samples ------------------------------------------------------------------------------------------------


class SampleViewSet(viewsets.GenericViewSet):
    queryset = Device.objects.none()
    serializer_class = s.SamplesSerializer
    filter_backends: list = []
    pagination_class = None

    def get_renderers(self):
        return [*super().get_renderers(), CSVRenderer()]

    @extend_schema(
        parameters=[s.SamplesQuery],
        responses={200: s.SamplesSerializer, (200, "text/csv"): bytes, **error_responses(400, 404)},
        description=(
            "A device's readings of one metric in [start, end). Ranges up to COMPUTE_SAMPLES_RAW_MAX_SECONDS "
            "(6 h by default) within the raw retention come as raw samples (`value`); longer or older ranges as "
            "per-minute rollups (`avg`, `min`, `max`, `count`). At most 31 days. `?format=csv` for a CSV file."
        ),
    )
    def list(self, request):
        query = _parsed(s.SamplesQuery, request.query_params)
        end = query.get("end") or timezone.now()
        resolution, rows = selectors.samples_range(
            user=request.user, device_pk=query["device"], metric=query["metric"], start=query["start"], end=end
        )
        if resolution == "raw":
            points = [{"ts": ts, "value": v} for ts, v in rows.values_list("ts", "value")]
            columns = [("ts", lambda p: p["ts"]), ("value", lambda p: p["value"])]
        else:
            fields = ("minute", "avg", "min", "max", "count")
            points = [
                {"ts": r[0], "avg": r[1], "min": r[2], "max": r[3], "count": r[4]} for r in rows.values_list(*fields)
            ]
            columns = [("ts", lambda p: p["ts"])] + [(f, lambda p, f=f: p[f]) for f in fields[1:]]
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return csv_stream(points, columns, f"samples-{query['metric']}.csv")
        data = {
            "device": query["device"],
            "metric": query["metric"],
            "resolution": resolution,
            "start": query["start"],
            "end": end,
            "points": points,
        }
        return Response(s.SamplesSerializer(data).data)


# --- verification -------------------------------------------------------------------------------------------


class ReportFilter(filters.FilterSet):
    class Meta:
        model = VerificationReport
        fields = ["organization", "milestone", "criterion", "passed", "source"]


class ReportViewSet(
    SelectorViewSetMixin, CsvExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Verification reports of compute criteria: the canonical JSON and its SHA-256 (what escrow attests)."""

    queryset = VerificationReport.objects.none()
    serializer_class = s.ReportSerializer
    filterset_class = ReportFilter
    list_selector, get_selector = selectors.report_list, selectors.report_get
    csv_filename = "verification-reports.csv"
    csv_columns = [
        ("id", "id"),
        ("created_at", "created_at"),
        ("milestone_id", "milestone_id"),
        ("criterion_id", "criterion_id"),
        ("source", "source"),
        ("window_start", "window_start"),
        ("window_end", "window_end"),
        ("passed", "passed"),
        ("value", "value"),
        ("devices_counted", "devices_counted"),
        ("sha256", "sha256"),
    ]

    def get_serializer_class(self):
        return s.ReportDetailSerializer if self.action == "retrieve" else s.ReportSerializer

    @extend_schema(responses={200: s.RebuildSerializer, **error_responses(404)})
    @action(detail=True, methods=["get"])
    def rebuild(self, request, pk=None):
        """Recomputes the report from the stored data it names and compares the hashes."""
        result = verification.report_rebuild(report=self.get_object())
        return Response(
            s.RebuildSerializer(
                {
                    "ok": result.ok,
                    "stored_sha256": result.stored_sha256,
                    "rebuilt_sha256": result.rebuilt_sha256,
                    "text_matches_hash": result.text_matches_hash,
                    "differences": result.differences,
                    "notes": result.notes,
                }
            ).data
        )

    @extend_schema(request=s.SupersedeInput, responses={201: s.ReportDetailSerializer, **WRITE_ERRORS})
    @action(detail=True, methods=["post"])
    def supersede(self, request, pk=None):
        """Re-evaluates the report's window, now reading the late samples received so far, as a new report that
        supersedes it; the reason is required and kept (audited)."""
        data = _parsed(s.SupersedeInput, request.data)
        report = verification.report_supersede(report=self.get_object(), by=request.user, reason=data["reason"])
        return Response(s.ReportDetailSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={(200, "text/csv"): bytes, **error_responses(404)},
        description="The raw samples the report's Merkle roots cover (device,metric,ts,value), for "
        "`python -m compute_hooks.verify report.json --samples samples.csv`.",
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer])
    def samples(self, request, pk=None):
        report = self.get_object()
        # Written as the verifier reads it: exact text, no spreadsheet neutralising (it would change "-3.5").
        response = StreamingHttpResponse(
            verification.report_raw_samples_csv(report=report), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-samples.csv"'
        return response


class CriterionEvaluationViewSet(viewsets.GenericViewSet):
    queryset = VerificationReport.objects.none()
    serializer_class = s.ReportDetailSerializer

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH, description="The milestone criterion's id.")],
        responses={201: s.ReportDetailSerializer, **error_responses(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        """Evaluates a compute criterion now; a pass may verify its (submitted) milestone."""
        report = verification.criterion_verify(criterion=criterion_get(user=request.user, pk=pk), by=request.user)
        return Response(s.ReportDetailSerializer(report).data, status=status.HTTP_201_CREATED)
