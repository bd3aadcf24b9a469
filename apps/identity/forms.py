from django import forms


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        strip=True,
        label="Code",
        help_text="The six digits your authenticator app shows, or one of your recovery codes.",
    )


class PolicyForm(forms.Form):
    required = forms.BooleanField(required=False)
