"""Methodology documents (M8.2): drafts, approval, immutability, admin access.

Role × outcome: the metric's steward and owner write drafts; HR, managers,
board members and auditors can't; an approved version is read-only for
everyone (service and admin); a draft becomes the next version exactly when
the change request producing that version is approved (or the metric is
activated), with its approval recorded.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from governance import pseudonyms
from governance.roles import Role
from governance.testing import make_user
from metrics import methodology, services
from metrics.models import ChangeRequest, MethodologyVersion, Metric, TransformationStep
from metrics.testing import build_catalogue

pytestmark = pytest.mark.django_db

DRAFT = {
    "description": "Outbound calls an account executive logs in a month.",
    "formula": "count(calls where direction = outbound)",
    "sources": "CRM call log, exported nightly.",
}


@pytest.fixture
def cat(org):
    return build_catalogue(org)


@pytest.fixture
def owner_user(org):
    """A metric owner whose person owns the catalogue's metrics."""
    return make_user("owner_ma", Role.METRIC_OWNER, person=org.people["manager_a"])


def _draft(actor, metric, **changes):
    return methodology.methodology_draft_save(
        actor=actor, metric=metric, changes={**DRAFT, **changes}, reason="document it"
    )


def _users(org, owner_user):
    return {**org.users, "owner": owner_user}


@pytest.mark.parametrize(
    "principal, allowed",
    [
        ("steward", True),
        ("owner", True),
        ("admin", True),
        ("hr", False),
        ("manager", False),
        ("board", False),
        ("auditor", False),
        ("metric_owner", False),  # a metric owner, but not of this metric
        ("employee", False),
    ],
)
def test_who_may_write_a_draft(org, cat, owner_user, principal, allowed):
    actor = _users(org, owner_user)[principal]
    if allowed:
        draft = _draft(actor, cat.calls)
        assert draft.status == MethodologyVersion.Status.DRAFT
        assert draft.version == cat.calls.methodology_version + 1  # v1 is approved
        assert draft.history.count() == 1
    else:
        with pytest.raises(PermissionDenied):
            _draft(actor, cat.calls)
        assert not MethodologyVersion.objects.filter(status="draft").exists()


def test_one_draft_per_metric_saved_again_is_updated(org, cat):
    first = _draft(org.users["steward"], cat.calls)
    again = _draft(org.users["steward"], cat.calls, formula="calls + emails")
    assert again.pk == first.pk and again.formula == "calls + emails"
    assert (
        MethodologyVersion.objects.filter(metric=cat.calls, status="draft").count() == 1
    )


def test_draft_needs_a_reason_and_only_editable_fields(org, cat):
    with pytest.raises(ValidationError):
        methodology.methodology_draft_save(
            actor=org.users["steward"], metric=cat.calls, changes=DRAFT, reason=" "
        )
    with pytest.raises(ValidationError, match="version"):
        methodology.methodology_draft_save(
            actor=org.users["steward"],
            metric=cat.calls,
            changes={"version": 9},
            reason="x",
        )
    assert not MethodologyVersion.objects.filter(status="draft").exists()


def test_approved_change_request_approves_the_draft_as_the_new_version(org, cat):
    TransformationStep.objects.create(
        metric=cat.calls,
        order=1,
        source=cat.manual,
        description="dedupe",
        documented=True,
    )
    draft = _draft(org.users["steward"], cat.calls)
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "calls + emails"},
        reason="emails count too",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )
    metric = Metric.objects.get(pk=cat.calls.pk)
    approved = MethodologyVersion.objects.get(pk=draft.pk)
    assert approved.status == MethodologyVersion.Status.APPROVED
    assert approved.version == metric.methodology_version == 2
    assert approved.change_request_id == request.pk
    assert approved.approved_by_id == org.users["steward"].pk
    assert approved.definition["calculation"] == "calls + emails"
    assert approved.transformations == [
        {"order": 1, "source": "manual", "description": "dedupe", "documented": True}
    ]
    assert approved.formula == DRAFT["formula"]  # the steward's words are kept
    assert methodology.current_version(metric) == approved
    assert methodology.draft_of(metric) is None


def test_change_request_without_a_draft_documents_the_version_from_the_metric(org, cat):
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "calls + emails"},
        reason="emails count too",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )
    version = methodology.current_version(Metric.objects.get(pk=cat.calls.pk))
    assert version.version == 2 and version.formula == "calls + emails"
    assert version.description == cat.calls.description
    assert "Manual entry" in version.sources


def test_activation_approves_the_draft_of_version_one(org, cat):
    draft = _draft(org.users["steward"], cat.draft)
    assert draft.version == 1  # the metric isn't live yet: v1 is being documented
    services.metric_transition(
        actor=org.users["steward"], metric=cat.draft, status="active", reason="go"
    )
    approved = MethodologyVersion.objects.get(pk=draft.pk)
    assert approved.status == "approved" and approved.version == 1
    assert approved.approved_at is not None and approved.change_request is None


def test_approved_version_is_immutable(org, cat):
    approved = methodology.current_version(cat.calls)
    with pytest.raises(methodology.ApprovedVersionImmutable, match="Write a draft"):
        methodology.methodology_version_update(
            actor=org.users["steward"],
            version=approved,
            changes={"formula": "tampered"},
            reason="fix",
        )
    assert MethodologyVersion.objects.get(pk=approved.pk).formula != "tampered"


def test_rejected_change_request_leaves_the_draft_a_draft(org, cat):
    draft = _draft(org.users["steward"], cat.calls)
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "x"},
        reason="try",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=False
    )
    assert MethodologyVersion.objects.get(pk=draft.pk).status == "draft"
    assert ChangeRequest.objects.get(pk=request.pk).status == "rejected"


# -- admin -----------------------------------------------------------------------


def _change_url(version):
    return reverse("admin:metrics_methodologyversion_change", args=[version.pk])


@pytest.mark.parametrize(
    "principal, draft_outcome",
    [
        ("steward", "write"),
        ("owner", "write"),
        ("hr", "read"),
        ("auditor", "read"),
        ("board", "read"),
        ("manager", "read"),
    ],
)
def test_admin_draft_editable_only_by_steward_and_owner_approved_by_no_one(
    client, org, cat, owner_user, principal, draft_outcome
):
    draft = _draft(org.users["steward"], cat.calls)
    approved = methodology.current_version(cat.calls)
    client.force_login(_users(org, owner_user)[principal])
    for version, expected in ((draft, draft_outcome), (approved, "read")):
        response = client.get(_change_url(version))
        assert response.status_code == 200
        editable = "_save" in response.content.decode()
        assert ("write" if editable else "read") == expected, version


def test_admin_steward_writes_and_edits_a_draft_with_a_reason(client, org, cat):
    client.force_login(org.users["steward"])
    add = reverse("admin:metrics_methodologyversion_add")
    response = client.post(add, {"metric": cat.calls.pk, **DRAFT, "owner": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    draft = methodology.draft_of(cat.calls)
    assert draft.formula == DRAFT["formula"] and draft.version == 2
    # A second add for the same metric is refused: edit the draft instead.
    response = client.post(add, {"metric": cat.calls.pk, **DRAFT, "owner": ""})
    assert (
        response.status_code == 200
        and "already has a draft" in response.content.decode()
    )
    # Editing needs a reason.
    data = {**DRAFT, "formula": "calls + emails", "owner": ""}
    response = client.post(_change_url(draft), data)
    assert response.status_code == 200 and "Say why" in response.content.decode()
    response = client.post(_change_url(draft), {**data, "change_reason": "emails"})
    assert response.status_code == 302
    assert MethodologyVersion.objects.get(pk=draft.pk).formula == "calls + emails"


def test_admin_approved_version_post_changes_nothing(client, org, cat):
    approved = methodology.current_version(cat.calls)
    client.force_login(org.users["steward"])
    response = client.post(_change_url(approved), {**DRAFT, "change_reason": "tamper"})
    assert response.status_code == 403
    assert MethodologyVersion.objects.get(pk=approved.pk).formula == approved.formula


def test_admin_steward_cannot_draft_for_another_departments_metric(client, org, cat):
    metric = services.metric_create(
        actor=None,
        key="product.velocity",
        name="Velocity",
        indicator="leading",
        level="team",
        unit="points",
        calculation="points done",
        source=cat.jira,
        owner=org.people["manager_b"],
        steward=org.people["manager_b"],
        department=org.product,
        update_frequency="monthly",
    )
    client.force_login(org.users["steward"])
    response = client.post(
        reverse("admin:metrics_methodologyversion_add"),
        {"metric": metric.pk, **DRAFT, "owner": ""},
    )
    assert response.status_code == 200
    assert "steward or owner may write its methodology" in response.content.decode()
    assert not MethodologyVersion.objects.filter(metric=metric).exists()


def test_auditor_sees_owner_and_approver_pseudonymised(client, org, cat):
    request = services.change_request_create(
        actor=org.users["hr"],
        metric=cat.calls,
        changes={"calculation": "calls + emails"},
        reason="emails",
    )
    services.change_request_decide(
        actor=org.users["steward"], change_request=request, approve=True
    )
    version = methodology.current_version(Metric.objects.get(pk=cat.calls.pk))
    owner = org.people["manager_a"]
    for principal, pseudonymised in (("auditor", True), ("hr", False)):
        client.force_login(org.users[principal])
        for url in (
            _change_url(version),
            reverse("admin:metrics_methodologyversion_changelist"),
        ):
            html = client.get(url).content.decode()
            if pseudonymised:
                assert pseudonyms.pseudonym(owner.pk) in html
                assert "Mara Manager" not in html and owner.employee_id not in html
            else:
                assert "Mara Manager" in html
        html = client.get(_change_url(version)).content.decode()
        steward = org.people["steward_sales"]
        if pseudonymised:
            assert pseudonyms.pseudonym(steward.pk) in html  # approved by
            assert ">steward<" not in html
        else:
            assert "steward" in html
