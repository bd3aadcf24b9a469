"""Background exports whose build never reached a worker (the broker was down when they were requested, or the
worker died mid-build) are found by the beat sweep and built once."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.reports.models import ExportStatus, GrantReportExport
from apps.reports.services import grant_report_export_run
from apps.reports.tasks import grant_report_export_sweep
from apps.tenancy.models import Role
from tests.funding.factories import GrantFactory

pytestmark = pytest.mark.django_db


def export(org, people, *, status=ExportStatus.QUEUED, age_seconds=0) -> GrantReportExport:
    row = GrantReportExport.objects.create(
        organization=org, grant=GrantFactory(organization=org), requested_by=people[Role.FINANCE], status=status
    )
    # `update` keeps the timestamps as given (save would stamp updated_at now).
    then = timezone.now() - dt.timedelta(seconds=age_seconds)
    GrantReportExport.objects.filter(pk=row.pk).update(created_at=then, updated_at=then)
    return row


def test_sweep_builds_exports_left_queued_and_leaves_fresh_and_running_ones(org, people, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    lost = export(org, people, age_seconds=settings.REPORTS_EXPORT_SWEEP_AFTER_SECONDS + 5)
    fresh = export(org, people)  # its nudge is on its way
    building = export(org, people, status=ExportStatus.RUNNING, age_seconds=60)
    abandoned = export(org, people, status=ExportStatus.RUNNING, age_seconds=settings.REPORTS_EXPORT_STALE_SECONDS + 5)

    assert grant_report_export_sweep() == 2  # tasks run in-process here: both are built now

    status = dict(GrantReportExport.objects.values_list("pk", "status"))
    assert status[lost.pk] == status[abandoned.pk] == ExportStatus.DONE
    assert status[fresh.pk] == ExportStatus.QUEUED
    assert status[building.pk] == ExportStatus.RUNNING
    assert grant_report_export_sweep() == 0  # nothing twice


def test_a_second_message_for_an_export_being_built_does_not_build_it_again(org, people):
    building = export(org, people, status=ExportStatus.RUNNING, age_seconds=1)
    assert grant_report_export_run(export_id=building.pk).status == ExportStatus.RUNNING
    building.refresh_from_db()
    assert (building.status, building.file.name) == (ExportStatus.RUNNING, "")
