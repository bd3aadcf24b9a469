from django.core.management.base import BaseCommand, CommandError

from apps.audit.verification import all_chains, verify_chain


class Command(BaseCommand):
    help = "Walks each audit chain and names the first edited, inserted or deleted event. Exits 1 if any is broken."

    def add_arguments(self, parser):
        parser.add_argument("--chain", help="Verify one chain only (an organization id, or 'global').")

    def handle(self, *args, chain=None, **options):
        chains = [chain] if chain else all_chains()
        broken = 0
        for name in chains:
            report = verify_chain(name)
            if report.ok:
                self.stdout.write(f"OK      {name}: {report.message} head {report.head_hash}")
            else:
                broken += 1
                self.stdout.write(self.style.ERROR(f"BROKEN  {name}: {report.message}"))
        if broken:
            raise CommandError(f"{broken} of {len(chains)} audit chain(s) broken.")
        self.stdout.write(self.style.SUCCESS(f"{len(chains)} audit chain(s) intact."))
