"""Archival checks every issued report must pass (for tests of each report).

One helper so each report's test asserts the same thing the issue demands:
the file passes ``qpdf --check``, declares PDF/A-3b in its XMP metadata,
carries its data as embedded JSON, and ``verify_report`` accepts it and
rejects a copy with one byte changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

from governance.reports import pdfinfo


def qpdf_problems(path: Path) -> list[str]:
    """``qpdf --check`` output when it finds a problem (libqpdf through pikepdf
    where the command-line tool is not installed)."""
    qpdf = shutil.which("qpdf")
    if qpdf:
        proc = subprocess.run(  # noqa: S603 - a fixed tool on a file we wrote
            [qpdf, "--check", str(path)], capture_output=True, text=True, check=False
        )
        ok = (
            proc.returncode == 0
            and "No syntax or stream encoding errors" in proc.stdout
        )
        return [] if ok else [proc.stdout + proc.stderr]
    with pdfinfo.open_pdf(path) as pdf:
        return [str(p) for p in pdf.check_pdf_syntax()]


def assert_archival(content: bytes, tmp_path: Path, *, json_name: str) -> Any:
    """Assert the archival properties of an issued report; returns its JSON."""
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    assert qpdf_problems(path) == []
    with pdfinfo.open_pdf(path) as pdf:
        assert pdfinfo.pdfa_identification(pdf) == ("3", "B")
        files = pdfinfo.embedded_files(pdf)
        assert json_name in files, sorted(files)
        data = json.loads(files[json_name].content)
    call_command("verify_report", str(path), verbosity=0)
    changed = bytearray(content)
    changed[len(changed) // 2] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(changed))
    try:
        call_command("verify_report", str(tampered), verbosity=0)
    except CommandError as error:
        assert "NOT VERIFIED" in str(error), error
    else:  # pragma: no cover - the assertion this helper exists for
        raise AssertionError("verify_report accepted a copy with one byte changed")
    return data
