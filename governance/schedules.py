"""Scheduled jobs, declared in code and synced to django-q2 after migrate.

Apps declare their periodic jobs from ``AppConfig.ready()`` with
:func:`register`; ``sync_schedules`` (run after every migrate, and by
``manage.py sync_schedules``) creates or updates one ``Schedule`` row per job by
name, so deployments never hand-edit schedules. One declaration per job, never
one copy-pasted task per threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    func: str
    schedule_type: (
        str  # django_q Schedule.HOURLY / DAILY / WEEKLY / QUARTERLY / CRON ...
    )
    cron: str | None = None
    minutes: int | None = None


_REGISTRY: dict[str, ScheduledJob] = {}


def register(
    name: str,
    func: str,
    schedule_type: str,
    *,
    cron: str | None = None,
    minutes: int | None = None,
) -> None:
    _REGISTRY[name] = ScheduledJob(name, func, schedule_type, cron, minutes)


def registered() -> dict[str, ScheduledJob]:
    return dict(_REGISTRY)


def sync_schedules(using: str = "default") -> int:
    from django_q.models import Schedule

    for job in _REGISTRY.values():
        defaults: dict[str, Any] = {
            "func": job.func,
            "schedule_type": job.schedule_type,
            "repeats": -1,
        }
        if job.cron:
            defaults["cron"] = job.cron
        if job.minutes:
            defaults["minutes"] = job.minutes
        Schedule.objects.using(using).update_or_create(name=job.name, defaults=defaults)
    return len(_REGISTRY)
