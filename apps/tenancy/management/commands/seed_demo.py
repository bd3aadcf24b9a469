"""Demo data: an organization with one user per role. Idempotent; each app adds its part through DEMO_SEEDERS."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from apps.tenancy.models import Membership, Organization, Role
from apps.tenancy.services import membership_add, organization_create, user_create

DEMO_ORG_SLUG = "demo-ai-infra"
DEMO_PASSWORD = "govtrack-demo"  # noqa: S105 - printed for the local demo, never used in production


class Command(BaseCommand):
    help = "Creates the demo organization, one user per role (credentials printed), and each app's demo data."

    def handle(self, *args, **options):
        User = get_user_model()
        with transaction.atomic():
            users = {}
            for role in Role.values:
                username = f"{role}@demo"
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = user_create(
                        username=username,
                        password=DEMO_PASSWORD,
                        email=f"{role}@demo.govtrack.local",
                        first_name=role.capitalize(),
                        is_staff=(role == Role.OWNER),
                        is_superuser=(role == Role.OWNER),
                    )
                users[role] = user
            organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
            if organization is None:
                organization = organization_create(
                    name="Demo AI Infrastructure Co.", slug=DEMO_ORG_SLUG, created_by=users[Role.OWNER]
                )
            for role, user in users.items():
                if not Membership.objects.filter(organization=organization, user=user).exists():
                    membership_add(organization=organization, user=user, role=role, by=users[Role.OWNER])
            for path in getattr(settings, "DEMO_SEEDERS", []):
                import_string(path)(organization=organization, users=users, stdout=self.stdout)

        self.stdout.write(self.style.SUCCESS(f"Demo organization: {organization.name}"))
        self.stdout.write(f"Sign in with any of these (password: {DEMO_PASSWORD}):")
        for role, user in users.items():
            self.stdout.write(f"  {user.username:<20} role {role}")
