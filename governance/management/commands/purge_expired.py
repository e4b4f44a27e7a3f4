"""``manage.py purge_expired [--dry-run] [--json]``: purge records past retention.

Legal holds are respected; a real run records one ``retention.purged`` audit
event with counts and ids. ``--dry-run`` lists what would go and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance import retention


class Command(BaseCommand):
    help = "Purge records past their retention period (legal holds respected)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would go; change nothing."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = retention.purge_expired(actor=None, dry_run=options["dry_run"])
        data = report.as_data()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        verb = "would remove" if report.dry_run else "removed"
        for label, row in data["types"].items():
            self.stdout.write(
                f"{label}: {verb} {row['removed']}, held {row['held']}, "
                f"blocked {row['blocked']}"
            )
        self.stdout.write(f"Total {verb}: {report.removed}")
