"""Demo data: an organization with one user per role, and a platform admin for the admin site who belongs to no
organization (tenant users are never staff). Idempotent; each app adds its part through DEMO_SEEDERS."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from apps.audit.services import audit_record
from apps.tenancy.models import Membership, Organization, Role
from apps.tenancy.services import membership_add, organization_create, user_create

DEMO_ORG_SLUG = "demo-ai-infra"
DEMO_PASSWORD = "govtrack-demo"  # noqa: S105 - printed for the local demo, never used in production
PLATFORM_ADMIN = "platform-admin"


class Command(BaseCommand):
    help = (
        "Creates the demo organization, one user per role and a platform admin (credentials printed), and each "
        "app's demo data."
    )

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
                    )
                elif user.is_staff or user.is_superuser:
                    # Demo data from before the platform admin existed made the owner a superuser.
                    before = {"is_staff": user.is_staff, "is_superuser": user.is_superuser}
                    user.is_staff = user.is_superuser = False
                    user.save(update_fields=["is_staff", "is_superuser"])
                    audit_record(
                        action="user.platform_access_removed",
                        obj=user,
                        before=before,
                        after={"is_staff": False, "is_superuser": False},
                    )
                users[role] = user
            platform_admin = User.objects.filter(username=PLATFORM_ADMIN).first()
            if platform_admin is None:
                platform_admin = user_create(
                    username=PLATFORM_ADMIN,
                    password=DEMO_PASSWORD,
                    email="platform-admin@demo.govtrack.local",
                    first_name="Platform admin",
                    is_staff=True,
                    is_superuser=True,
                )
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
        self.stdout.write(f"  {platform_admin.username:<20} the admin site (/admin/): platform staff, no organization")
