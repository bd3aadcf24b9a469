"""The admin site: a support window for platform staff, never a tenant's tool.

Tenant users (owners included) work through the dashboard and the API, where every change goes through a service
with its role check and audit event. The admin lets platform staff look at every tenant's rows, so a tenant owner
is refused here even if someone has flagged the account as staff.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


def is_platform_staff(user) -> bool:
    """Active staff accounts that own no organization."""
    # Imported here: this module is loaded with INSTALLED_APPS, before the models are ready.
    from apps.tenancy.models import Membership, Role

    if not (user.is_active and user.is_staff):
        return False
    return not Membership.objects.filter(user=user, role=Role.OWNER).exists()


class SupportAdminSite(admin.AdminSite):
    site_header = "govtrack support"
    site_title = "govtrack support"
    index_title = "Support window (read-only; changes go through the dashboard and the API)"

    def has_permission(self, request):
        return is_platform_staff(request.user)

    def login(self, request, extra_context=None):
        # One sign-in page for everyone, so the lockout and the two-factor step cannot be walked around here.
        from django.contrib.auth.views import redirect_to_login
        from django.urls import reverse

        return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


class SupportAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.SupportAdminSite"
