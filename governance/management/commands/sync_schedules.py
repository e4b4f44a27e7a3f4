from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from governance.schedules import registered, sync_schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules declared in code."

    def handle(self, *args: Any, **options: Any) -> None:
        count = sync_schedules()
        for job in registered().values():
            self.stdout.write(f"{job.name}: {job.func} ({job.schedule_type})")
        self.stdout.write(self.style.SUCCESS(f"{count} schedule(s) in place."))
