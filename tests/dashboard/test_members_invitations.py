"""Joining a tenant by invitation link, and getting back in by a password-reset e-mail."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django_tenants.utils import tenant_context

from tests.conftest import PASSWORD
from tests.dashboard.conftest import client_for

BASE = "/t/acme/dashboard"


def _invite(email: str, role: str | None = None) -> str:
    data = {"action": "invite", "email": email, "role": role or "admin"}
    html = client_for("alice").post(f"{BASE}/settings/members/", data).content.decode()
    return re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', html)[1]


def test_the_invite_form_defaults_to_admin(furnished):
    html = client_for("alice").get(f"{BASE}/settings/members/").content.decode()
    assert re.search(r'<option value="admin" selected>', html)


def test_an_invitee_sets_a_password_joins_once_and_it_is_audited(furnished, acme):
    from audit.models import AuditEvent
    from tenants.models import Membership

    url = _invite("frank@acme.test")
    assert url.startswith("http") and "/invite/vmcp_iv_" in url
    path = url.split("//", 1)[1].split("/", 1)[1]
    assert mail.outbox and url in mail.outbox[-1].body  # console/locmem mail in development
    frank = Client()
    page = frank.get(f"/{path}").content.decode()
    assert "frank@acme.test" in page and "admin" in page
    mismatch = frank.post(f"/{path}", {"password1": "x-Secret-9876", "password2": "other"})
    assert mismatch.status_code == 400
    joined = frank.post(f"/{path}", {"password1": "x-Secret-9876", "password2": "x-Secret-9876"})
    assert joined.status_code == 302 and joined["Location"] == f"{BASE}/"
    assert Membership.objects.get(tenant=acme, user__username="frank@acme.test").role == "admin"
    assert Client().login(username="frank@acme.test", password="x-Secret-9876")
    # Single use: the same link is dead now.
    again = Client().get(f"/{path}")
    assert again.status_code == 404 and "already used" in again.content.decode()
    with tenant_context(acme):
        actions = [
            e.extra.get("action")
            for e in AuditEvent.objects.filter(event_type="member.changed").order_by("id")
        ]
    assert actions == ["invited", "joined"]


def test_an_expired_or_revoked_invitation_does_nothing(furnished, acme):
    from django.utils import timezone

    from tenants.models import Invitation, Membership

    url = _invite("gina@acme.test", "auditor")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    Invitation.objects.filter(email="gina@acme.test").update(expires_at=timezone.now())
    posted = Client().post(path, {"password1": "x-Secret-9876", "password2": "x-Secret-9876"})
    assert posted.status_code == 404
    assert not Membership.objects.filter(user__username="gina@acme.test").exists()

    url = _invite("hugo@acme.test")
    invitation = Invitation.objects.get(email="hugo@acme.test")
    client_for("alice").post(
        f"{BASE}/settings/invitations/{invitation.pk}/revoke/", {"confirm": "yes"}
    )
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    assert Client().get(path).status_code == 404
    assert Client().get("/invite/vmcp_iv_not-a-token/").status_code == 404


def test_an_existing_account_signs_in_to_accept(furnished, globex):
    from tenants.models import Membership

    # carol (globex owner) has a password already: she signs in rather than setting one.
    url = _invite("carol@globex.test", "auditor")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    assert 'id="sign-in-to-accept"' in Client().get(path).content.decode()
    carol = client_for("carol")
    assert carol.post(path).status_code == 302
    assert Membership.objects.get(tenant__slug="acme", user__username="carol@globex.test").role == (
        "auditor"
    )


def test_inviting_a_member_is_refused_next_to_the_field(furnished):
    html = client_for("alice").post(
        f"{BASE}/settings/members/", {"action": "invite", "email": "bob@acme.test", "role": "admin"}
    )
    assert html.status_code == 400 and "Already a member" in html.content.decode()


def test_the_last_owner_is_offered_no_remove_button(furnished, acme):
    from tenants.models import Membership

    alice = Membership.objects.get(tenant=acme, user__username="alice@acme.test")
    bob = Membership.objects.get(tenant=acme, user__username="bob@acme.test")
    html = client_for("alice").get(f"{BASE}/settings/members/").content.decode()
    assert f"/settings/members/{alice.pk}/remove/" not in html
    assert f"/settings/members/{bob.pk}/remove/" in html


def test_password_reset_by_e_mail_link(furnished):
    client = Client()
    assert 'id="forgot-password"' in client.get("/login/").content.decode()
    sent = client.post("/password-reset/", {"email": "bob@acme.test"})
    assert sent.status_code == 302
    (message,) = mail.outbox
    link = re.search(r"https?://[^/\s]+(/password-reset/\S+/)", message.body)[1]
    form = client.get(link, follow=True)
    assert 'id="set-password"' in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "n3w-Password!42", "new_password2": "n3w-Password!42"},
        follow=True,
    )
    assert 'id="reset-complete"' in done.content.decode()
    assert Client().login(username="bob@acme.test", password="n3w-Password!42")
    assert not Client().login(username="bob@acme.test", password=PASSWORD)
    # The link worked once.
    assert 'id="reset-invalid"' in client.get(link, follow=True).content.decode()


def test_an_invitation_cannot_set_the_password_of_another_tenants_member(furnished, globex):
    """Acme's owner invites a globex member who never signed in: no password from her link."""
    from tenants.models import Membership
    from tenants.services import membership_change

    membership_change(tenant=globex, email="gus@globex.test", role="admin", actor="user:carol")
    url = _invite("gus@globex.test", "owner")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    attacker = Client()  # alice, holding her copy of the link, not signed in as gus
    page = attacker.get(path).content.decode()
    assert 'id="sign-in-to-accept"' in page and 'name="password1"' not in page
    posted = attacker.post(path, {"password1": "x-Secret-9876", "password2": "x-Secret-9876"})
    assert posted.status_code == 400
    assert not Client().login(username="gus@globex.test", password="x-Secret-9876")
    assert not Membership.objects.filter(tenant__slug="acme", user__username="gus@globex.test")
    # The service refuses too, whatever the page offered.
    from tenants.invitations import invitation_accept
    from vmcp_platform.errors import ValidationFailed

    token = path.rstrip("/").rsplit("/", 1)[1]
    try:
        invitation_accept(token=token, password="x-Secret-9876")
    except ValidationFailed as exc:
        assert exc.details == {"reason": "sign_in_required"}
    else:
        raise AssertionError("an existing account's password was set by an invitation")
    assert not Client().login(username="gus@globex.test", password="x-Secret-9876")


def test_a_member_added_without_password_gets_one_by_e_mail(furnished, globex):
    from tenants.services import membership_change

    membership_change(tenant=globex, email="gus@globex.test", role="admin", actor="user:carol")
    assert Client().post("/password-reset/", {"email": "gus@globex.test"}).status_code == 302
    (message,) = mail.outbox
    assert message.to == ["gus@globex.test"] and "/password-reset/" in message.body


def test_setting_up_a_tenant_keeps_an_existing_accounts_credentials(furnished, globex):
    from tenants.services import membership_change, user_get_or_create

    membership_change(tenant=globex, email="gus@globex.test", role="admin", actor="user:carol")
    user = user_get_or_create(email="gus@globex.test", password="x-Secret-9876")
    assert not user.has_usable_password()
