"""Re-wrap every data key under the active master key (G.ENC)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from governance import services
from governance.crypto.keyring import get_keyring


class Command(BaseCommand):
    help = (
        "Re-wrap every data key under the first (active) key in PORTAL_MASTER_KEYS. "
        "Runs in small batches while the portal keeps serving. Afterwards the old "
        "master keys can be removed from the configuration."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        total = services.rotate_keys(batch_size=options["batch_size"])
        active = get_keyring().active.key_id
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-wrapped {total} data key(s) under master key {active}."
            )
        )
