"""The metrics app's audit-pack sections (R.PDF) and reproducibility (R.REPRO):
a control chart printed in an audit pack is recomputed from the CSV embedded
in the same PDF by ``manage.py spc`` with the same result."""

from __future__ import annotations

import io
import json

import pikepdf
import pytest
from django.core.management import call_command

from governance.reports import pdfinfo, sections
from governance.tests.test_audit_pack import catalogue  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_metrics_sections_are_registered_in_order():
    keys = sections.keys()
    for key in ("methodology", "history", "data_quality", "spc"):
        assert key in keys
    assert (
        keys.index("classification")
        < keys.index("methodology")
        < keys.index("audit_chain")
    )


def test_spc_figures_are_reproducible_from_the_embedded_csv(org, catalogue, tmp_path):  # noqa: F811
    out = tmp_path / "pack.pdf"
    call_command(
        "audit_report",
        "--output",
        str(out),
        "--as",
        "compliance",
        "--sections",
        "spc",
        stdout=io.StringIO(),
    )
    with pikepdf.open(out) as pdf:
        files = pdfinfo.embedded_files(pdf)
        text = "\n".join(pdfinfo.page_texts(pdf))
    pack = json.loads(files["audit-pack.json"].content)
    charts = pack["sections"]["spc"]
    assert charts, "the pack should chart the Team A resolution rate"
    for chart in charts:
        csv_path = tmp_path / chart["csv"]
        csv_path.write_bytes(files[chart["csv"]].content)
        assert files[chart["csv"]].relationship == "Data"
        stdout = io.StringIO()
        call_command(
            "spc",
            str(csv_path),
            "--json",
            "--baseline",
            str(chart["baseline"]),
            stdout=stdout,
        )
        recomputed = json.loads(stdout.getvalue())
        for field in (
            "n",
            "baseline",
            "center",
            "ucl",
            "lcl",
            "sigma",
            "mr_bar",
            "signals",
        ):
            assert recomputed[field] == chart[field], field
        # The printed figure is the one recomputed.
        assert f"centre {recomputed['center']:.6g}" in text.replace("\n", " ")
    assert charts[0]["n"] == 24 and charts[0]["metric"] == "support.resolution_rate"
