"""Self-service appeal pages and the evidence download: role × outcome
matrices, content-checked uploads, safe download headers, audit of reads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from appeals import services
from appeals.models import Appeal, Evidence
from appeals.testing import ELF, HTML, JPEG, MZ, PDF, PNG, file_and_assign, fresh
from governance.models import AuditEvent
from governance.services import person_erase

pytestmark = pytest.mark.django_db

PRINCIPALS = (
    "anonymous",
    "nobody",
    "employee",
    "manager",
    "steward",
    "hr",
    "compliance",
    "board",
    "auditor",
)


def _client(world, key: str) -> Client:
    client = Client()
    if key != "anonymous":
        client.force_login(world.user(key))
    return client


def _outcome(response) -> str:
    if response.status_code == 302 and "/accounts/login/" in response.url:
        return "login"
    return {200: "ok", 302: "redirect", 403: "denied", 404: "gone"}.get(
        response.status_code, str(response.status_code)
    )


# -- who reaches which page ---------------------------------------------------------

# principal: new, detail, decision, withdraw, letter, evidence
MATRIX = {
    "anonymous": ("login", "login", "login", "login", "login", "login"),
    "nobody": ("gone", "gone", "gone", "gone", "gone", "gone"),
    "employee": ("ok", "ok", "ok", "redirect", "ok", "ok"),  # the appellant
    "manager": ("ok", "gone", "gone", "gone", "gone", "gone"),  # appellant's manager
    "steward": ("gone", "gone", "gone", "gone", "gone", "gone"),  # the evaluator
    "hr": ("ok", "gone", "gone", "gone", "ok", "ok"),  # manages appeals
    "compliance": ("gone", "gone", "gone", "gone", "ok", "ok"),  # manages appeals
    "board": ("gone", "gone", "gone", "gone", "ok", "ok"),  # assigned reviewer
    "auditor": (
        "gone",
        "gone",
        "gone",
        "gone",
        "gone",
        "gone",
    ),  # reads records in the admin
}


@pytest.fixture
def decided(world):
    appeal = file_and_assign(world)
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="rejected",
        rationale="Fine as is.",
    )
    appeal.refresh_from_db()
    return appeal


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_page_matrix(world, decided, principal):
    expected = dict(
        zip(
            ("new", "detail", "decision", "withdraw", "letter", "evidence"),
            MATRIX[principal],
            strict=True,
        )
    )
    client = _client(world, principal)
    item = decided.evidence.get()
    got = {
        "new": _outcome(client.get(reverse("appeals:new"))),
        "detail": _outcome(client.get(reverse("appeals:detail", args=[decided.pk]))),
        "decision": _outcome(
            client.get(reverse("appeals:decision", args=[decided.pk]))
        ),
        "evidence": _outcome(client.get(reverse("appeals:evidence", args=[item.pk]))),
    }
    got["letter"] = _outcome(client.get(reverse("appeals:letter", args=[decided.pk])))
    # Withdraw last: it changes the appeal (a decided appeal can't be withdrawn,
    # so the appellant is told so and redirected; nobody else reaches it).
    got["withdraw"] = _outcome(
        client.post(reverse("appeals:withdraw", args=[decided.pk]))
    )
    assert got == expected
    decided.refresh_from_db()
    assert decided.status == "decided"


@pytest.mark.parametrize(
    "principal", ["manager", "steward", "hr", "board", "auditor", "nobody"]
)
def test_only_the_appellant_withdraws(world, principal):
    appeal = file_and_assign(world, start=False)
    response = _client(world, principal).post(
        reverse("appeals:withdraw", args=[appeal.pk])
    )
    assert response.status_code == 404
    appeal.refresh_from_db()
    assert appeal.status == "triaged"


def test_appellant_withdraws(world):
    appeal = file_and_assign(world, start=False)
    response = _client(world, "employee").post(
        reverse("appeals:withdraw", args=[appeal.pk]), {"reason": "sorted"}
    )
    assert response.status_code == 302
    appeal.refresh_from_db()
    assert appeal.status == "withdrawn"


def test_section_on_me_lists_the_appeal_and_the_hold(world):
    appeal = file_and_assign(world, start=False)
    page = _client(world, "employee").get(reverse("selfservice:home")).content.decode()
    assert appeal.reference in page and 'data-field="on-hold"' in page


# -- filing with evidence ---------------------------------------------------------------


def _post_new(world, files, target=None):
    target = target or f"evaluation:{world.evaluation.pk}"
    return _client(world, "employee").post(
        reverse("appeals:new"),
        {
            "target": target,
            "grounds": "Leave counted as zero.",
            "requested_remedy": "Recompute.",
            "evidence": [
                SimpleUploadedFile(name, data, content_type=ct)
                for name, data, ct in files
            ],
        },
    )


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (HTML, "HTML"),
        (ELF, "Programs"),
        (MZ, "Programs"),
        (b"\x00\x01binary", "Only PDF"),
    ],
    ids=["html", "elf", "mz", "binary"],
)
def test_a_file_renamed_to_pdf_is_refused_by_content_and_nothing_is_stored(
    world, data, kind
):
    response = _post_new(world, [("evidence.pdf", data, "application/pdf")])
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get("evidence", []))
    assert "evidence.pdf" in errors and kind in errors
    assert Appeal.objects.count() == 0 and Evidence.objects.count() == 0


def test_an_incomplete_pdf_is_refused(world):
    response = _post_new(world, [("x.pdf", b"%PDF-1.4 no end", "application/pdf")])
    assert "incomplete" in " ".join(response.context["form"].errors["evidence"])
    assert Appeal.objects.count() == 0


def test_a_file_over_the_limit_is_refused(world, monkeypatch):
    monkeypatch.setattr("appeals.evidence.MAX_BYTES", 1024)
    response = _post_new(
        world, [("big.pdf", PDF + b" " * 2048 + b"%%EOF", "application/pdf")]
    )
    assert "too large" in " ".join(response.context["form"].errors["evidence"])
    assert Appeal.objects.count() == 0


def test_filing_with_pdf_png_jpeg_stores_only_ciphertext(world):
    response = _post_new(
        world,
        [
            ("proof.pdf", PDF, "text/html"),
            ("shot.png", PNG, "application/pdf"),
            ("scan.jpeg", JPEG, ""),
        ],
    )
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    types = sorted(appeal.evidence.values_list("content_type", flat=True))
    assert types == [
        "application/pdf",
        "image/jpeg",
        "image/png",
    ]  # from content, not client
    for sealed in Evidence.objects.values_list("sealed", flat=True):
        assert b"%PDF" not in bytes(sealed) and b"PNG" not in bytes(sealed)


def test_evidence_added_later_is_content_checked(world):
    appeal = file_and_assign(world, start=False, files=[])
    client = _client(world, "employee")
    url = reverse("appeals:add_evidence", args=[appeal.pk])
    client.post(url, {"evidence": SimpleUploadedFile("a.pdf", HTML)})
    assert appeal.evidence.count() == 0
    client.post(url, {"evidence": SimpleUploadedFile("a.pdf", PDF)})
    assert appeal.evidence.count() == 1


# -- download -----------------------------------------------------------------------------


def test_download_headers_and_audit(world):
    appeal = file_and_assign(world)
    item = appeal.evidence.get()
    response = _client(world, "board").get(reverse("appeals:evidence", args=[item.pk]))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="proof.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    event = AuditEvent.objects.get(action="appeal.evidence_downloaded")
    assert event.actor_id == world.user("board").pk and event.object_id == str(item.pk)


def test_unknown_evidence_is_404_like_a_forbidden_one(world):
    import uuid

    response = _client(world, "employee").get(
        reverse("appeals:evidence", args=[uuid.uuid4()])
    )
    assert response.status_code == 404


def test_reassigned_reviewer_loses_the_evidence(world):
    from django.contrib.auth.models import Group

    appeal = file_and_assign(world)
    item = appeal.evidence.get()
    other = world.user("metric_owner")
    other.groups.add(Group.objects.get(name="Review board member"))
    services.assign_reviewer(
        actor=fresh(world.user("hr")), appeal=appeal, reviewer=fresh(other)
    )
    assert (
        _client(world, "board")
        .get(reverse("appeals:evidence", args=[item.pk]))
        .status_code
        == 404
    )
    assert (
        _client(world, "metric_owner")
        .get(reverse("appeals:evidence", args=[item.pk]))
        .status_code
        == 200
    )


def test_erasing_the_appellant_makes_the_evidence_unreadable(world):
    # Someone of their own: shredding a key is remembered by the process keyring
    # beyond this test's rollback, so the shared employee is left alone.
    import datetime
    from decimal import Decimal

    from governance.roles import Role
    from governance.services import save_governed
    from governance.testing import make_person, make_user
    from metrics.models import Evaluation

    org = world.org
    person = make_person(
        org.sales, org.us, teams=[org.team_a], manager=org.people["manager_a"]
    )
    user = make_user("leaver", Role.EMPLOYEE, person=person)
    evaluation = save_governed(
        Evaluation(
            person=person,
            evaluator=org.people["steward_sales"],
            period_start=datetime.date(2026, 1, 1),
            period_end=datetime.date(2026, 6, 30),
            weights={"quantitative": 1},
            components={},
            score=Decimal("3"),
            rationale="ok",
        ),
        actor=None,
        reason="test",
    )
    appeal = services.file_appeal(
        actor=fresh(user),
        evaluation=evaluation,
        grounds="g",
        requested_remedy="r",
        files=[("proof.pdf", PDF)],
    )
    item = appeal.evidence.get()
    assert (
        _client(world, "hr")
        .get(reverse("appeals:evidence", args=[item.pk]))
        .status_code
        == 200
    )
    person_erase(person=person, actor=None, reason="erasure request")
    response = _client(world, "hr").get(reverse("appeals:evidence", args=[item.pk]))
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="appeal.evidence_downloaded").count() == 1


def test_upload_views_still_check_csrf(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.user("employee"))
    response = client.post(
        reverse("appeals:new"),
        {
            "target": f"evaluation:{world.evaluation.pk}",
            "grounds": "g",
            "requested_remedy": "r",
            "evidence": SimpleUploadedFile("a.pdf", PDF),
        },
    )
    assert response.status_code == 403
    assert Appeal.objects.count() == 0


def test_uploads_are_held_in_memory_not_in_temporary_files(
    world, settings, monkeypatch
):
    from django.core.files.uploadedfile import TemporaryUploadedFile

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = (
        10  # Django's own handlers would spool to disk
    )
    created = []
    original = TemporaryUploadedFile.__init__

    def spy(self, *args, **kwargs):
        created.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(TemporaryUploadedFile, "__init__", spy)
    response = _post_new(world, [("proof.pdf", PDF, "application/pdf")])
    assert response.status_code == 302
    assert created == []
    assert Evidence.objects.get().size == len(PDF)
    # The same upload to a view with Django's default handlers does spool.
    Client().post("/accounts/login/", {"f": SimpleUploadedFile("x.pdf", PDF)})
    assert created
