"""Sign-in pages: the password step (with the second step when the account has one) and account security.

Password sign-in that passes does not sign in an account with two-factor on: the session only remembers who is
half-way (for a few minutes, a few tries), and the account is signed in once the second step passes.
"""

import time
from base64 import b32encode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, PasswordResetConfirmView, PasswordResetDoneView
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.core.errors import ApplicationError, NotFound, ValidationFailed
from apps.identity import selectors, services
from apps.identity.forms import ApiTokenForm, CodeForm, PolicyForm
from apps.tenancy import selectors as tenancy_selectors
from apps.tenancy import services as tenancy_services

PENDING_SESSION_KEY = "identity_pending_signin"
PENDING_SECONDS = 300  # the second step must follow the password within five minutes
PENDING_TRIES = 5  # wrong codes before the password has to be entered again


class SignInView(LoginView):
    """Django's sign-in (axes checks the password attempt); accounts with two-factor go on to the code step."""

    def form_valid(self, form):
        user = form.get_user()
        if not selectors.two_factor_enabled(user=user):
            return super().form_valid(form)
        return pending_sign_in_start(self.request, user, next_url=self.get_success_url())

    def get_context_data(self, **kwargs):
        provider = settings.OIDC_PROVIDER_NAME if settings.OIDC_ENABLED else ""
        return super().get_context_data(**kwargs) | {"oidc_provider": provider}


def pending_sign_in_start(request, user, *, next_url: str):
    """The first factor passed (password or single sign-on): remember who, and ask for the code."""
    request.session.cycle_key()
    request.session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "next": next_url,
        "since": time.time(),
        "tries": 0,
    }
    return redirect("two_factor_verify")


def _safe_next(request, candidate: str | None, default: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _codes_page(request, codes: list[str], next_url: str):
    response = render(request, "identity/recovery_codes.html", {"codes": codes, "next": next_url})
    response["Cache-Control"] = "no-store"  # shown once: no browser or proxy keeps a copy
    return response


@never_cache
def two_factor_verify(request):
    pending = request.session.get(PENDING_SESSION_KEY)
    user = None
    if pending and time.time() - pending["since"] <= PENDING_SECONDS:
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING_SESSION_KEY, None)
        messages.info(request, "Sign in with your password first.")
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            method = services.second_factor_check(user=user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            pending["tries"] += 1
            if pending["tries"] >= PENDING_TRIES:
                request.session.pop(PENDING_SESSION_KEY, None)
                messages.error(request, "Too many wrong codes. Sign in with your password again.")
                return redirect("login")
            request.session[PENDING_SESSION_KEY] = pending
            form.add_error("code", error.message)
        else:
            del request.session[PENDING_SESSION_KEY]
            auth_login(request, user, backend=pending["backend"])
            if method == "recovery":
                left = selectors.recovery_codes_left(user=user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. Make new ones on the Account security page.",
                )
            return redirect(pending["next"])
    return render(request, "identity/verify.html", {"form": form})


@never_cache
@login_required
def two_factor_setup(request):
    """Account security: set up an authenticator app, or see the state of the one set up."""
    next_url = _safe_next(request, request.GET.get("next") or request.POST.get("next"), reverse("dashboard:home"))
    required_by = selectors.organizations_requiring_two_factor(user=request.user)
    context = {"next": next_url, "required_by": required_by, "form": CodeForm()}
    if selectors.two_factor_enabled(user=request.user):
        context["codes_left"] = selectors.recovery_codes_left(user=request.user)
        context["owned"] = selectors.organizations_owned_with_policy(user=request.user)
        return render(request, "identity/security.html", context)
    device = services.totp_enrolment_start(user=request.user)
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            try:
                codes = services.totp_enrolment_confirm(user=request.user, code=form.cleaned_data["code"])
            except ValidationFailed as error:
                form.add_error("code", error.message)
            else:
                return _codes_page(request, codes, next_url)
        context["form"] = form
    secret = b32encode(device.bin_key).decode("ascii")
    context |= {
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(
            scale=5, border=4, svgclass="qr", title="QR code for your authenticator app"
        ),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
    }
    return render(request, "identity/enrol.html", context)


@never_cache
@login_required
@require_POST
def recovery_codes_regenerate(request):
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            codes = services.recovery_codes_regenerate(user=request.user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            messages.error(request, error.message)
        else:
            return _codes_page(request, codes, reverse("two_factor_setup"))
    return redirect("two_factor_setup")


@login_required
@require_POST
def two_factor_disable(request):
    form = CodeForm(request.POST)
    if form.is_valid():
        try:
            services.two_factor_disable(user=request.user, code=form.cleaned_data["code"])
        except ValidationFailed as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Two-factor sign-in is off.")
    return redirect("two_factor_setup")


@login_required
@require_POST
def two_factor_policy_change(request, pk):
    """An owner's switch on the Account security page; the same service as the API's PATCH."""
    try:
        organization = tenancy_selectors.organization_get(user=request.user, pk=pk)
    except NotFound as error:
        raise Http404(error.message) from None
    form = PolicyForm(request.POST)
    form.is_valid()
    required = form.cleaned_data.get("required", False)
    try:
        services.two_factor_policy_set(organization=organization, required=required, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        state = "must now use" if required else "no longer have to use"
        messages.success(request, f"Members of {organization.name} {state} two-factor sign-in.")
    return redirect("two_factor_setup")


class PasswordResetSentView(PasswordResetDoneView):
    """The same page for every address, known or not: the form tells nobody which addresses have accounts."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {"timeout_hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600)}


class PasswordResetSetView(PasswordResetConfirmView):
    """Django's reset link check and new-password form; the change is audited in the same transaction."""

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            services.password_reset_record(user=form.user)
        return response


@never_cache
@login_required
def api_tokens(request):
    """Your API tokens: create one (its secret shown once, on this answer only), see them all, revoke one.

    Only a signed-in browser session gets here (`login_required`; tokens do not authenticate pages), so a token
    never mints another.
    """
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = tenancy_services.api_token_create(user=request.user, **form.cleaned_data)
        except ValidationFailed as error:
            for field, field_messages in error.extra.get("fields", {}).items():
                for message in field_messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            created = {"token": token, "secret": secret}
            form = ApiTokenForm()
    tokens = tenancy_selectors.api_token_list(user=request.user)
    return render(request, "identity/tokens.html", {"form": form, "created": created, "tokens": tokens})


@login_required
@require_POST
def api_token_revoke(request, pk):
    try:
        token = tenancy_selectors.api_token_get(user=request.user, pk=pk)
    except NotFound:
        raise Http404("API token not found.") from None
    tenancy_services.api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Token '{token.name}' is revoked: requests with it now get a 401.")
    return redirect("api_tokens")
