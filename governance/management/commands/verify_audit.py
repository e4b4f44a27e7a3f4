"""Verify the tamper-evident audit chain (G.AUD)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.audit import chain


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain and compare it with every history row and "
        "audit event. Exits non-zero and names the first broken record after any "
        "edit, deletion or insertion made behind the application's back."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--head",
            action="store_true",
            help="Print the chain head (SEQ:HASH) and exit.",
        )
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head recorded elsewhere earlier; the chain must still contain it at that position.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Machine-readable output."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["head"]:
            self.stdout.write(chain.head())
            return
        expect = options.get("expect_head")
        report = chain.verify(expect_head=expect)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": report.ok,
                        "links": report.links,
                        "head": report.head,
                        "breaks": [
                            {
                                "kind": b.kind,
                                "table": b.table,
                                "row_id": b.row_id,
                                "seq": b.seq,
                                "detail": b.detail,
                            }
                            for b in report.breaks
                        ],
                    }
                )
            )
        elif report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Audit chain intact: {report.links} links, head {report.head}"
                )
            )
        else:
            first = report.breaks[0]
            self.stderr.write(f"Audit chain BROKEN. First broken record: {first}")
            for extra in report.breaks[1:20]:
                self.stderr.write(f"  also: {extra}")
            if len(report.breaks) > 20:
                self.stderr.write(f"  ... and {len(report.breaks) - 20} more")
        if not report.ok:
            raise CommandError(
                f"audit chain broken at {report.breaks[0]}", returncode=1
            )
