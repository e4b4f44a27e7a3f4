"""The decision letter: PDF/A-3b through the report kernel, structurally valid
(qpdf), recognised by verify_report, the decision embedded as JSON, stored
sealed (never as a plaintext file)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from appeals import letters, services
from appeals.models import Appeal
from appeals.testing import file_and_assign, fresh
from governance.models import AuditEvent
from governance.reports import pdfinfo

pytestmark = pytest.mark.django_db


@pytest.fixture
def letter(world, tmp_path):
    appeal = file_and_assign(world, target="observation")
    services.decide(
        actor=fresh(world.user("board")),
        appeal=appeal,
        outcome="upheld",
        rationale="Duplicates confirmed in the CRM export.",
        corrected_value="110",
    )
    appeal.refresh_from_db()
    client = Client()
    client.force_login(world.user("employee"))
    response = client.get(reverse("appeals:letter", args=[appeal.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    path = tmp_path / "letter.pdf"
    path.write_bytes(response.content)
    return appeal, path


def test_letter_passes_qpdf_check(letter):
    if shutil.which("qpdf") is None:
        pytest.skip("qpdf is not installed (apt-get install qpdf)")
    _, path = letter
    result = subprocess.run(
        ["qpdf", "--check", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors" in result.stdout


def test_letter_passes_libqpdf_check(letter):
    """The same check as ``qpdf --check``, through libqpdf in pikepdf (runs
    where the qpdf command-line tool is not installed)."""
    import pikepdf

    _, path = letter
    with pikepdf.open(path) as pdf:
        problems = pdf.check_pdf_syntax()
    assert problems == []


def test_verify_report_accepts_the_letter(letter, capsys):
    appeal, path = letter
    call_command("verify_report", str(path))
    out = capsys.readouterr().out
    assert "VERIFIED" in out and "appeal_decision_letter" in out
    event = AuditEvent.objects.get(action="report.issued")
    assert event.object_id == str(appeal.pk)
    assert Appeal.objects.get(pk=appeal.pk).letter_sha256 == event.data["sha256"]


def test_letter_passes_the_archival_checks_every_report_passes(letter, tmp_path):
    """qpdf --check, PDF/A-3b, embedded JSON, verify_report accepts it and
    rejects a copy with one byte changed."""
    from governance.reports import testing as archival

    appeal, path = letter
    with pdfinfo.open_pdf(path) as pdf:
        (name,) = pdfinfo.embedded_files(pdf)
    data = archival.assert_archival(path.read_bytes(), tmp_path, json_name=name)
    assert data["reference"] == appeal.reference


def test_letter_is_pdfa_3b_with_the_decision_embedded(letter):
    appeal, path = letter
    with pdfinfo.open_pdf(path) as pdf:
        assert pdfinfo.pdfa_identification(pdf) == ("3", "B")
        files = pdfinfo.embedded_files(pdf)
        text = " ".join(pdfinfo.page_texts(pdf))
    (name,) = files
    data = json.loads(files[name].content)
    assert data["reference"] == appeal.reference
    assert data["outcome"] == "upheld" and data["corrected_value"] == "110"
    assert "Duplicates confirmed" in data["rationale"]
    assert appeal.reference in text and "CONFIDENTIAL" in text


def test_letter_is_stored_sealed_and_served_again_unchanged(letter, world):
    appeal, path = letter
    sealed = bytes(
        Appeal.objects.values_list("letter_sealed", flat=True).get(pk=appeal.pk)
    )
    assert b"%PDF" not in sealed
    again = letters.letter_bytes(appeal=appeal, actor=world.user("employee"))
    assert again == path.read_bytes()
    assert AuditEvent.objects.filter(action="report.issued").count() == 1
