from django import forms

from apps.tenancy.models import TokenScope


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        strip=True,
        label="Code",
        help_text="The six digits your authenticator app shows, or one of your recovery codes.",
    )


class PolicyForm(forms.Form):
    required = forms.BooleanField(required=False)


class ApiTokenForm(forms.Form):
    """A new API token: the service (apps/tenancy/services.py, api_token_create) checks the name, scope and days."""

    name = forms.CharField(max_length=100, help_text="The tool that will use it, e.g. ledger-sync.")
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ_ONLY,
        help_text="Read-only tokens may only read (GET); read-write ones may do what your roles allow.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", min_value=1, max_value=365, initial=90, help_text="At most 365 days."
    )
