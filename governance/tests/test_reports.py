"""Report rendering kernel (R.PDF, R.ASYNC): PDF/A-3b, attachments, markings,
page numbers across chunks, atomic writes, and verification against the trail.

Text is read back with governance.reports.pdfinfo, which decodes each page's
content stream (and the form XObjects it draws) through the fonts' ToUnicode
maps; the tests also check that it finds body text on the right page, so a
broken extractor cannot make the marking checks pass vacuously.
"""

from __future__ import annotations

import csv
import decimal
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.audit import chain
from governance.classification import Sensitivity
from governance.models import AuditEvent
from governance.reports import pdfinfo
from governance.reports import render as render_module
from governance.reports.data import csv_data, json_data, neutralise_cell, to_json_bytes
from governance.reports.issue import issue_report
from governance.reports.render import (
    ReportRenderError,
    ReportSpec,
    render_report,
    table_chunks,
)
from governance.testing import make_user

COLUMNS = ["#", "Metric", "Value", "Reason"]
DATA = {
    "rows": [[i, f"KPI-{i:03d}", i * 1.5, f"reason {i}"] for i in range(1, 121)],
    "note": "ünïcode ✓",
}
ROWS = DATA["rows"]


def _spec(**overrides) -> ReportSpec:
    values = {
        "report_type": "test_pack",
        "title": 'Test "pack" – Q1',
        "author": "Auditor Ann",
        "subject": "Kernel test report",
        "classification": Sensitivity.CONFIDENTIAL,
        "keywords": ("audit", "test"),
    }
    values.update(overrides)
    return ReportSpec(**values)


def _chunks(rows_per_chunk: int = 40) -> list[str]:
    intro = "<section class='report-section'><h1>Test pack</h1><p>INTRO-MARKER first chunk.</p></section>"
    return [
        intro,
        *table_chunks(
            ROWS, columns=COLUMNS, caption="History", rows_per_chunk=rows_per_chunk
        ),
    ]


def _data_files():
    return [json_data("data", DATA), csv_data("history", COLUMNS, ROWS)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One single-chunk and one chunked report, rendered once for the module.

    The chunked one runs with tiny stamp and merge batches so that page
    numbering and merging cross batch boundaries.
    """
    base = tmp_path_factory.mktemp("reports")
    calls = []
    single = render_report(
        _spec(),
        ["<h1>One</h1>" + "".join(_chunks())],
        data=_data_files(),
        out=base / "single.pdf",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(render_module, "STAMP_BATCH", 3)
        mp.setattr(render_module, "MERGE_BATCH", 2)
        chunked = render_report(
            _spec(),
            _chunks(),
            data=_data_files(),
            out=base / "chunked.pdf",
            progress=lambda done, total: calls.append((done, total)),
        )
    return {"single": single, "chunked": chunked, "progress": calls, "dir": base}


@pytest.fixture(params=["single", "chunked"])
def report(request, rendered):
    result = rendered[request.param]
    with pikepdf.open(result.path) as pdf:
        yield result, pdf


# --- archival PDF/A-3b --------------------------------------------------------------


def test_qpdf_check_passes(report):
    if shutil.which("qpdf") is None:
        pytest.skip("qpdf is not installed (apt-get install qpdf)")
    result, _ = report
    proc = subprocess.run(
        ["qpdf", "--check", str(result.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No syntax or stream encoding errors" in proc.stdout


def test_declares_pdfa_3b_with_output_intent(report):
    _, pdf = report
    assert pdfinfo.pdfa_identification(pdf) == ("3", "B")
    intents = pdf.Root.OutputIntents
    assert len(intents) == 1
    assert intents[0].S == pikepdf.Name.GTS_PDFA1
    assert "/DestOutputProfile" in intents[0]
    assert pdf.pdf_version >= "1.7"
    assert "/Encrypt" not in pdf.trailer
    assert len(pdf.trailer.ID) == 2  # PDF/A requires a file identifier


def test_title_author_subject_in_info_and_xmp(report):
    _, pdf = report
    spec = _spec()
    assert str(pdf.docinfo.Title) == spec.title
    assert str(pdf.docinfo.Author) == spec.author
    assert str(pdf.docinfo.Subject) == spec.subject
    meta = pdf.open_metadata(set_pikepdf_as_editor=False)
    assert meta["dc:title"] == spec.title
    assert meta["dc:description"] == spec.subject
    assert meta["dc:creator"] == [spec.author]


def test_json_and_csv_embedded_as_associated_files(report):
    _, pdf = report
    files = pdfinfo.embedded_files(pdf)
    assert set(files) == {"data.json", "history.csv"}
    data = files["data.json"]
    assert json.loads(data.content) == DATA
    assert data.mime_type == "application/json"
    assert data.relationship == "Data"
    assert all(f.in_catalog_af for f in files.values())
    rows = list(csv.reader(io.StringIO(files["history.csv"].content.decode())))
    assert rows[0] == COLUMNS
    assert rows[1:] == [[str(v) for v in row] for row in ROWS]
    # The same bytes through pikepdf's own attachment API.
    assert json.loads(pdf.attachments["data.json"].get_file().read_bytes()) == DATA


def test_every_font_is_embedded(report):
    _, pdf = report
    fonts = pdfinfo.fonts(pdf)
    assert fonts, "a report with text must have fonts"
    assert [f.name for f in fonts if not f.embedded] == []
    # Our @font-face from local files, not a system fallback.
    assert all("Report-Sans" in f.name for f in fonts)
    # Each embedded subset has its own six-letter tag (ISO 32000-1 9.6.4),
    # although every chunk embeds its own subset of the same font.
    composite = [f.name for f in fonts if f.subtype == "/Type0"]
    assert len(set(composite)) == len(composite)


def test_marking_and_page_x_of_n_on_every_page(report):
    result, pdf = report
    page_lines = pdfinfo.page_lines(pdf)
    total = len(page_lines)
    assert total == result.pages >= 3
    for number, lines in enumerate(page_lines, start=1):
        assert lines.count("CONFIDENTIAL") == 2, (
            number,
            lines[:6],
        )  # header and footer
        numbering = [line for line in lines if line.startswith("Page ")]
        assert numbering == [f"Page {number} of {total}"], (number, numbering)
        assert _spec().title in lines


def test_extraction_finds_body_text_on_the_right_page(report):
    _, pdf = report
    texts = pdfinfo.page_texts(pdf)
    assert "INTRO-MARKER" in texts[0]
    assert "KPI-120" in texts[-1] and "KPI-120" not in texts[0]


def test_marking_follows_classification(tmp_path):
    result = render_report(
        _spec(classification=Sensitivity.RESTRICTED),
        ["<p>x</p>", "<p>y</p>"],
        data=[json_data("d", {})],
        out=tmp_path / "r.pdf",
    )
    with pikepdf.open(result.path) as pdf:
        for lines in pdfinfo.page_lines(pdf):
            assert lines.count("RESTRICTED") == 2
            assert "CONFIDENTIAL" not in lines


# --- chunking ------------------------------------------------------------------------


def test_chunked_page_count_is_sum_of_chunks_rendered_alone(rendered, tmp_path):
    chunked = rendered["chunked"]
    alone = [
        render_report(
            _spec(), [chunk], data=[json_data("d", {})], out=tmp_path / f"{i}.pdf"
        ).pages
        for i, chunk in enumerate(_chunks())
    ]
    assert chunked.chunks == len(alone) == 4
    assert list(chunked.chunk_pages) == alone
    with pikepdf.open(chunked.path) as pdf:
        assert len(pdf.pages) == sum(alone) == chunked.pages


def test_progress_reports_each_chunk_then_assembly(rendered):
    assert rendered["progress"] == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_progress_with_unknown_total_from_a_generator(tmp_path):
    calls = []
    render_report(
        _spec(),
        (f"<p>chunk {i}</p>" for i in range(3)),
        data=[json_data("d", {})],
        out=tmp_path / "g.pdf",
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(1, None), (2, None), (3, None), (4, 4)]


def test_parallel_workers_give_the_same_pages(rendered, tmp_path):
    result = render_report(
        _spec(), _chunks(), data=_data_files(), out=tmp_path / "p.pdf", workers=2
    )
    assert result.chunk_pages == rendered["chunked"].chunk_pages
    with (
        pikepdf.open(result.path) as pdf,
        pikepdf.open(rendered["chunked"].path) as sequential,
    ):
        assert pdfinfo.page_texts(pdf) == pdfinfo.page_texts(sequential)
        assert json.loads(pdfinfo.embedded_files(pdf)["data.json"].content) == DATA


def test_failed_render_leaves_previous_file_and_no_temp(tmp_path):
    out = tmp_path / "report.pdf"
    out.write_bytes(b"previous issue")

    def chunks():
        yield "<p>first</p>"
        yield "<p>second</p>"
        raise RuntimeError("database went away")

    with pytest.raises(ReportRenderError, match="database went away"):
        render_report(_spec(), chunks(), data=[json_data("d", {})], out=out)
    assert out.read_bytes() == b"previous issue"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]


@pytest.mark.parametrize(
    "src",
    ["http://example.com/logo.png", "https://example.com/x.css", "file:///etc/passwd"],
)
def test_remote_or_outside_resources_are_refused(tmp_path, src):
    with pytest.raises(ReportRenderError, match=r"refused|outside allowed"):
        render_report(
            _spec(),
            [f"<img src='{src}'>"],
            data=[json_data("d", {})],
            out=tmp_path / "r.pdf",
        )
    assert not (tmp_path / "r.pdf").exists()


def test_json_data_is_required(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        render_report(
            _spec(),
            ["<p>x</p>"],
            data=[csv_data("t", ["a"], [[1]])],
            out=tmp_path / "r.pdf",
        )


# --- data files ------------------------------------------------------------------------


def test_json_keeps_decimals_exact_and_sorts_keys():
    assert (
        to_json_bytes({"b": decimal.Decimal("0.10"), "a": 1}) == b'{"a":1,"b":"0.10"}'
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        (-5, "-5"),
        (decimal.Decimal("-1.50"), "-1.50"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_csv_cells_neutralise_formulas_but_keep_negative_numbers(value, cell):
    assert neutralise_cell(value) == cell


# --- issuing and verification -------------------------------------------------------------


@pytest.fixture
def issued(db, tmp_path):
    actor = make_user("issuer")
    result = issue_report(
        _spec(),
        _chunks(rows_per_chunk=60),
        data=_data_files(),
        out=tmp_path / "issued.pdf",
        actor=actor,
    )
    return result, actor


def test_issue_records_hash_in_the_chained_audit_trail(issued):
    result, actor = issued
    event = result.event
    assert event.action == "report.issued"
    assert event.actor_id == actor.pk
    digest = hashlib.sha256(result.rendered.path.read_bytes()).hexdigest()
    assert event.data == {
        "sha256": digest,
        "report_type": "test_pack",
        "pages": result.rendered.pages,
        "classification": "CONFIDENTIAL",
        "bytes": result.rendered.path.stat().st_size,
    }
    assert _spec().title not in json.dumps(event.data)  # titles can name people
    assert chain.verify().ok


def test_verify_report_accepts_the_issued_file(issued, capsys):
    result, _ = issued
    call_command("verify_report", str(result.rendered.path))
    out = capsys.readouterr().out
    assert "VERIFIED" in out
    assert "'test_pack'" in out and "by issuer" in out
    assert result.rendered.sha256 in out


def _refused(path) -> CommandError:
    """Run verify_report in-process and return its error. (Django turns a
    CommandError into ``sys.exit(returncode)`` when run from the command line;
    run_from_argv also closes DB connections, which would end the test's
    transaction, hence call_command here and one real process below.)"""
    with pytest.raises(CommandError) as exc:
        call_command("verify_report", str(path))
    return exc.value


def test_verify_report_rejects_a_one_byte_change(issued, tmp_path):
    result, _ = issued
    data = bytearray(result.rendered.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(bytes(data))
    error = _refused(altered)
    assert error.returncode == 1
    assert "NOT VERIFIED" in str(error) and "altered" in str(error)
    # The original still verifies: the refusal is about the changed byte.
    call_command("verify_report", str(result.rendered.path), stdout=io.StringIO())


def test_verify_report_rejects_a_pdf_never_issued(db, tmp_path):
    result = render_report(
        _spec(), ["<p>x</p>"], data=[json_data("d", {})], out=tmp_path / "x.pdf"
    )
    assert not AuditEvent.objects.filter(action="report.issued").exists()
    error = _refused(result.path)
    assert error.returncode == 1
    assert result.sha256 in str(error)


def test_verify_report_rejects_a_non_pdf(db, tmp_path):
    bogus = tmp_path / "notes.pdf"
    bogus.write_text("just text")
    error = _refused(bogus)
    assert error.returncode == 2 and "not a PDF" in str(error)
    error = _refused(tmp_path / "missing.pdf")
    assert error.returncode == 2 and "cannot read" in str(error)


def test_verify_report_exit_code_from_the_command_line(tmp_path):
    bogus = tmp_path / "notes.pdf"
    bogus.write_bytes(b"GIF89a not a pdf")
    proc = subprocess.run(
        [sys.executable, "manage.py", "verify_report", str(bogus)],
        cwd=Path(django_settings.BASE_DIR),
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "not a PDF" in proc.stderr


def test_issue_deletes_the_file_when_the_audit_write_fails(db, tmp_path, monkeypatch):
    from governance.reports import audit

    def boom(**kwargs):
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(audit, "report_issued", boom)
    out = tmp_path / "r.pdf"
    with pytest.raises(RuntimeError):
        issue_report(
            _spec(), ["<p>x</p>"], data=[json_data("d", {})], out=out, actor=None
        )
    assert not out.exists()


# --- fonts from local files ----------------------------------------------------------------


def test_missing_core_font_is_a_configuration_error(settings, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    settings.REPORT_FONT_DIR = str(tmp_path)
    with pytest.raises(ImproperlyConfigured, match=r"DejaVuSans\.ttf"):
        render_report(
            _spec(), ["<p>x</p>"], data=[json_data("d", {})], out=tmp_path / "r.pdf"
        )


def test_oblique_faces_are_optional(settings, tmp_path):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    source = Path(render_module.DEFAULT_FONT_DIR)
    for name in (
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSansMono.ttf",
        "DejaVuSansMono-Bold.ttf",
    ):
        shutil.copyfile(source / name, fonts / name)
    settings.REPORT_FONT_DIR = str(fonts)
    result = render_report(
        _spec(),
        ["<p><em>slanted</em> text</p>"],
        data=[json_data("d", {})],
        out=tmp_path / "r.pdf",
    )
    with pikepdf.open(result.path) as pdf:
        assert all(f.embedded for f in pdfinfo.fonts(pdf))
        assert "slanted text" in pdfinfo.page_texts(pdf)[0]
