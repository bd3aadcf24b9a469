"""`manage.py verification_rebuild REPORT_ID`: recomputes a verification report from stored data; exit 1 when the
hash differs."""

from django.core.management.base import BaseCommand, CommandError

from apps.compute.models import VerificationReport
from apps.compute.services.verification import report_rebuild


class Command(BaseCommand):
    help = (
        "Rebuilds a verification report from the stored rollups and raw samples (only the late samples it says it "
        "read; PromQL reports: their own series) and checks its hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("report_id")

    def handle(self, *args, report_id, **options):
        report = VerificationReport.objects.filter(pk=report_id).first() if _is_uuid(report_id) else None
        if report is None:
            raise CommandError(f"No verification report {report_id}.")
        result = report_rebuild(report=report)
        self.stdout.write(f"stored  {result.stored_sha256}")
        self.stdout.write(f"rebuilt {result.rebuilt_sha256}")
        for note in result.notes:
            self.stdout.write(f"note: {note}")
        if result.ok:
            self.stdout.write(self.style.SUCCESS("OK: the report rebuilds to the same hash."))
            return
        if not result.text_matches_hash:
            self.stderr.write("The stored report text no longer matches its stored hash: it was edited.")
        for line in result.differences:
            self.stderr.write(f"  {line}")
        raise CommandError("MISMATCH: the report rebuilt from stored data has a different hash.")


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
