"""Check a report file against the audit trail (R.PDF integrity)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.reports.integrity import NotAPdf, verify_file


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 of a report PDF and find the 'report.issued' audit event "
        "that recorded it. Exits 0 and says what the report is; exits non-zero for a file "
        "the portal did not issue, a file altered since (even by one byte), or a non-PDF."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to the report PDF.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            result = verify_file(path)
        except NotAPdf as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except OSError as exc:
            raise CommandError(
                f"cannot read {path}: {exc.strerror or exc}", returncode=2
            ) from exc
        event = result.event
        if event is None:
            raise CommandError(
                f"NOT VERIFIED: no report.issued audit event has SHA-256 {result.sha256}. "
                "This file was not issued by the portal, or it has been altered since it was issued.",
                returncode=1,
            )
        data = event.data
        by = event.actor_label or "system"
        self.stdout.write(
            self.style.SUCCESS(
                f"VERIFIED: {path} is a '{data.get('report_type')}' report "
                f"({data.get('pages')} pages, {data.get('classification')}) "
                f"issued {event.occurred_at.isoformat(timespec='seconds')} by {by} "
                f"(audit event #{event.pk})."
            )
        )
        self.stdout.write(f"SHA-256 {result.sha256}")
        if event.object_type and event.object_type != "report":
            self.stdout.write(f"Subject: {event.object_type}#{event.object_id}")
        if result.matches > 1:
            self.stdout.write(
                f"Note: {result.matches} issue events record this same file."
            )
