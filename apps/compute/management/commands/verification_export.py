"""`manage.py verification_export REPORT_ID DIRECTORY`: writes report.json (the canonical report, byte for byte) and
samples.csv (the raw samples its Merkle roots cover), for `python -m compute_hooks.verify`."""

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.compute.models import VerificationReport
from apps.compute.services.verification import report_raw_samples_csv


class Command(BaseCommand):
    help = "Exports a verification report and its raw samples for the standalone verifier (compute_hooks.verify)."

    def add_arguments(self, parser):
        parser.add_argument("report_id")
        parser.add_argument("directory")

    def handle(self, *args, report_id, directory, **options):
        try:
            report = VerificationReport.objects.filter(pk=uuid.UUID(report_id)).first()
        except ValueError:
            report = None
        if report is None:
            raise CommandError(f"No verification report {report_id}.")
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.json").write_bytes(report.canonical_json.encode("utf-8"))
        with open(folder / "samples.csv", "w", encoding="utf-8", newline="") as handle:
            handle.writelines(report_raw_samples_csv(report=report))
        self.stdout.write(f"sha256 {report.sha256}")
        self.stdout.write(f"python -m compute_hooks.verify {folder / 'report.json'} --samples {folder / 'samples.csv'}")
