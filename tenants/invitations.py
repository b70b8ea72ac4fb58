"""Member invitations: a single-use, expiring link by which someone joins a tenant.

The owner invites an e-mail address with a role (admin unless chosen otherwise); the link is
shown once (and mailed where e-mail is configured). Opening it, the invitee sets a password
(or, with an account that already has one, signs in) and becomes a member. Creating, accepting
and revoking are each audited in the tenant's trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from vmcp_platform import tokens
from vmcp_platform.errors import Conflict, NotFound, ValidationFailed

from .models import Invitation, Membership, Tenant
from .services import _audit, membership_set

INVITATION_DAYS = 7


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    url: str  # holds the secret: shown once, never stored
    mailed: bool


def invitation_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("invitation", kwargs={"token": token})


def invitation_create(
    *, tenant: Tenant, email: str, role: str = Membership.Role.ADMIN, actor: str
) -> CreatedInvitation:
    """Invite ``email`` as ``role``; refused for someone who is already a member."""
    User = get_user_model()
    email = User.objects.normalize_email(email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        raise ValidationFailed(
            "A valid e-mail address is required.", details={"fields": {"email": "Enter an e-mail."}}
        )
    if role not in Membership.Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}.",
            details={"fields": {"role": "Choose owner, admin or auditor."}},
        )
    if Membership.objects.filter(tenant=tenant, user__username=email).exists():
        raise Conflict(
            f"{email} is already a member; change their role in the table instead.",
            details={"fields": {"email": "Already a member."}},
        )
    secret = tokens.generate(tokens.INVITATION_PREFIX)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            token_hash=tokens.hash_token(secret),
            created_by=actor,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        _audit(
            tenant,
            "member.changed",
            actor=actor,
            extra={
                "action": "invited",
                "member": email,
                "to": role,
                "invitation_id": invitation.pk,
            },
        )
    url = invitation_url(secret)
    mailed = False
    if settings.VMCP_EMAIL_ENABLED:
        send_mail(
            subject=f"You are invited to {tenant.name} on vmcp",
            message=f"You have been invited to {tenant.name} as {role}.\n\n"
            f"Open this link to set your password and sign in (valid {INVITATION_DAYS} days, "
            f"once):\n{url}\n",
            from_email=None,
            recipient_list=[email],
            fail_silently=True,
        )
        mailed = True
    return CreatedInvitation(invitation=invitation, url=url, mailed=mailed)


def invitations_pending(*, tenant: Tenant) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        tenant=tenant,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).order_by("-created_at")


def invitation_for_token(*, token: str) -> Invitation:
    """The pending invitation this link names; NotFound for anything else (used, expired...)."""
    if not tokens.is_well_formed(token, tokens.INVITATION_PREFIX):
        raise NotFound("This invitation link is not valid.")
    invitation = (
        Invitation.objects.select_related("tenant")
        .filter(token_hash=tokens.hash_token(token))
        .first()
    )
    if invitation is None or not invitation.pending:
        raise NotFound("This invitation link has expired or was already used.")
    return invitation


def invitation_needs_password(invitation: Invitation) -> bool:
    """Only an address with no account yet sets a password here; any existing account signs in.

    The inviter sees (and may keep) the link, so letting it set the password of an existing
    account - even one that never had a password, such as a member added by e-mail elsewhere -
    would let one tenant's owner take over a user of another tenant.
    """
    return not get_user_model().objects.filter(username=invitation.email).exists()


def _invitee_create(*, email: str, password: str) -> AbstractBaseUser:
    """Create the invitee's account; never touch one that exists (it must sign in instead)."""
    try:
        with transaction.atomic():  # a savepoint: a concurrent creation loses cleanly
            return get_user_model().objects.create_user(
                username=email, email=email, password=password
            )
    except IntegrityError:
        raise ValidationFailed(
            f"Sign in as {email} to accept this invitation.",
            details={"reason": "sign_in_required"},
        ) from None


def invitation_accept(
    *, token: str, password: str | None = None, user: AbstractBaseUser | None = None
) -> Membership:
    """Join with the link: either set a password (new account) or as the signed-in ``user``."""
    with transaction.atomic():
        invitation = invitation_for_token(token=token)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not invitation.pending:
            raise NotFound("This invitation link has expired or was already used.")
        if invitation_needs_password(invitation):
            if not password:
                raise ValidationFailed(
                    "Choose a password.", details={"fields": {"password1": "Choose a password."}}
                )
            candidate = get_user_model()(username=invitation.email, email=invitation.email)
            try:
                password_validation.validate_password(password, candidate)
            except DjangoValidationError as exc:
                raise ValidationFailed(
                    " ".join(exc.messages),
                    details={"fields": {"password1": " ".join(exc.messages)}},
                ) from None
            member = _invitee_create(email=invitation.email, password=password)
        else:
            if user is None or user.get_username() != invitation.email:
                raise ValidationFailed(
                    f"Sign in as {invitation.email} to accept this invitation.",
                    details={"reason": "sign_in_required"},
                )
            member = user
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        existing = Membership.objects.filter(tenant=invitation.tenant, user=member).first()
        membership = existing or membership_set(
            tenant=invitation.tenant, user=member, role=invitation.role
        )
        _audit(
            invitation.tenant,
            "member.changed",
            actor=f"user:{invitation.email}",
            extra={
                "action": "joined",
                "member": invitation.email,
                "from": None,
                "to": membership.role,
                "invitation_id": invitation.pk,
            },
        )
    return membership


def invitation_revoke(*, tenant: Tenant, invitation_id: int, actor: str) -> None:
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update().filter(tenant=tenant, pk=invitation_id).first()
        )
        if invitation is None or not invitation.pending:
            raise NotFound("No such pending invitation.", details={"id": invitation_id})
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        _audit(
            tenant,
            "member.changed",
            actor=actor,
            extra={
                "action": "invitation_revoked",
                "member": invitation.email,
                "invitation_id": invitation.pk,
            },
        )
