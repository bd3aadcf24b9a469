"""Tenancy in the support window. Organizations, memberships and API tokens are read-only here (they change
through the services, with their role checks and audit events). User accounts are the platform's own: staff may
create them and change names, email, activity and staff flags (each save audited); accounts are never deleted,
because the audit trail names their actions: deactivate instead."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.admin import AuditedAdminChangesMixin, SupportInline, SupportModelAdmin
from apps.tenancy.models import ApiToken, Membership, Organization, Role, User


class PlatformUserChangeForm(UserChangeForm):
    def clean(self):
        cleaned = super().clean()
        platform = cleaned.get("is_staff") or cleaned.get("is_superuser")
        if platform and Membership.objects.filter(user=self.instance, role=Role.OWNER).exists():
            raise forms.ValidationError(
                "An owner of an organization cannot be platform staff: the admin shows every tenant's rows."
            )
        return cleaned


@admin.register(User)
class PlatformUserAdmin(AuditedAdminChangesMixin, UserAdmin):
    form = PlatformUserChangeForm
    readonly_fields = ["last_login", "date_joined"]

    def has_delete_permission(self, request, obj=None):
        return False

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                user = self.get_object(request, id)
                audit_record(action="user.password_set_in_admin", actor=request.user, obj=user)
        return response


class MembershipInline(SupportInline):
    model = Membership
    fields = ["user", "role", "created_at"]


@admin.register(Organization)
class OrganizationAdmin(SupportModelAdmin):
    list_display = ["name", "slug", "default_currency", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(SupportModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]


@admin.register(ApiToken)
class ApiTokenAdmin(SupportModelAdmin):
    list_display = ["name", "user", "prefix", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
