"""The bases every app's admin is built from: a support window that shows everything and changes nothing behind
the services' back.

- Every field is read-only unless a model admin names it in `editable_fields`; a model admin without any is
  view-only (a POST to its change view answers 403).
- No add and no delete: rows are created and corrected by the services (a void or reversal, never a deletion).
- A change that is allowed is written to the audit trail in the admin's transaction.
- Transitions are admin actions that call the app's service in the staff user's name (`service_action`), so the
  service's own role check, state rules and audit event apply; a refusal shows the service's message. Their
  labels are read from the machine's transition table (`transition_description`).
"""

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import models

from apps.audit.services import audit_record, snapshot
from apps.core.errors import ApplicationError


class AuditedAdminChangesMixin:
    """Writes an audit event for each save made in the admin, naming the fields changed (never a password)."""

    def organization_of(self, obj):
        return getattr(obj, "organization", None)

    def save_model(self, request, obj, form, change):
        opts = self.model._meta
        simple = {f.name for f in opts.concrete_fields}
        related = {f.name for f in opts.many_to_many}
        names = [name for name in form.changed_data if name in simple]
        before = snapshot(self.model._default_manager.get(pk=obj.pk), names) if change else {}
        super().save_model(request, obj, form, change)
        after = snapshot(obj, names)
        # Many-to-many values are saved after this by save_related; the form holds what they become.
        after.update(
            {name: sorted(str(v) for v in form.cleaned_data[name]) for name in form.changed_data if name in related}
        )
        audit_record(
            action=f"{opts.model_name}.{'changed' if change else 'created'}_in_admin",
            actor=request.user,
            organization=self.organization_of(obj),
            obj=obj,
            before=before,
            after=after,
        )


class SupportModelAdmin(AuditedAdminChangesMixin, admin.ModelAdmin):
    """Read-only by default: list fields in `editable_fields` to let staff change them (audited)."""

    editable_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        opts = self.model._meta
        hidden = set(self.get_exclude(request, obj) or ())
        names = [
            f.name
            for f in (*opts.fields, *opts.many_to_many)
            if f.name not in hidden and f.name not in self.editable_fields
        ]
        extra = [name for name in super().get_readonly_fields(request, obj) if name not in names]
        return [*names, *extra]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return bool(self.editable_fields) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


class SupportInline(admin.TabularInline):
    """An inline that shows a parent's children and changes none of them."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReasonActionForm(ActionForm):
    """The action bar with a reason beside it, for transitions that record one."""

    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason",
        widget=forms.TextInput(attrs={"size": 50, "placeholder": "recorded with the change"}),
    )


def transition_description(machine, name: str) -> str:
    """An admin action's label read from the machine's table (apps/core/transitions.py), as the dashboard's
    buttons and the API's allowed_actions are: what it does, from which states, and whether it needs a reason."""
    transition = machine[name]
    choices = dict(machine.model._meta.get_field(machine.field).choices or [])
    sources = ", ".join(str(choices.get(state, state)).lower() for state in transition.source)
    reason = {"required": "; give the reason", "optional": "; a reason is optional"}.get(transition.reason, "")
    return f"{transition.label} (from {sources}{reason})"


def error_text(exc: ApplicationError) -> str:
    fields = exc.extra.get("fields") or {}
    if not fields:
        return exc.message
    return "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in fields.items())


def service_action(
    model_admin: admin.ModelAdmin,
    request,
    queryset: models.QuerySet,
    call: Callable[[models.Model], object],
    *,
    done: str,
) -> None:
    """Calls one service per selected row (each its own transaction); each refusal is shown with its reason."""
    succeeded = 0
    for obj in queryset:
        try:
            call(obj)
        except ApplicationError as exc:
            model_admin.message_user(request, f"{obj}: {error_text(exc)}", messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        model_admin.message_user(request, f"{succeeded} {done}", messages.SUCCESS)
