"""Signing in and picking a tenant (the dashboard itself is the ``dashboard`` app)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login, password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.models import AbstractBaseUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from vmcp_platform.errors import ApplicationError, NotFound

from .invitations import invitation_accept, invitation_for_token, invitation_needs_password
from .selectors import memberships_for_user


class EmailAuthenticationForm(AuthenticationForm):
    """The sign-in form speaks of the e-mail address people type, not of a "username"."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail and password do not match an account. Both are "
        "case-sensitive.",
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(memberships_for_user(user=request.user))
    if len(memberships) == 1:
        return redirect("dashboard:home", tenant=memberships[0].tenant.slug)
    return render(request, "tenants/switcher.html", {"memberships": memberships})


class InvitationPasswordForm(forms.Form):
    password1 = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """Open an invitation: set a password (or sign in) and join the tenant."""
    try:
        invitation = invitation_for_token(token=token)
    except NotFound as exc:
        return render(
            request, "tenants/invitation_invalid.html", {"message": exc.message}, status=404
        )
    needs_password = invitation_needs_password(invitation)
    form = InvitationPasswordForm(request.POST or None) if needs_password else None
    status = 200
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            membership = invitation_accept(
                token=token,
                password=form.cleaned_data["password1"] if form is not None else None,
                user=request.user if request.user.is_authenticated else None,
            )
        except ApplicationError as exc:
            if form is None:
                return render(
                    request, "tenants/invitation_invalid.html", {"message": exc.message}, status=400
                )
            form.add_error("password1", exc.message)
        else:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("dashboard:home", tenant=membership.tenant.slug)
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "tenants/invitation.html",
        {
            "invitation": invitation,
            "form": form,
            "signed_in_as_invitee": request.user.is_authenticated
            and request.user.get_username() == invitation.email,
            "reset_enabled": settings.VMCP_EMAIL_ENABLED,
        },
        status=status,
    )


class EmailPasswordResetForm(PasswordResetForm):
    """Also mails members who never set a password (added by e-mail): the mailbox proves them.

    Django skips accounts without a usable password; here that is exactly the member added by
    e-mail, whose only safe way to a first password is this link (not an inviter's link).
    """

    def get_users(self, email: str) -> Iterator[AbstractBaseUser]:
        User = get_user_model()
        field = User.get_email_field_name()
        return iter(User._default_manager.filter(**{f"{field}__iexact": email, "is_active": True}))


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset-by-e-mail, only where mail can go out (or to the console in development)."""

    form_class = EmailPasswordResetForm
    template_name = "tenants/password_reset_form.html"
    email_template_name = "tenants/password_reset_email.txt"
    subject_template_name = "tenants/password_reset_subject.txt"

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not settings.VMCP_EMAIL_ENABLED:
            raise Http404("Password reset by e-mail is not configured.")
        return super().dispatch(request, *args, **kwargs)

    def get_extra_email_context(self) -> dict:
        # The link points at the public address, whatever Host the request came with.
        parsed = urlparse(settings.PUBLIC_BASE_URL)
        return {"protocol": parsed.scheme, "domain": parsed.netloc}
