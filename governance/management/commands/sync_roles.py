"""Make the Django groups match the roles declared in code (G.RBAC)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.rolesync import sync_roles


class Command(BaseCommand):
    help = "Create or update one group per role with exactly its declared permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sync_roles(verbosity=int(options["verbosity"]))
        for role, count in result.items():
            self.stdout.write(f"{role}: {count} permission(s)")
