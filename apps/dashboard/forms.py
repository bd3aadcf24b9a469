"""Django forms that parse the dashboard's posts. They only parse: the rules live in each app's services, whose
ApplicationError is put back on the form (`service_error_to_form`) next to the field it names."""

from django import forms

from apps.compliance.models import AssessmentResult, FindingStatus, Severity
from apps.core.errors import ApplicationError
from apps.funding.models import FocusArea, GrantStatus, Instrument, InvestmentStatus, KpiMetric, MilestoneStatus
from apps.risks.models import MitigationStatus, RiskStatus, Treatment

DATE = forms.DateInput(attrs={"type": "date"})


def service_error_to_form(form: forms.Form, error: ApplicationError) -> None:
    """Each message of `extra["fields"]` goes beside its field; a field the form lacks, or none, goes on top."""
    fields = (error.extra or {}).get("fields") or {}
    if not fields:
        form.add_error(None, error.message)
        return
    for name, messages in fields.items():
        target = name if name in form.fields else None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(target, message if target else f"{name}: {message}")


class GrantCreateForm(forms.Form):
    funder = forms.ChoiceField(label="Funder")
    title = forms.CharField(max_length=300)
    program = forms.CharField(max_length=300, required=False)
    reference = forms.CharField(max_length=100, required=False, label="Funder's reference")
    currency = forms.CharField(max_length=3, initial="EUR", help_text="ISO-4217 code, e.g. EUR or USD.")
    amount_requested = forms.DecimalField(label="Amount requested", min_value=0, decimal_places=2, max_digits=18)
    period_start = forms.DateField(widget=DATE, label="Period start")
    period_end = forms.DateField(widget=DATE, label="Period end")
    focus_areas = forms.MultipleChoiceField(
        choices=FocusArea.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Focus areas"
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, funders=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["funder"].choices = [("", "Choose a funder")] + [(str(f.pk), f.name) for f in funders]


class MilestoneCreateForm(forms.Form):
    title = forms.CharField(max_length=300)
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18)
    due_date = forms.DateField(widget=DATE, label="Due date")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    criterion = forms.CharField(
        max_length=500,
        required=False,
        label="Manual criterion (optional)",
        help_text="Approved by an owner, e.g. “Pilot report accepted by the programme officer”.",
    )


class EvidenceForm(forms.Form):
    file = forms.FileField(help_text="PDF, PNG, JPEG, XLSX, CSV, TXT or JSON.", label="File")
    description = forms.CharField(max_length=500, required=False, label="Description")


class AssessmentEvidenceForm(forms.Form):
    file = forms.FileField(help_text="PDF, PNG, JPEG, XLSX, CSV, TXT or JSON.", label="Evidence file")


class KpiReadingForm(forms.Form):
    metric = forms.ChoiceField(choices=KpiMetric.choices, label="Metric")
    value = forms.DecimalField(max_digits=24, decimal_places=6, label="Value")
    unit = forms.CharField(max_length=20, required=False, label="Unit", help_text="e.g. EUR, ms, %.")
    period_start = forms.DateField(widget=DATE, label="Period start")
    period_end = forms.DateField(widget=DATE, label="Period end")
    source = forms.CharField(
        max_length=100, initial="dashboard", label="Source", help_text="Where the value comes from."
    )
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput, label="Note")


class NoteForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.TextInput)


class AwardForm(forms.Form):
    amount_awarded = forms.DecimalField(label="Amount awarded", min_value=0, decimal_places=2, max_digits=18)


class DisbursementForm(forms.Form):
    milestone = forms.ChoiceField()
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18)
    paid_on = forms.DateField(widget=DATE, label="Paid on")
    reference = forms.CharField(max_length=200, required=False, help_text="Bank reference or transaction hash.")

    def __init__(self, *args, milestones=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["milestone"].choices = [(str(m.pk), f"{m.title} ({m.amount} {m.currency})") for m in milestones]


class AssessmentForm(forms.Form):
    result = forms.ChoiceField(choices=AssessmentResult.choices, label="Result")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Notes")


def member_choices(memberships, *, blank: str = "") -> list[tuple[str, str]]:
    """The organization's people by username (what the services take), labelled with their role."""
    choices = [("", blank)] if blank else []
    return choices + [(m.user.username, f"{m.user.username} ({m.get_role_display().lower()})") for m in memberships]


class FindingForm(forms.Form):
    title = forms.CharField(max_length=200, label="Finding")
    severity = forms.ChoiceField(choices=Severity.choices, label="Severity")
    owner = forms.ChoiceField(label="Owner", help_text="Who remediates it.")
    due_date = forms.DateField(widget=DATE, label="Due date")
    control = forms.ChoiceField(required=False, label="Control")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description")

    def __init__(self, *args, memberships=(), controls=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = member_choices(memberships, blank="Choose an owner")
        self.fields["control"].choices = [("", "No control")] + [(c.ref, f"{c.ref} {c.title}") for c in controls]


class RemediationActionForm(forms.Form):
    description = forms.CharField(max_length=2000, label="Action", widget=forms.TextInput)
    owner = forms.ChoiceField(label="Owner")
    due_date = forms.DateField(widget=DATE, required=False, label="Due date")

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = member_choices(memberships, blank="Choose an owner")


class ActionParamsForm(forms.Form):
    """What a state machine's action may take beside its name: a reason, and an expiry for an acceptance."""

    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput, label="Reason")
    expires_on = forms.DateField(widget=DATE, required=False, label="Accepted until")


class FindingFilterForm(forms.Form):
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False, label="Severity")
    status = forms.ChoiceField(choices=[("", "Any status"), *FindingStatus.choices], required=False, label="Status")
    overdue = forms.BooleanField(required=False, label="Overdue only")


class RiskUpdateForm(forms.Form):
    title = forms.CharField(max_length=200, label="Risk")
    inherent_likelihood = forms.IntegerField(min_value=0, label="Inherent likelihood")
    inherent_impact = forms.IntegerField(min_value=0, label="Inherent impact")
    current_likelihood = forms.IntegerField(min_value=0, label="Current likelihood")
    current_impact = forms.IntegerField(min_value=0, label="Current impact")
    residual_likelihood = forms.IntegerField(min_value=0, label="Residual likelihood")
    residual_impact = forms.IntegerField(min_value=0, label="Residual impact")
    treatment = forms.ChoiceField(choices=Treatment.choices, label="Treatment")
    due_date = forms.DateField(widget=DATE, required=False, label="Due date")


class RiskFilterForm(forms.Form):
    q = forms.CharField(
        required=False, max_length=100, label="Search", widget=forms.TextInput(attrs={"type": "search"})
    )
    register = forms.ChoiceField(required=False, label="Register")
    status = forms.ChoiceField(choices=[("", "Any status"), *RiskStatus.choices], required=False, label="Status")
    category = forms.ChoiceField(required=False, label="Category")

    def __init__(self, *args, registers=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["register"].choices = [("", "All registers")] + [(str(r.pk), r.name) for r in registers]
        self.fields["category"].choices = [("", "Any category")] + [
            (c, c.replace("_", " ").capitalize()) for c in categories
        ]


class UtilizationRangeForm(forms.Form):
    range = forms.ChoiceField(
        choices=[("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days")], required=False
    )
    device = forms.ChoiceField(required=False)

    def __init__(self, *args, devices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].choices = [("", "All devices")] + [(str(d.pk), d.key) for d in devices]


class GrantFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *GrantStatus.choices], required=False, label="Status")


class InvestmentFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *InvestmentStatus.choices], required=False, label="Status")
    instrument = forms.ChoiceField(
        choices=[("", "Any instrument"), *Instrument.choices], required=False, label="Instrument"
    )


class PageSizeForm(forms.Form):
    page_size = forms.ChoiceField(choices=[("A4", "A4"), ("Letter", "US Letter")], required=False, label="Paper")


MILESTONE_ACTIONS = {
    # action: (label, statuses it applies to)
    "start": ("Start work", {MilestoneStatus.PLANNED}),
    "submit": ("Submit for verification", {MilestoneStatus.PLANNED, MilestoneStatus.IN_PROGRESS}),
    "verify": ("Verify", {MilestoneStatus.SUBMITTED}),
    "approve_release": ("Approve release", {MilestoneStatus.VERIFIED}),
}


class CommentForm(forms.Form):
    body = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}), label="Comment")


class AuditLogFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, label="Action")
    actor = forms.ChoiceField(required=False, label="Who")
    object_type = forms.ChoiceField(required=False, label="Object")
    since = forms.DateField(widget=DATE, required=False, label="From")
    until = forms.DateField(widget=DATE, required=False, label="To")

    def __init__(self, *args, choices=None, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = choices or {"actions": [], "object_types": []}
        self.fields["action"].choices = [("", "Any action")] + [(a, a) for a in choices["actions"]]
        self.fields["actor"].choices = [("", "Anyone"), ("system", "govtrack itself")] + [
            (m.user.username, m.user.username) for m in memberships
        ]
        self.fields["object_type"].choices = [("", "Any object")] + [
            (t, t.split(".")[-1].replace("_", " ")) for t in choices["object_types"]
        ]


class RiskCreateForm(forms.Form):
    register = forms.ChoiceField(label="Register")
    title = forms.CharField(max_length=200, label="Risk")
    category = forms.ChoiceField(label="Category")
    owner = forms.ChoiceField(label="Owner")
    inherent_likelihood = forms.IntegerField(min_value=1, label="Inherent likelihood")
    inherent_impact = forms.IntegerField(min_value=1, label="Inherent impact")
    residual_likelihood = forms.IntegerField(min_value=1, required=False, label="Residual likelihood")
    residual_impact = forms.IntegerField(min_value=1, required=False, label="Residual impact")
    treatment = forms.ChoiceField(choices=Treatment.choices, label="Treatment")
    due_date = forms.DateField(widget=DATE, required=False, label="Treatment due")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description")

    def __init__(self, *args, registers=(), categories=(), memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["register"].choices = [(str(r.pk), r.name) for r in registers]
        self.fields["category"].choices = [(c, c.replace("_", " ").capitalize()) for c in categories]
        self.fields["owner"].choices = member_choices(memberships, blank="Choose an owner")


class MitigationForm(forms.Form):
    title = forms.CharField(max_length=300, label="Mitigation")
    owner = forms.ChoiceField(label="Owner")
    due_date = forms.DateField(widget=DATE, required=False, label="Due date")

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = member_choices(memberships, blank="Choose an owner")


class MitigationStatusForm(forms.Form):
    status = forms.ChoiceField(choices=MitigationStatus.choices, label="Status")
