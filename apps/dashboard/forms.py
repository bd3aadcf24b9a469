"""Django forms that parse the dashboard's posts. They only parse: the rules live in each app's services, whose
ApplicationError is put back on the form (`service_error_to_form`) next to the field it names."""

from django import forms

from apps.compliance.models import AssessmentResult, FindingStatus, Severity
from apps.core.errors import ApplicationError
from apps.core.money import CURRENCY_CODES
from apps.funding.models import (
    BudgetCategory,
    FocusArea,
    GrantStatus,
    Instrument,
    InvestmentStatus,
    KpiMetric,
    ReportingFrequency,
)
from apps.risks.models import MitigationStatus, RiskStatus, Treatment

DATE = forms.DateInput(attrs={"type": "date"})
# ISO 4217 codes, the most used first, then every other one (apps.core.money checks the same list).
COMMON_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK")
CURRENCY_CHOICES = [(code, code) for code in COMMON_CURRENCIES] + [
    (code, code) for code in sorted(CURRENCY_CODES) if code not in COMMON_CURRENCIES
]


class DashboardForm(forms.Form):
    """Labels as written ("Due date", never Django's "Due date:")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


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


class GrantCreateForm(DashboardForm):
    funder = forms.ChoiceField(label="Funder")
    title = forms.CharField(max_length=300, label="Title")
    program = forms.CharField(max_length=300, required=False, label="Programme")
    reference = forms.CharField(max_length=100, required=False, label="Funder's reference")
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="EUR", label="Currency", help_text="ISO 4217.")
    amount_requested = forms.DecimalField(label="Amount requested", min_value=0, decimal_places=2, max_digits=18)
    period_start = forms.DateField(widget=DATE, label="Period start")
    period_end = forms.DateField(widget=DATE, label="Period end")
    focus_areas = forms.MultipleChoiceField(
        choices=FocusArea.choices, required=False, widget=forms.CheckboxSelectMultiple, label="Focus areas"
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Description")

    def __init__(self, *args, funders=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["funder"].choices = [("", "Choose a funder")] + [(str(f.pk), f.name) for f in funders]


class MilestoneCreateForm(DashboardForm):
    title = forms.CharField(max_length=300, label="Title")
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18, label="Amount")
    due_date = forms.DateField(widget=DATE, label="Due date")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Description")
    criterion = forms.CharField(
        max_length=500,
        required=False,
        label="Manual criterion (optional)",
        help_text="Approved by an owner, e.g. “Pilot report accepted by the programme officer”.",
    )


class EvidenceForm(DashboardForm):
    file = forms.FileField(help_text="PDF, PNG, JPEG, XLSX, CSV, TXT or JSON.", label="File")
    description = forms.CharField(max_length=500, required=False, label="Description")


class AssessmentEvidenceForm(DashboardForm):
    file = forms.FileField(help_text="PDF, PNG, JPEG, XLSX, CSV, TXT or JSON.", label="Evidence file")


class KpiReadingForm(DashboardForm):
    metric = forms.ChoiceField(choices=KpiMetric.choices, label="Metric")
    value = forms.DecimalField(max_digits=24, decimal_places=6, label="Value")
    unit = forms.CharField(max_length=20, required=False, label="Unit", help_text="e.g. EUR, ms, %.")
    period_start = forms.DateField(widget=DATE, label="Period start")
    period_end = forms.DateField(widget=DATE, label="Period end")
    source = forms.CharField(
        max_length=100, initial="dashboard", label="Source", help_text="Where the value comes from."
    )
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput, label="Note")


class NoteForm(DashboardForm):
    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput, label="Note")


class ReasonForm(DashboardForm):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.TextInput,
        label="Reason",
        error_messages={"required": "Say why: a reason is required for this step."},
    )


class AwardForm(DashboardForm):
    amount_awarded = forms.DecimalField(label="Amount awarded", min_value=0, decimal_places=2, max_digits=18)


class DisbursementForm(DashboardForm):
    milestone = forms.ChoiceField(label="Milestone")
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18, label="Amount")
    paid_on = forms.DateField(widget=DATE, label="Paid on")
    reference = forms.CharField(
        max_length=200, required=False, label="Reference", help_text="Bank reference or transaction hash."
    )

    def __init__(self, *args, milestones=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["milestone"].choices = [(str(m.pk), f"{m.title} ({m.amount} {m.currency})") for m in milestones]


class AssessmentForm(DashboardForm):
    result = forms.ChoiceField(choices=AssessmentResult.choices, label="Result")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Notes")


def member_choices(memberships, *, blank: str = "") -> list[tuple[str, str]]:
    """The organization's people by username (what the services take), labelled with their role."""
    choices = [("", blank)] if blank else []
    return choices + [(m.user.username, f"{m.user.username} ({m.get_role_display().lower()})") for m in memberships]


class FindingForm(DashboardForm):
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


class RemediationActionForm(DashboardForm):
    description = forms.CharField(max_length=2000, label="Action", widget=forms.TextInput)
    owner = forms.ChoiceField(label="Owner")
    due_date = forms.DateField(widget=DATE, required=False, label="Due date")

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = member_choices(memberships, blank="Choose an owner")


class ActionParamsForm(DashboardForm):
    """What a state machine's action may take beside its name: a reason, an expiry for an acceptance, the amount of
    an award, the outcome of a dispute. Whether the step needs them is its machine's (a missing reason the step
    requires, or an award without an amount, is refused by the engine naming the field)."""

    note = forms.CharField(max_length=2000, required=False, widget=forms.TextInput, label="Reason")
    expires_on = forms.DateField(widget=DATE, required=False, label="Accepted until")
    amount_awarded = forms.DecimalField(
        required=False, min_value=0, decimal_places=2, max_digits=18, label="Amount awarded"
    )
    outcome = forms.ChoiceField(
        choices=[("resubmit", "Back to review"), ("missed", "Missed")], required=False, label="Outcome"
    )

    def params(self) -> dict:
        """The parameters given, for the step's service (the note is its reason)."""
        return {k: v for k, v in self.cleaned_data.items() if k != "note" and v not in (None, "")}


class MilestoneAmendForm(DashboardForm):
    """The planned fields of a milestone not yet verified. For an escrowed one the amount and due date are the
    contract's: shown read-only, and a change posted anyway is the service's to refuse, with its reason."""

    title = forms.CharField(max_length=300, label="Title")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label="Description")
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18, label="Amount")
    due_date = forms.DateField(widget=DATE, label="Due date")

    def __init__(self, *args, milestone, escrowed: bool = False, **kwargs):
        initial = {name: getattr(milestone, name) for name in ("title", "description", "amount", "due_date")}
        super().__init__(*args, initial=initial, prefix=f"amend-{milestone.pk}", **kwargs)
        self.escrowed = escrowed
        if escrowed:
            for name in ("amount", "due_date"):
                self.fields[name].widget.attrs["readonly"] = True
                self.fields[name].help_text = "Held in the escrow contract: it cannot change."

    def changes(self) -> dict:
        """Only the fields the person changed."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


class FindingFilterForm(DashboardForm):
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False, label="Severity")
    status = forms.ChoiceField(choices=[("", "Any status"), *FindingStatus.choices], required=False, label="Status")
    overdue = forms.BooleanField(required=False, label="Overdue only")


class RiskUpdateForm(DashboardForm):
    title = forms.CharField(max_length=200, label="Risk")
    inherent_likelihood = forms.IntegerField(min_value=0, label="Inherent likelihood")
    inherent_impact = forms.IntegerField(min_value=0, label="Inherent impact")
    current_likelihood = forms.IntegerField(min_value=0, label="Current likelihood")
    current_impact = forms.IntegerField(min_value=0, label="Current impact")
    residual_likelihood = forms.IntegerField(min_value=0, label="Residual likelihood")
    residual_impact = forms.IntegerField(min_value=0, label="Residual impact")
    treatment = forms.ChoiceField(choices=Treatment.choices, label="Treatment")
    due_date = forms.DateField(widget=DATE, required=False, label="Due date")


class RiskFilterForm(DashboardForm):
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


class UtilizationRangeForm(DashboardForm):
    range = forms.ChoiceField(
        choices=[("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days")],
        required=False,
        label="Range",
    )
    device = forms.ChoiceField(required=False, label="Device")

    def __init__(self, *args, devices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].choices = [("", "All devices")] + [(str(d.pk), d.key) for d in devices]


class GrantFilterForm(DashboardForm):
    status = forms.ChoiceField(choices=[("", "Any status"), *GrantStatus.choices], required=False, label="Status")


class InvestmentFilterForm(DashboardForm):
    status = forms.ChoiceField(choices=[("", "Any status"), *InvestmentStatus.choices], required=False, label="Status")
    instrument = forms.ChoiceField(
        choices=[("", "Any instrument"), *Instrument.choices], required=False, label="Instrument"
    )


class PageSizeForm(DashboardForm):
    page_size = forms.ChoiceField(choices=[("A4", "A4"), ("Letter", "US Letter")], required=False, label="Paper")


class CommentForm(DashboardForm):
    body = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}), label="Comment")


class AuditLogFilterForm(DashboardForm):
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


class RiskCreateForm(DashboardForm):
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


class MitigationForm(DashboardForm):
    title = forms.CharField(max_length=300, label="Mitigation")
    owner = forms.ChoiceField(label="Owner")
    due_date = forms.DateField(widget=DATE, required=False, label="Due date")

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = member_choices(memberships, blank="Choose an owner")


class MitigationStatusForm(DashboardForm):
    status = forms.ChoiceField(choices=MitigationStatus.choices, label="Status")


# --- budget and reporting (apps/dashboard/views/budget.py) ----------------------------------------------------------


def _line_choices(lines: list[dict]) -> list[tuple[str, str]]:
    """`lines`: apps.dashboard.budget_work.line_options, or the page's plan rows (id, name, budget, currency)."""
    return [(str(line["id"]), f"{line['name']} ({line['budget']} {line['currency']})") for line in lines]


class BudgetWorkForm(DashboardForm):
    """The budget section shares the grant page with other forms: ids of its own (`id_amount` is the milestone's)."""

    prefix_id = "budget_%s"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", self.prefix_id)
        super().__init__(*args, **kwargs)


class BudgetLineForm(BudgetWorkForm):
    prefix_id = "line_%s"
    category = forms.ChoiceField(choices=BudgetCategory.choices, label="Category")
    name = forms.CharField(max_length=200, label="Line")
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18, label="Budget")


class ExpenseForm(BudgetWorkForm):
    prefix_id = "expense_%s"
    budget_line = forms.ChoiceField(label="Budget line")
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18, label="Amount spent")
    spent_on = forms.DateField(widget=DATE, label="Spent on")
    description = forms.CharField(max_length=300, label="What it paid for")
    reference = forms.CharField(max_length=200, required=False, label="Invoice or payroll reference")

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["budget_line"].choices = _line_choices(lines)


class AmendmentForm(BudgetWorkForm):
    prefix_id = "realloc_%s"
    from_line = forms.ChoiceField(label="Move from")
    to_line = forms.ChoiceField(label="Move to")
    amount = forms.DecimalField(min_value=0, decimal_places=2, max_digits=18, label="Amount to move")
    reason = forms.CharField(max_length=2000, widget=forms.TextInput, label="Why")

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_line"].choices = self.fields["to_line"].choices = _line_choices(lines)


class ScheduleForm(BudgetWorkForm):
    prefix_id = "schedule_%s"
    frequency = forms.ChoiceField(
        choices=[c for c in ReportingFrequency.choices if c[0] != ReportingFrequency.CUSTOM], label="Reports every"
    )
    due_days = forms.IntegerField(min_value=0, max_value=365, initial=30, label="Due days after the period ends")


class PeriodSubmitForm(DashboardForm):
    narrative = forms.CharField(
        max_length=50_000, widget=forms.Textarea(attrs={"rows": 5}), label="Narrative", required=False
    )


class PeriodAttachmentForm(DashboardForm):
    file = forms.FileField(label="Attachment")


# --- escrow (apps/dashboard/views/escrow.py) ------------------------------------------------------------------------

APPROVER_KINDS = ("govtrack", "eoa", "safe")


class EscrowAgreementForm(DashboardForm):
    """What an agreement takes from a person: the stablecoin, who is paid, who approves and how many must. The
    approvers are one per line, `govtrack` (govtrack's signer), `eoa 0x…` or `safe 0x…`; the service checks each
    address (and reads a Safe's owners on chain)."""

    token = forms.ChoiceField(label="Stablecoin")
    beneficiary_address = forms.CharField(max_length=42, label="Beneficiary address", help_text="Who is paid.")
    approvers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Approvers",
        help_text="One per line: govtrack, eoa 0x…, or safe 0x…. Empty: govtrack's signer alone.",
    )
    threshold = forms.IntegerField(min_value=1, max_value=16, initial=1, label="Approvals needed")

    def __init__(self, *args, tokens=(), **kwargs):
        kwargs.setdefault("auto_id", "escrow_%s")
        super().__init__(*args, **kwargs)
        self.fields["token"].choices = [(str(t.pk), f"{t.symbol} ({t.currency}, {t.address})") for t in tokens]

    def clean_approvers(self) -> list[dict] | None:
        lines = [line.split() for line in self.cleaned_data["approvers"].splitlines() if line.strip()]
        approvers = []
        for number, words in enumerate(lines, start=1):
            if words == ["govtrack"]:
                approvers.append({"kind": "govtrack"})
            elif len(words) == 2 and words[0] in ("eoa", "safe"):
                approvers.append({"kind": words[0], "address": words[1]})
            else:
                raise forms.ValidationError(f"Line {number}: write govtrack, eoa 0x…, or safe 0x….")
        return approvers or None
