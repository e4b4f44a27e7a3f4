"""Self-service appeals under /me/appeals/ (M8.6): file, follow, add evidence,
withdraw, reopen with new evidence, read the decision and its letter; and the
evidence download for the parties to an appeal.

Only the appellant reaches their appeal pages; everyone else gets 404 (the
pages don't exist for them). Evidence files and the letter go to the parties
(appellant, assigned reviewer, HR/compliance); non-parties get 404 as well.
Uploads are held in memory only (never a temporary file on disk) and capped.
"""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from appeals import evidence as evidence_files
from appeals import letters, selectors, services
from appeals import permissions as appeal_permissions
from appeals.models import Appeal
from governance import permissions
from governance import views as selfservice
from governance.audit import events
from governance.crypto.keyring import SubjectErased
from governance.selectors import OwnProfile
from metrics.models import Evaluation, Observation

# -- uploads: memory only, capped ----------------------------------------------------


class BoundedMemoryUploadHandler(FileUploadHandler):
    """Keeps each uploaded file in memory up to the evidence limit (plus one
    byte, so "too large" is detected) and never writes a temporary file."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._buffer = io.BytesIO()
        self._seen = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._seen += len(raw_data)
        room = evidence_files.MAX_BYTES + 1 - self._buffer.tell()
        if room > 0:
            self._buffer.write(raw_data[:room])
        return None

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self._buffer.seek(0)
        return InMemoryUploadedFile(
            file=self._buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self._seen,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def _memory_uploads(view: Any) -> Any:
    """Install the bounded handler before the body is read, then check CSRF."""
    protected = csrf_protect(view)

    @csrf_exempt
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.upload_handlers = [BoundedMemoryUploadHandler(request)]
        return protected(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class EvidenceField(forms.FileField):
    """Files whose type is recognised from their content (never the name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,.txt"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[tuple[str, bytes]]:
        items = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        if self.required and not items:
            raise ValidationError("Attach at least one file.")
        result: list[tuple[str, bytes]] = []
        for item in items:
            if item.size > evidence_files.MAX_BYTES:
                raise ValidationError(
                    f"“{item.name}” is too large (the limit is "
                    f"{evidence_files.MAX_BYTES // (1024 * 1024)} MB)."
                )
            content = item.read()
            try:
                evidence_files.sniff(content)
            except ValidationError as exc:
                raise ValidationError(
                    f"“{item.name}” was refused: {' '.join(exc.messages)}"
                ) from exc
            result.append((item.name, content))
        return result


class AppealForm(forms.Form):
    target = forms.ChoiceField(label="What do you appeal?")
    grounds = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=10_000,
        help_text="Why the value is wrong, with facts the reviewer can check.",
    )
    requested_remedy = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=10_000,
        label="What you ask for",
        help_text="e.g. the value you believe is right.",
    )
    evidence = EvidenceField(
        required=False,
        help_text="PDF, PNG, JPEG or plain text, up to 5 MB each.",
    )

    def __init__(self, *args: Any, person: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = selectors.appealable(person=person)
        choices: list[tuple[str, str]] = [("", "— choose —")]
        for ev in options["evaluations"]:
            choices.append(
                (
                    f"evaluation:{ev.pk}",
                    f"Evaluation {ev.period_start:%Y-%m-%d} – {ev.period_end:%Y-%m-%d}",
                )
            )
        for obs in options["observations"]:
            choices.append(
                (
                    f"observation:{obs.pk}",
                    f"{obs.metric.name}, {obs.period_start:%Y-%m-%d}: {obs.value}",
                )
            )
        self.fields["target"].choices = choices


class FileForm(forms.Form):
    evidence = EvidenceField(required=True)
    note = forms.CharField(required=False, max_length=500)


class WithdrawForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)


# -- helpers ---------------------------------------------------------------------------


def _own(request: HttpRequest, pk: Any) -> Appeal:
    """The viewer's own appeal, or 404 (whoever else asks)."""
    person = permissions.person_of(request.user)
    appeal = selectors.appeal_for(viewer=request.user, pk=pk)
    if person is None or appeal is None or appeal.appellant_id != person.pk:
        raise Http404("No such appeal.")
    return appeal


def _detail_url(appeal: Appeal) -> str:
    return reverse("appeals:detail", args=[appeal.pk])


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


# -- views --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@_memory_uploads
def new(request: HttpRequest) -> HttpResponse:
    person = permissions.person_of(request.user)
    if person is None or not permissions.has_model_perm(request.user, Appeal, "view"):
        raise Http404("No employee record is linked to your account.")
    initial = {"target": request.GET.get("target", "")}
    form = AppealForm(
        request.POST or None, request.FILES or None, person=person, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        kind, _, pk = form.cleaned_data["target"].partition(":")
        target: dict[str, Any] = {}
        if kind == "evaluation":
            target["evaluation"] = Evaluation.objects.filter(pk=pk).first()
        else:
            target["observation"] = Observation.objects.filter(pk=pk).first()
        try:
            appeal = services.file_appeal(
                actor=request.user,
                grounds=form.cleaned_data["grounds"],
                requested_remedy=form.cleaned_data["requested_remedy"],
                files=form.cleaned_data["evidence"],
                **target,
            )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, exc if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, f"Your appeal {appeal.reference} was filed.")
            return HttpResponseRedirect(_detail_url(appeal))
    return render(request, "appeals/new.html", {"form": form})


@login_required
@never_cache
def detail(request: HttpRequest, pk: Any) -> HttpResponse:
    appeal = _own(request, pk)
    return render(
        request,
        "appeals/detail.html",
        {
            "appeal": appeal,
            "evidence": list(appeal.evidence.all()),
            "stages": list(appeal.stages.all()),
            "file_form": FileForm(),
            "can_withdraw": appeal.is_open,
            "can_reopen": appeal.status in ("decided", "closed"),
        },
    )


@login_required
@require_POST
@_memory_uploads
def add_evidence(request: HttpRequest, pk: Any) -> HttpResponse:
    appeal = _own(request, pk)
    form = FileForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("evidence", []) or ["Attach a file."]:
            messages.error(request, error)
        return HttpResponseRedirect(_detail_url(appeal))
    try:
        for name, data in form.cleaned_data["evidence"]:
            services.add_evidence(
                actor=request.user, appeal=appeal, name=name, data=data
            )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Your evidence was added.")
    return HttpResponseRedirect(_detail_url(appeal))


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: Any) -> HttpResponse:
    appeal = _own(request, pk)
    form = WithdrawForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.withdraw(actor=request.user, appeal=appeal, reason=reason)
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Your appeal is withdrawn.")
    return HttpResponseRedirect(_detail_url(appeal))


@login_required
@require_POST
@_memory_uploads
def reopen(request: HttpRequest, pk: Any) -> HttpResponse:
    appeal = _own(request, pk)
    form = FileForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("evidence", []) or ["Attach the new evidence."]:
            messages.error(request, error)
        return HttpResponseRedirect(_detail_url(appeal))
    (name, data), *_ = form.cleaned_data["evidence"]
    try:
        services.reopen(
            actor=request.user,
            appeal=appeal,
            name=name,
            data=data,
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, "Your appeal is reopened with the new evidence.")
    return HttpResponseRedirect(_detail_url(appeal))


@login_required
@never_cache
def decision(request: HttpRequest, pk: Any) -> HttpResponse:
    appeal = _own(request, pk)
    if not appeal.outcome:
        raise Http404("No decision yet.")
    return render(
        request,
        "appeals/decision.html",
        {"appeal": appeal, "d": letters.letter_data(appeal)},
    )


def _file_response(content: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@login_required
def letter(request: HttpRequest, pk: Any) -> HttpResponse:
    appeal = Appeal.objects.filter(pk=pk).select_related("appellant").first()
    if (
        appeal is None
        or not appeal.outcome
        or not appeal_permissions.is_party(request.user, appeal)
    ):
        raise Http404("No such letter.")
    try:
        pdf = letters.letter_bytes(appeal=appeal, actor=request.user)
    except SubjectErased as exc:
        raise Http404("This letter was erased with the appellant's data.") from exc
    events.record(
        "appeal.letter_downloaded",
        actor=request.user,
        target=appeal,
        data={"reference": appeal.reference, "sha256": appeal.letter_sha256 or ""},
    )
    return _file_response(
        pdf, content_type="application/pdf", filename=f"{appeal.reference}-decision.pdf"
    )


@login_required
def download_evidence(request: HttpRequest, pk: Any) -> HttpResponse:
    item = selectors.evidence_for(viewer=request.user, pk=pk)
    if item is None:
        raise Http404("No such file.")
    try:
        data = services.read_evidence(actor=request.user, item=item)
    except SubjectErased as exc:
        raise Http404("This file was erased with the appellant's data.") from exc
    return _file_response(
        data, content_type=item.content_type, filename=str(item.filename)
    )


# -- the /me/ section ----------------------------------------------------------------------


def _section_context(
    request: HttpRequest, profile: OwnProfile
) -> dict[str, Any] | None:
    if not permissions.has_model_perm(request.user, Appeal, "view"):
        return None
    return {
        "appeals": selectors.own_appeals(person=profile.person),
        "on_hold": list(
            selectors.evaluations_on_hold().filter(person_id=profile.person.pk)
        ),
    }


def register() -> None:
    selfservice.register_section(
        selfservice.Section(
            key="appeals",
            title="My appeals",
            template="appeals/selfservice/section.html",
            order=50,
            context=_section_context,
            badge="Confidential",
        )
    )
