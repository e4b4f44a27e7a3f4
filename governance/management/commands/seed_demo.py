"""``manage.py seed_demo``: fill an empty development database with a demo organisation."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance import demo
from governance.audit import chain
from governance.models import (
    AuditEvent,
    AuditLink,
    Department,
    Jurisdiction,
    Membership,
    Person,
    Team,
    User,
)


class Command(BaseCommand):
    help = (
        "Build the demo organisation (departments, teams, people, one account per "
        "role). Development only: refuses to run unless DEBUG is on, and only "
        "fills a database that has no people yet."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) if the database already holds people.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo only runs with DEBUG on: it creates accounts with a "
                "published password. Set DJANGO_DEBUG=true in a development .env."
            )
        if demo.is_seeded():
            if options["if_empty"]:
                if options["verbosity"] >= 2:
                    self.stdout.write("Demo data: people already exist; nothing to do.")
                return
            raise CommandError(
                f"The database already holds {Person.objects.count()} people (or demo "
                "accounts); seed_demo only fills an empty database. Nothing was "
                "changed. Use --if-empty to skip quietly."
            )

        verbose = options["verbosity"] >= 2
        started = time.perf_counter()
        demo.build(log=self.stdout.write if verbose else None)
        elapsed = time.perf_counter() - started

        counts = {
            "jurisdictions": Jurisdiction.objects.count(),
            "departments": Department.objects.count(),
            "teams": Team.objects.count(),
            "people": Person.objects.count(),
            "memberships": Membership.objects.count(),
            "accounts": User.objects.count(),
            "audit events": AuditEvent.objects.count(),
            "chain links": AuditLink.objects.count(),
        }
        summary = ", ".join(f"{n} {label}" for label, n in counts.items())
        self.stdout.write(
            self.style.SUCCESS(f"Demo data: {summary} in {elapsed:.1f}s.")
        )
        if verbose:
            report = chain.verify()
            self.stdout.write(f"Audit chain: {'ok' if report.ok else 'BROKEN'}")
        width = max(len(a.username) for a in demo.ACCOUNTS)
        self.stdout.write(
            f"Sign in at /accounts/login/ with password {demo.DEMO_PASSWORD}:"
        )
        for account in demo.ACCOUNTS:
            role = account.role.value if account.role else "Superuser"
            self.stdout.write(f"  {account.username:<{width}}  {role}")
