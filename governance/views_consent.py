"""Self-service consent (M8.3): the "Consent" section of /me/ and its form handler.

The section lists every purpose offered, the consent text and its version,
whether the employee's consent is in force, and their whole consent history.
Giving and withdrawing are POSTs to :func:`consent_action` (CSRF-protected),
which calls ``governance.consent`` and redirects back to the section
(POST-redirect-GET). Employees act only on their own record.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from governance import consent, permissions
from governance import views as selfservice
from governance.models import ConsentPurpose
from governance.selectors import OwnProfile


class ConsentActionForm(forms.Form):
    action = forms.ChoiceField(choices=[("give", "give"), ("withdraw", "withdraw")])
    purpose = forms.SlugField(max_length=48)
    text_version = forms.IntegerField(required=False, min_value=1)
    agree = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("action") == "give" and not data.get("agree"):
            raise ValidationError(
                "Tick the box to confirm you read the consent text and agree."
            )
        if data.get("action") == "give" and not data.get("text_version"):
            raise ValidationError(
                "The consent text version is missing; reload the page."
            )
        return data


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("selfservice:home") + "#consent")


@login_required
@require_POST
def consent_action(request: HttpRequest) -> HttpResponse:
    person = permissions.person_of(request.user)
    if person is None:
        raise PermissionDenied("No employee record is linked to your account.")
    form = ConsentActionForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() or ["The form was incomplete."]:
            messages.error(request, error)
        return _back()
    data = form.cleaned_data
    purpose = ConsentPurpose.objects.filter(code=data["purpose"]).first()
    if purpose is None:
        messages.error(request, "No such consent purpose.")
        return _back()
    try:
        if data["action"] == "give":
            consent.give_consent(
                actor=request.user,
                person=person,
                purpose=purpose,
                text_version=data["text_version"],
            )
            messages.success(
                request,
                f"Thank you: your consent to “{purpose.name}” is recorded. You can "
                "withdraw it here at any time.",
            )
        else:
            consent.withdraw_consent(actor=request.user, person=person, purpose=purpose)
            messages.success(
                request,
                f"Your consent to “{purpose.name}” is withdrawn: nothing more is "
                "recorded about you for it, and figures computed from now on leave "
                "you out.",
            )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return _back()


def _section_context(request: HttpRequest, profile: OwnProfile) -> dict[str, Any]:
    return {"states": consent.own_consents(profile.person)}


selfservice.register_section(
    selfservice.Section(
        key="consent",
        title="Consent",
        template="governance/selfservice/sections/consent.html",
        order=35,
        context=_section_context,
    )
)
