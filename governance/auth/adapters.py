"""allauth adapters: no self sign-up, encrypted TOTP secrets, SSO by known email."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect

from governance import permissions
from governance.crypto import store
from governance.crypto.keyring import SYSTEM_SUBJECT, open_sealed, seal

_MFA_AAD = b"allauth.mfa.secret|" + SYSTEM_SUBJECT.bytes


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: Any) -> bool:
        return False  # accounts are provisioned by HR, never self-created


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets are sealed with the system data key, never stored in clear."""

    def encrypt(self, text: str) -> str:
        return seal(store.key_for(SYSTEM_SUBJECT, create=True), text.encode(), _MFA_AAD)

    def decrypt(self, encrypted_text: str) -> str:
        return open_sealed(
            store.key_for(SYSTEM_SUBJECT, create=False), encrypted_text, _MFA_AAD
        ).decode()

    def can_delete_authenticator(self, authenticator: Any) -> bool:
        """A privileged user may not remove their last second factor."""
        from allauth.mfa.models import Authenticator

        user = authenticator.user
        if not (
            settings.MFA_REQUIRED_FOR_PRIVILEGED and permissions.is_privileged(user)
        ):
            return True
        others = (
            Authenticator.objects.filter(
                user=user,
                type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN],
            )
            .exclude(pk=authenticator.pk)
            .exists()
        )
        return others


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO signs in existing accounts only, matched by the IdP's email."""

    def is_open_for_signup(self, request: Any, sociallogin: Any) -> bool:
        return False

    def pre_social_login(self, request: Any, sociallogin: Any) -> None:
        if sociallogin.is_existing:
            return
        # Only an address the identity provider vouches for may claim an account.
        verified = {
            address.email.strip().lower()
            for address in sociallogin.email_addresses
            if address.verified and address.email
        }
        email = (sociallogin.user.email or "").strip()
        matches = (
            list(
                get_user_model().objects.filter(email__iexact=email, is_active=True)[:2]
            )
            if email and email.lower() in verified
            else []
        )
        # Two accounts sharing an address are ambiguous: refuse rather than guess.
        user = matches[0] if len(matches) == 1 else None
        if user is None:
            messages.error(
                request,
                "No active portal account matches your SSO identity. Ask HR for access.",
            )
            raise ImmediateHttpResponse(redirect("account_login"))
        sociallogin.connect(request, user)
