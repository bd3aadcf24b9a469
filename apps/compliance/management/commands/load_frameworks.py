"""Loads the compliance frameworks from their YAML files. Idempotent; a new version upgrades open audits."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.compliance.services.frameworks import FRAMEWORKS_DIR, framework_load
from apps.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Loads frameworks from apps/compliance/frameworks/*.yaml (or the files given)."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", help="YAML files; default: every file of the frameworks folder.")

    def handle(self, *args, **options):
        paths = [Path(name) for name in options["files"]] or sorted(FRAMEWORKS_DIR.glob("*.yaml"))
        for path in paths:
            if not path.is_file():
                raise CommandError(f"{path}: no such file.")
            try:
                result = framework_load(text=path.read_text(encoding="utf-8"), source=path.name)
            except ApplicationError as exc:
                raise CommandError(f"{path.name}: {exc.message}") from None
            line = f"{result.slug} {result.version}: {result.outcome}"
            if result.outcome == "upgraded":
                line += (
                    f" ({len(result.audits_moved)} open audit(s) moved; {result.carried} assessment(s) kept, "
                    f"{result.reset} to assess again)"
                )
            self.stdout.write(line)
