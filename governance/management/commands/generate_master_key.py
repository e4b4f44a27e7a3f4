from django.core.management.base import BaseCommand

from governance.crypto.keyring import generate_master_key


class Command(BaseCommand):
    help = "Print a new random master key for PORTAL_MASTER_KEYS."

    requires_system_checks: list[str] = []

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(generate_master_key())
