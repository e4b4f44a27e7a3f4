"""Admin for the review board (M8.4) and impact assessments (M5.4).

* Proposals: authors (metric owners, HR, compliance) write them and fill in
  the impact assessment while they are drafts; board members read every
  proposal that went to a vote.
* Ballots: compliance opens one for a draft proposal with a complete
  assessment (deadline, quorum, majority); board members vote on the ballot's
  *Vote* page (members only, never on their own proposal, never after the
  deadline); ballots past their deadline close by the scheduled job or the
  list action.
* Votes: read-only record of who voted what and why.

Every write goes through ``governance.board``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from governance import board, permissions
from governance.admin_base import GovernedAdminForm, GovernedInline, GovernedModelAdmin
from governance.models import Ballot, ImpactAssessment, Proposal, Vote
from governance.roles import Role


def _messages_of(exc: Exception) -> str:
    return "; ".join(getattr(exc, "messages", None) or [str(exc)])


# -- proposals --------------------------------------------------------------------


class ImpactAssessmentInline(GovernedInline):
    model = ImpactAssessment
    template = "admin/edit_inline/stacked.html"
    fields = list(ImpactAssessment.REQUIRED)
    extra = 0
    max_num = 1
    can_delete = False
    verbose_name_plural = (
        "Impact assessment (M5.4): every field is needed before a vote"
    )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Proposal.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # created with the proposal


class ProposalForm(GovernedAdminForm):
    class Meta:
        model = Proposal
        fields = ["title", "kind", "summary"]


class ProposalAddForm(ProposalForm):
    subject = forms.ChoiceField(
        label="Metric",
        help_text="High-impact metrics you may change.",
    )
    subject_choices: list[tuple[str, str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["subject"].choices = [("", "---------"), *self.subject_choices]


@admin.register(Proposal)
class ProposalAdmin(GovernedModelAdmin):
    form = ProposalForm
    list_display = [
        "__str__",
        "subject_label",
        "kind",
        "status",
        "author",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["author"]
    search_fields = ["title", "subject_label"]
    inlines = [ImpactAssessmentInline]
    readonly_fields = [
        "subject_type",
        "subject_id",
        "subject_label",
        "status",
        "author",
        "bound_version",
        "bound_digest",
        "created_at",
        "decided_at",
        "revoked_at",
        "revoked_reason",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["title", "kind", "subject", "summary"]
        return ["title", "kind", "summary", *self.readonly_fields]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            choices = [
                (f"{kind}:{key}", label)
                for kind in board.subject_types()
                for key, label in board.provider_for(kind).candidates(request.user)
            ]
            kwargs["form"] = type(
                "ProposalAddForm", (ProposalAddForm,), {"subject_choices": choices}
            )
            kwargs["fields"] = ["title", "kind", "summary", "subject"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != Proposal.Status.DRAFT:
            readonly += [f for f in ("title", "kind", "summary") if f not in readonly]
        return readonly

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [] if obj is None else list(self.inlines)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Proposal.Status.DRAFT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_governed(
        self, request: HttpRequest, obj: Any, form: Any, change: bool, reason: str
    ) -> None:
        data = form.cleaned_data
        if change:
            board.proposal_update(
                actor=request.user,
                proposal=obj,
                changes={
                    name: data[name]
                    for name in form.changed_data
                    if name in {"title", "kind", "summary"}
                },
                reason=reason,
            )
            return
        subject_type, _, subject_id = data["subject"].partition(":")
        created = board.proposal_create(
            actor=request.user,
            title=data["title"],
            summary=data["summary"],
            kind=data["kind"],
            subject_type=subject_type,
            subject_id=subject_id,
            reason=reason,
        )
        obj.pk = created.pk

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: bool
    ) -> None:
        if formset.model is not ImpactAssessment:  # pragma: no cover - only inline
            return super().save_formset(request, form, formset, change)
        reason = (form.cleaned_data.get("change_reason") or "").strip() or (
            "impact assessment edited in admin"
        )
        formset.save(commit=False)  # sets changed_objects for the admin's log only
        for sub in formset.forms:
            changed = [n for n in sub.changed_data if n in ImpactAssessment.REQUIRED]
            if changed:
                board.assessment_update(
                    actor=request.user,
                    proposal=form.instance,
                    changes={n: sub.cleaned_data[n] for n in changed},
                    reason=reason,
                )
        return None


# -- ballots ----------------------------------------------------------------------


class BallotForm(forms.ModelForm):
    quorum = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Votes needed (abstentions count). Empty: a majority of the "
        "eligible members.",
    )

    class Meta:
        model = Ballot
        fields = ["proposal", "deadline", "quorum", "majority"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        proposal = data.get("proposal")
        if proposal is not None and not self.errors:
            check = board.ballot_check(
                proposal=proposal,
                deadline=data.get("deadline"),
                quorum=data.get("quorum"),
            )
            for problem in check.problems:
                self.add_error(None, problem)
        return data


class VoteForm(forms.Form):
    choice = forms.ChoiceField(choices=Vote.Choice.choices, widget=forms.RadioSelect)
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text="Your reasons, recorded with your vote.",
    )


class CloseForm(forms.Form):
    pass


@admin.register(Ballot)
class BallotAdmin(GovernedModelAdmin):
    form = BallotForm
    list_display = [
        "__str__",
        "status",
        "deadline",
        "quorum",
        "majority",
        "outcome",
        "approve_count",
        "reject_count",
        "abstain_count",
    ]
    list_filter = ["status", "outcome", "majority"]
    list_select_related = ["proposal"]
    search_fields = ["proposal__title"]
    actions = ["close_due"]
    readonly_fields = [
        "opened_at",
        "eligible_count",
        "status",
        "outcome",
        "closed_at",
        "approve_count",
        "reject_count",
        "abstain_count",
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["proposal", "deadline", "quorum", "majority"]
        return ["proposal", "deadline", "quorum", "majority", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly = ["proposal", "deadline", "quorum", "majority", *readonly]
        return readonly

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if permissions.has_role(request.user, Role.BOARD):
            columns.append("vote_link")
        return columns

    @admin.display(description="Your vote")
    def vote_link(self, obj: Ballot) -> str:
        if obj.status != Ballot.Status.OPEN:
            return "—"
        return format_html(
            '<a href="{}">Vote</a>',
            reverse("admin:governance_ballot_vote", args=[obj.pk]),
        )

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "proposal":
            kwargs["limit_choices_to"] = {"status": Proposal.Status.DRAFT}
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Ballots are opened, voted on and closed through services only; the
        # change permission unlocks the close action on the list.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        ballot = board.ballot_open(
            actor=request.user,
            proposal=data["proposal"],
            deadline=data["deadline"],
            quorum=data.get("quorum"),
            majority=data["majority"],
            reason="sent to the review board (admin)",
        )
        obj.pk = ballot.pk
        obj.opened_at = ballot.opened_at

    @admin.action(
        description="Close selected ballots past their deadline", permissions=["change"]
    )
    def close_due(self, request: HttpRequest, queryset: Any) -> None:
        now = timezone.now()
        closed = 0
        for ballot in queryset.filter(status=Ballot.Status.OPEN):
            if ballot.deadline > now:
                self.message_user(
                    request,
                    f"{ballot}: still open until {ballot.deadline:%Y-%m-%d %H:%M}.",
                    messages.WARNING,
                )
                continue
            board.ballot_close(ballot=ballot, actor=request.user)
            closed += 1
        self.message_user(
            request, f"Closed {closed} ballot(s); tallies are in the audit trail."
        )

    # -- the vote page --------------------------------------------------------

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path(
                "<path:object_id>/vote/",
                self.admin_site.admin_view(self.vote_view),
                name="governance_ballot_vote",
            ),
            *super().get_urls(),
        ]

    def vote_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        user = request.user
        if not (
            permissions.has_role(user, Role.BOARD)
            and permissions.has_model_perm(user, Vote, "add")
        ):
            raise PermissionDenied
        ballot = self.get_object(request, object_id)
        if ballot is None:
            raise Http404("No such ballot.")
        proposal = ballot.proposal
        recused = board.recusal_reason(user, proposal)
        mine = Vote.objects.filter(ballot=ballot, voter=user).first()
        is_open = (
            ballot.status == Ballot.Status.OPEN and timezone.now() < ballot.deadline
        )
        form: VoteForm | None = None
        if is_open and not recused:
            if request.method == "POST":
                form = VoteForm(request.POST)
                if form.is_valid():
                    try:
                        board.vote_cast(
                            actor=user,
                            ballot=ballot,
                            choice=form.cleaned_data["choice"],
                            rationale=form.cleaned_data["rationale"],
                        )
                    except (ValidationError, PermissionDenied) as exc:
                        self.message_user(request, _messages_of(exc), messages.ERROR)
                    else:
                        self.message_user(
                            request,
                            "Your vote is recorded. You can change it until the deadline.",
                        )
                    return redirect("admin:governance_ballot_vote", ballot.pk)
            else:
                form = VoteForm(
                    initial={"choice": mine.choice, "rationale": mine.rationale}
                    if mine
                    else None
                )
        elif request.method == "POST":
            self.message_user(
                request,
                recused or "Voting on this ballot is closed.",
                messages.ERROR,
            )
            return redirect("admin:governance_ballot_vote", ballot.pk)
        assessment = ImpactAssessment.objects.filter(proposal=proposal).first()
        rows = (
            [
                (
                    ImpactAssessment._meta.get_field(name).verbose_name,
                    getattr(assessment, name),
                )
                for name in ImpactAssessment.REQUIRED
            ]
            if assessment
            else []
        )
        return TemplateResponse(
            request,
            "admin/governance/ballot/vote.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Vote: {proposal.title}",
                "ballot": ballot,
                "proposal": proposal,
                "assessment_rows": rows,
                "mine": mine,
                "form": form,
                "recused": recused,
                "is_open": is_open,
                "opts": self.model._meta,
                "original": ballot,
                "votes_cast": Vote.objects.filter(ballot=ballot).count(),
            },
            status=403 if recused else 200,
        )


# -- votes ------------------------------------------------------------------------


@admin.register(Vote)
class VoteAdmin(GovernedModelAdmin):
    list_display = ["ballot", "voter", "choice", "cast_at", "updated_at"]
    list_filter = ["choice"]
    list_select_related = ["ballot__proposal", "voter"]
    search_fields = ["ballot__proposal__title"]
    fields = ["ballot", "voter", "choice", "rationale", "cast_at", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members vote on the ballot's vote page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
