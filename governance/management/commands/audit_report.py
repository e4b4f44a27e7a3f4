"""Render the audit pack from the command line (R.PDF).

``python manage.py audit_report --output pack.pdf --from 2026-01-01 --to 2026-06-30
--sections methodology history --as auditor1`` renders the same pack the admin's
report jobs render, as the given user (their scope, clearance and
pseudonymisation), and records its SHA-256 in the audit trail.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.reports import sections
from governance.reports.issue import issue_report
from governance.reports.render import ReportRenderError, ReportSpec


def _date(value: Any, option: str) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise CommandError(
            f"{option} {value!r} is not a date (use YYYY-MM-DD)."
        ) from None


class Command(BaseCommand):
    help = "Render the audit pack (PDF/A-3b with embedded data) as a given user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", required=True, help="PDF file to write")
        parser.add_argument("--from", dest="date_from", help="first day (YYYY-MM-DD)")
        parser.add_argument("--to", dest="date_to", help="last day (YYYY-MM-DD)")
        parser.add_argument(
            "--sections",
            nargs="+",
            metavar="KEY",
            help=f"sections to include (default: all the user may receive); known: {', '.join(sections.keys())}",
        )
        parser.add_argument(
            "--as",
            dest="username",
            help="render as this user (default: the only active superuser)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        date_from = _date(options.get("date_from"), "--from")
        date_to = _date(options.get("date_to"), "--to")
        if date_from and date_to and date_from > date_to:
            raise CommandError(f"--from {date_from} is after --to {date_to}.")
        keys = list(options.get("sections") or [])
        known = sections.keys()
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise CommandError(
                f"Unknown section(s): {', '.join(unknown)}. Known: {', '.join(known)}."
            )
        user = self._user(options.get("username"))
        refused = [k for k in keys if not sections.get(k).available(user)]
        if refused:
            raise CommandError(
                f"{user.get_username()} may not receive section(s): {', '.join(refused)}."
            )
        output = Path(options["output"])
        if output.is_dir():
            raise CommandError(f"--output {output} is a directory.")
        pack = sections.build_audit_pack(
            viewer=user, date_from=date_from, date_to=date_to, section_keys=keys or None
        )
        ctx = sections.SectionContext(
            viewer=user,
            date_from=None,
            date_to=None,
            pseudonymise=sections.pseudonymise_for(user),
        )
        spec = ReportSpec(
            report_type="audit_pack",
            title=f"Audit pack {date_from or 'beginning'} to {date_to or datetime.date.today()}",
            author=ctx.user(user.pk, user.get_username()),
            subject="Governance audit pack",
            classification=pack.classification,
            keywords=("audit pack", *pack.sections),
        )
        try:
            issued = issue_report(
                spec, pack.chunks, data=pack.data, out=output, actor=user
            )
        except ReportRenderError as exc:
            raise CommandError(str(exc)) from exc
        rendered = issued.rendered
        self.stdout.write(
            f"Wrote {output} ({rendered.pages} pages, {rendered.size} bytes, "
            f"sections: {', '.join(pack.sections)})\nSHA-256 {rendered.sha256} "
            f"(audit event #{issued.event.pk})"
        )

    @staticmethod
    def _user(username: str | None) -> Any:
        User = get_user_model()
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user {username!r}.")
            if not user.is_active:
                raise CommandError(f"User {username!r} is not active.")
            if not sections.may_request(user):
                raise CommandError(f"User {username!r} may not request audit packs.")
            return user
        supers = list(User.objects.filter(is_superuser=True, is_active=True)[:2])
        if len(supers) != 1:
            raise CommandError("Name the user to render as with --as USERNAME.")
        return supers[0]
