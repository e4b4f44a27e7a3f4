"""Who may open which admin URL: a role × outcome matrix (G.RBAC).

Every model registered with the admin site (by any app, now or later) is
exercised for every principal through the real URLs: changelist, add, change,
delete, history, the per-version history form and autocomplete. The expected
outcome of each is declared once, in ``MATRIX`` below, together with the rows
the principal may see:

    all         every row of the table
    department  rows of the department the user stewards (Sales)
    teams       rows of the teams the user manages (Team A and its child A1),
                plus what their own membership reaches
    granted     rows granted to the user object by object (django-guardian),
                or declared by the user themselves
    none        no row at all

A registered model without an entry fails the suite with instructions, so a
new admin can't skip the matrix (grafana/oncall and ciso-assistant style).

Outcomes:

    ok        200
    read      change page rendered read-only (no change permission)
    write     change page rendered editable
    login     302 to the admin login page
    denied    403
    gone      404, or 302 to the admin index saying the object doesn't exist;
              never the object
    redirect  302 to the object's change page
    n/a       the URL doesn't exist for this model (no per-version history
              form, or no relation anyone could autocomplete it through)

"change", "delete" and "history" are the outcomes for a row inside the scope
(or any row when the scope is "none"); every row outside the scope must be
"gone" wherever the principal could otherwise open it.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.db import models
from django.forms import ModelChoiceField
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from governance import display
from governance.admin_base import mask_related
from governance.audit import events
from governance.models import Membership

pytestmark = pytest.mark.django_db

PRINCIPALS = (
    "anonymous",
    "nobody",
    "employee",
    "hr",
    "compliance",
    "steward",
    "metric_owner",
    "board",
    "manager",
    "auditor",
    "admin",
)
KINDS = ("list", "add", "change", "delete", "history", "version", "autocomplete")
OUTCOMES = {"ok", "read", "write", "login", "denied", "gone", "redirect", "n/a"}
SCOPES = {"all", "department", "teams", "granted", "none"}


@dataclasses.dataclass(frozen=True)
class Expect:
    list: str
    add: str
    change: str
    delete: str
    history: str
    version: str
    autocomplete: str
    rows: str


def _table(text: str) -> dict[str, Expect]:
    rows: dict[str, Expect] = {}
    for line in text.strip().splitlines():
        principal, *cells = line.split()
        if principal == "role":
            continue
        assert len(cells) == len(KINDS) + 1, f"malformed matrix line: {line!r}"
        assert set(cells[:-1]) <= OUTCOMES, f"unknown outcome in {line!r}"
        assert cells[-1] in SCOPES, f"unknown row scope in {line!r}"
        rows[principal] = Expect(*cells)
    assert sorted(rows) == sorted(PRINCIPALS), "every principal needs a line"
    return rows


# fmt: off
MATRIX: dict[str, dict[str, Expect]] = {
    "governance.person": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      denied  read    denied  ok      gone    ok      department
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   denied  ok      gone    ok      all
    """),
    "governance.team": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   ok      ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      denied  read    denied  ok      gone    ok      department
        metric_owner  ok      denied  gone    denied  gone    gone    ok      none
        board         ok      denied  gone    denied  gone    gone    ok      none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    "governance.department": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      denied  write   denied  ok      gone    ok      department
        metric_owner  ok      denied  gone    denied  gone    gone    ok      none
        board         ok      denied  gone    denied  gone    gone    ok      none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    "governance.membership": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      write   ok      ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      denied  read    denied  ok      gone    n/a     department
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     teams
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    "governance.jurisdiction": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      denied  read    denied  ok      gone    ok      all
        compliance    ok      ok      write   denied  ok      gone    ok      all
        steward       ok      denied  read    denied  ok      gone    ok      all
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    "governance.auditevent": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            denied  denied  denied  denied  denied  gone    n/a     none
        compliance    ok      denied  read    denied  redirect gone   n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  redirect gone   n/a     all
        admin         ok      denied  read    denied  redirect gone   n/a     all
    """),
    # Consent (M8.3): purposes are reference data anyone defining metrics may
    # read; compliance defines them. Records are added (with evidence) and
    # withdrawn by compliance, never edited or deleted; employees use /me/.
    "governance.consentpurpose": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      denied  read    denied  ok      gone    ok      all
        compliance    ok      ok      write   denied  ok      gone    ok      all
        steward       ok      denied  read    denied  ok      gone    ok      all
        metric_owner  ok      denied  read    denied  ok      gone    ok      all
        board         ok      denied  read    denied  ok      gone    ok      all
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   denied  ok      gone    ok      all
    """),
    "governance.consentrecord": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            denied  denied  denied  denied  denied  gone    denied  none
        compliance    ok      ok      read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       denied  denied  denied  denied  denied  gone    denied  none
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      read    denied  ok      gone    ok      all
    """),
    # Review board (M8.4): a proposal is edited only as a draft (the sample is
    # being voted on); board members read proposals that went to a vote,
    # authors (metric owners) their own. Ballots are opened, voted on and
    # closed through governance.board; votes are cast on the ballot's vote page.
    "governance.proposal": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      read    denied  ok      gone    ok      all
        compliance    ok      ok      read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  ok      ok      gone    denied  gone    gone    ok      none
        board         ok      denied  read    denied  ok      gone    ok      all
        manager       denied  denied  denied  denied  denied  gone    denied  none
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      read    denied  ok      gone    ok      all
    """),
    "governance.ballot": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      denied  read    denied  ok      gone    ok      all
        compliance    ok      ok      read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  ok      denied  gone    denied  gone    gone    ok      none
        board         ok      denied  read    denied  ok      gone    ok      all
        manager       denied  denied  denied  denied  denied  gone    denied  none
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      read    denied  ok      gone    ok      all
    """),
    # The sample vote is the board member's own; compliance and auditors read all.
    "governance.vote": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            denied  denied  denied  denied  denied  gone    n/a     none
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         ok      denied  read    denied  ok      gone    n/a     all
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      denied  read    denied  ok      gone    n/a     all
    """),
    # Compliance (M8.5, G.RET): bias assessments are run (add) and signed off
    # by compliance, never edited; remediation items move forward on their
    # change form; legal holds are placed and released, never edited; HR reads
    # retention policies. Auditors read everything.
    "governance.biasassessment": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            denied  denied  denied  denied  denied  gone    denied  none
        compliance    ok      ok      read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       denied  denied  denied  denied  denied  gone    denied  none
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      read    denied  ok      gone    ok      all
    """),
    "governance.remediationitem": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            denied  denied  denied  denied  denied  gone    n/a     none
        compliance    ok      ok      write   denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   denied  ok      gone    n/a     all
    """),
    "governance.retentionpolicy": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      denied  read    denied  ok      gone    n/a     all
        compliance    ok      ok      write   denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   denied  ok      gone    n/a     all
    """),
    "governance.legalhold": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            denied  denied  denied  denied  denied  gone    n/a     none
        compliance    ok      ok      read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      read    denied  ok      gone    n/a     all
    """),
    # Report jobs (R.ASYNC): written only by the job service. Compliance,
    # managers and auditors request audit packs; org-wide readers list every
    # job's metadata, a manager only their own (the "teams" rows below).
    "governance.reportjob": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            denied  denied  denied  denied  denied  gone    n/a     none
        compliance    ok      ok      read    denied  redirect gone   n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      ok      read    denied  redirect gone   n/a     teams
        auditor       ok      ok      read    denied  redirect gone   n/a     all
        admin         ok      ok      read    denied  redirect gone   n/a     all
    """),
    # Accounts: roles and clearance change only through the audited access view;
    # accounts are deactivated, never deleted.
    "governance.user": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     login   none
        nobody        login   login   login   login   login   n/a     login   none
        employee      login   login   login   login   login   n/a     login   none
        hr            denied  denied  denied  denied  denied  n/a     denied  none
        compliance    denied  denied  denied  denied  denied  n/a     denied  none
        steward       denied  denied  denied  denied  denied  n/a     denied  none
        metric_owner  denied  denied  denied  denied  denied  n/a     denied  none
        board         denied  denied  denied  denied  denied  n/a     denied  none
        manager       denied  denied  denied  denied  denied  n/a     denied  none
        auditor       denied  denied  denied  denied  denied  n/a     denied  none
        admin         ok      ok      write   denied  ok      n/a     ok      all
    """),
    # Roles are declared in code (governance.roles) and synced by a command:
    # the admin shows the groups, it doesn't edit them.
    "auth.group": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     login   none
        nobody        login   login   login   login   login   n/a     login   none
        employee      login   login   login   login   login   n/a     login   none
        hr            denied  denied  denied  denied  denied  n/a     denied  none
        compliance    denied  denied  denied  denied  denied  n/a     denied  none
        steward       denied  denied  denied  denied  denied  n/a     denied  none
        metric_owner  denied  denied  denied  denied  denied  n/a     denied  none
        board         denied  denied  denied  denied  denied  n/a     denied  none
        manager       denied  denied  denied  denied  denied  n/a     denied  none
        auditor       denied  denied  denied  denied  denied  n/a     denied  none
        admin         ok      denied  read    denied  ok      n/a     ok      all
    """),
    # Third-party admins (allauth, django-q2): superuser only. An admin without
    # search fields answers autocomplete with a 404 before it checks anything.
    "account.emailaddress": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     login   none
        nobody        login   login   login   login   login   n/a     login   none
        employee      login   login   login   login   login   n/a     login   none
        hr            denied  denied  denied  denied  denied  n/a     denied  none
        compliance    denied  denied  denied  denied  denied  n/a     denied  none
        steward       denied  denied  denied  denied  denied  n/a     denied  none
        metric_owner  denied  denied  denied  denied  denied  n/a     denied  none
        board         denied  denied  denied  denied  denied  n/a     denied  none
        manager       denied  denied  denied  denied  denied  n/a     denied  none
        auditor       denied  denied  denied  denied  denied  n/a     denied  none
        admin         ok      ok      write   ok      ok      n/a     ok      all
    """),
    "socialaccount.socialaccount": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     login   none
        nobody        login   login   login   login   login   n/a     login   none
        employee      login   login   login   login   login   n/a     login   none
        hr            denied  denied  denied  denied  denied  n/a     denied  none
        compliance    denied  denied  denied  denied  denied  n/a     denied  none
        steward       denied  denied  denied  denied  denied  n/a     denied  none
        metric_owner  denied  denied  denied  denied  denied  n/a     denied  none
        board         denied  denied  denied  denied  denied  n/a     denied  none
        manager       denied  denied  denied  denied  denied  n/a     denied  none
        auditor       denied  denied  denied  denied  denied  n/a     denied  none
        admin         ok      ok      write   ok      ok      n/a     ok      all
    """),
    "django_q.schedule": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     n/a     none
        nobody        login   login   login   login   login   n/a     n/a     none
        employee      login   login   login   login   login   n/a     n/a     none
        hr            denied  denied  denied  denied  denied  n/a     n/a     none
        compliance    denied  denied  denied  denied  denied  n/a     n/a     none
        steward       denied  denied  denied  denied  denied  n/a     n/a     none
        metric_owner  denied  denied  denied  denied  denied  n/a     n/a     none
        board         denied  denied  denied  denied  denied  n/a     n/a     none
        manager       denied  denied  denied  denied  denied  n/a     n/a     none
        auditor       denied  denied  denied  denied  denied  n/a     n/a     none
        admin         ok      ok      write   ok      ok      n/a     n/a     all
    """),
    # django-q2 marks task results read-only field by field, not by permission.
    "django_q.success": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     n/a     none
        nobody        login   login   login   login   login   n/a     n/a     none
        employee      login   login   login   login   login   n/a     n/a     none
        hr            denied  denied  denied  denied  denied  n/a     n/a     none
        compliance    denied  denied  denied  denied  denied  n/a     n/a     none
        steward       denied  denied  denied  denied  denied  n/a     n/a     none
        metric_owner  denied  denied  denied  denied  denied  n/a     n/a     none
        board         denied  denied  denied  denied  denied  n/a     n/a     none
        manager       denied  denied  denied  denied  denied  n/a     n/a     none
        auditor       denied  denied  denied  denied  denied  n/a     n/a     none
        admin         ok      denied  write   ok      ok      n/a     n/a     all
    """),
    "django_q.failure": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     n/a     none
        nobody        login   login   login   login   login   n/a     n/a     none
        employee      login   login   login   login   login   n/a     n/a     none
        hr            denied  denied  denied  denied  denied  n/a     n/a     none
        compliance    denied  denied  denied  denied  denied  n/a     n/a     none
        steward       denied  denied  denied  denied  denied  n/a     n/a     none
        metric_owner  denied  denied  denied  denied  denied  n/a     n/a     none
        board         denied  denied  denied  denied  denied  n/a     n/a     none
        manager       denied  denied  denied  denied  denied  n/a     n/a     none
        auditor       denied  denied  denied  denied  denied  n/a     n/a     none
        admin         ok      denied  write   ok      ok      n/a     n/a     all
    """),
    "django_q.ormq": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   n/a     n/a     none
        nobody        login   login   login   login   login   n/a     n/a     none
        employee      login   login   login   login   login   n/a     n/a     none
        hr            denied  denied  denied  denied  denied  n/a     n/a     none
        compliance    denied  denied  denied  denied  denied  n/a     n/a     none
        steward       denied  denied  denied  denied  denied  n/a     n/a     none
        metric_owner  denied  denied  denied  denied  denied  n/a     n/a     none
        board         denied  denied  denied  denied  denied  n/a     n/a     none
        manager       denied  denied  denied  denied  denied  n/a     n/a     none
        auditor       denied  denied  denied  denied  denied  n/a     n/a     none
        admin         ok      denied  write   ok      ok      n/a     n/a     all
    """),
    # Reference data: everyone with the permission sees and edits every row.
    "metrics.strategicobjective": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      ok      write   denied  ok      gone    ok      all
        metric_owner  ok      ok      write   denied  ok      gone    ok      all
        board         ok      denied  read    denied  ok      gone    ok      all
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    "metrics.datasource": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      denied  read    denied  ok      gone    ok      all
        metric_owner  ok      denied  read    denied  ok      gone    ok      all
        board         ok      denied  read    denied  ok      gone    ok      all
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    # The catalogue: every definition is readable by whoever may view metrics;
    # editing is scoped (org roles, the owner, the steward). Metrics are retired, never deleted.
    "metrics.metric": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      ok      write   denied  ok      gone    ok      all
        metric_owner  ok      ok      read    denied  ok      gone    ok      all
        board         ok      denied  read    denied  ok      gone    ok      all
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   denied  ok      gone    ok      all
    """),
    "metrics.metrictarget": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      write   denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      ok      write   denied  ok      gone    n/a     all
        metric_owner  ok      ok      read    denied  ok      gone    n/a     all
        board         ok      denied  read    denied  ok      gone    n/a     all
        manager       ok      denied  read    denied  ok      gone    n/a     all
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    "metrics.metricconflict": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      write   denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      ok      write   denied  ok      gone    n/a     all
        metric_owner  ok      ok      write   denied  ok      gone    n/a     all
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     all
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    "metrics.transformationstep": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      write   denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      ok      write   denied  ok      gone    n/a     all
        metric_owner  ok      ok      read    denied  ok      gone    n/a     all
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     all
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    # Methodology documents (M8.2): the metric's steward or owner writes a
    # draft (add); the sample row is an approved version, read-only for
    # everyone (approved at activation); never deleted. Auditors read only.
    "metrics.methodologyversion": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      denied  read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      ok      read    denied  ok      gone    n/a     all
        metric_owner  ok      ok      read    denied  ok      gone    n/a     all
        board         ok      denied  read    denied  ok      gone    n/a     all
        manager       ok      denied  read    denied  ok      gone    n/a     all
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      read    denied  ok      gone    n/a     all
    """),
    # Filed through the service, decided by actions (steward): never edited.
    "metrics.changerequest": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      read    denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      ok      read    denied  ok      gone    ok      all
        metric_owner  ok      ok      read    denied  ok      gone    ok      all
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      read    denied  ok      gone    ok      all
    """),
    # Disputes move only through their workflow's actions (metrics/tests/
    # test_admin_disputes.py): the record is read-only and never deleted.
    "metrics.stewardshipdispute": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      ok      read    denied  ok      gone    n/a     all
        metric_owner  ok      denied  read    denied  ok      gone    n/a     all
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     all
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      read    denied  ok      gone    n/a     all
    """),
    "metrics.fieldname": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      denied  read    denied  ok      gone    ok      all
        metric_owner  ok      denied  read    denied  ok      gone    ok      all
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      all
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    "metrics.fieldalias": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      write   denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      denied  read    denied  ok      gone    n/a     all
        metric_owner  ok      denied  read    denied  ok      gone    n/a     all
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     all
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    # Captured and corrected (superseded) through the service; never deleted.
    "metrics.observation": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       ok      ok      write   denied  ok      gone    ok      department
        metric_owner  ok      ok      gone    denied  gone    gone    ok      none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   denied  ok      gone    ok      all
    """),
    # Read-only records; stewards decide them (metrics.quality).
    "metrics.dataqualityissue": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      denied  read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      denied  read    denied  ok      gone    n/a     department
        metric_owner  ok      denied  gone    denied  gone    gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     teams
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      denied  read    denied  ok      gone    n/a     all
    """),
    "metrics.annotation": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      denied  read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       ok      denied  read    denied  ok      gone    n/a     department
        metric_owner  ok      denied  gone    denied  gone    gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     teams
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      denied  read    denied  ok      gone    n/a     all
    """),
    "metrics.peerfeedback": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      write   denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     teams
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    "metrics.stakeholderfeedback": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       ok      denied  read    denied  ok      gone    n/a     teams
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      write   ok      ok      gone    n/a     all
    """),
    # Autocomplete: appeals point at evaluations (appeals.Appeal.evaluation).
    "metrics.evaluation": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    # Issued (secret shown once) and revoked through metrics.tokens; never edited.
    "metrics.apitoken": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      read    denied  ok      gone    ok      all
        compliance    denied  denied  denied  denied  denied  gone    denied  none
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       denied  denied  denied  denied  denied  gone    denied  none
        auditor       denied  denied  denied  denied  denied  gone    denied  none
        admin         ok      ok      read    denied  ok      gone    ok      all
    """),
    # Incentive plans (M5.1, M5.2): HR writes drafts (components inline) and
    # activates them; an active plan is frozen. Managers read their teams'.
    "metrics.incentiveplan": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    # The non-punitive gaming review queue (M5.3): written by the detection
    # job, closed on the review page by HR or compliance; never line managers.
    "metrics.gamingfinding": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      denied  read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      denied  read    denied  ok      gone    n/a     all
    """),
    # Peer-review cycles (M5.5): HR creates them and generates assignments
    # (then the cycle is frozen); managers read their own department's.
    "metrics.peerreviewcycle": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      ok      write   denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         denied  denied  denied  denied  denied  gone    denied  none
        manager       ok      denied  read    denied  ok      gone    ok      teams
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      ok      write   ok      ok      gone    ok      all
    """),
    # No role holds a permission on it (superuser only).
    "metrics.idempotencyrecord": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            denied  denied  denied  denied  denied  gone    n/a     none
        compliance    denied  denied  denied  denied  denied  gone    n/a     none
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         denied  denied  denied  denied  denied  gone    n/a     none
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       denied  denied  denied  denied  denied  gone    n/a     none
        admin         ok      denied  read    denied  ok      gone    n/a     all
    """),
    # Appeals (M8.6): filed on /me/appeals/, read-only records in the admin whose
    # state changes are actions and pages calling appeals.services. HR and
    # compliance manage every appeal; the assigned reviewer (the board member)
    # reaches only the appeal granted to them; auditors read everything.
    "appeals.appeal": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   login   none
        nobody        login   login   login   login   login   login   login   none
        employee      login   login   login   login   login   login   login   none
        hr            ok      denied  read    denied  ok      gone    ok      all
        compliance    ok      denied  read    denied  ok      gone    ok      all
        steward       denied  denied  denied  denied  denied  gone    denied  none
        metric_owner  denied  denied  denied  denied  denied  gone    denied  none
        board         ok      denied  read    denied  ok      gone    ok      granted
        manager       ok      denied  gone    denied  gone    gone    ok      none
        auditor       ok      denied  read    denied  ok      gone    ok      all
        admin         ok      denied  read    denied  ok      gone    ok      all
    """),
    "appeals.evidence": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      denied  read    denied  ok      gone    n/a     all
        compliance    ok      denied  read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         ok      denied  read    denied  ok      gone    n/a     granted
        manager       ok      denied  gone    denied  gone    gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      denied  read    denied  ok      gone    n/a     all
    """),
    # HR and compliance record their own conflicts here; a reviewer recuses on
    # the appeal's decide page (they can't list people). Declarations stand.
    "appeals.conflictdeclaration": _table("""
        role          list    add     change  delete  history version autoc   rows
        anonymous     login   login   login   login   login   login   n/a     none
        nobody        login   login   login   login   login   login   n/a     none
        employee      login   login   login   login   login   login   n/a     none
        hr            ok      ok      read    denied  ok      gone    n/a     all
        compliance    ok      ok      read    denied  ok      gone    n/a     all
        steward       denied  denied  denied  denied  denied  gone    n/a     none
        metric_owner  denied  denied  denied  denied  denied  gone    n/a     none
        board         ok      denied  read    denied  ok      gone    n/a     granted
        manager       denied  denied  denied  denied  denied  gone    n/a     none
        auditor       ok      denied  read    denied  ok      gone    n/a     all
        admin         ok      ok      read    denied  ok      gone    n/a     all
    """),
}
# fmt: on


# -- the rows each scope reaches in the `org` fixture ---------------------------
# Written from the fixture's structure, never from visible_to(), so a scoping
# bug can't agree with itself.


def _people(*keys: str) -> Callable[[Any], list[Any]]:
    return lambda org: [org.people[key] for key in keys]


def _memberships_of_sales_teams(org: Any) -> Iterable[Any]:
    return Membership.objects.filter(team__in=[org.team_a, org.team_a1])


def _sample_metrics_rows(label: str, **lookups: Any) -> Callable[[Any], Iterable[Any]]:
    def rows(org: Any) -> Iterable[Any]:
        return apps.get_model(label)._base_manager.filter(**lookups)

    return rows


def _about_member_a1(label: str, field: str) -> Callable[[Any], Iterable[Any]]:
    return lambda org: apps.get_model(label)._base_manager.filter(
        **{field: org.people["member_a1"]}
    )


SCOPED_ROWS: dict[str, dict[str, Callable[[Any], Iterable[Any]]]] = {
    # The sample metrics are Sales metrics stewarded by steward_sales; their
    # observations are about member_a1 (Team A1) and Team B.
    "metrics.observation": {
        "department": _sample_metrics_rows("metrics.observation"),
        "teams": _about_member_a1("metrics.observation", "person"),
    },
    "metrics.dataqualityissue": {
        "department": _sample_metrics_rows("metrics.dataqualityissue"),
        "teams": _about_member_a1("metrics.dataqualityissue", "observation__person"),
    },
    "metrics.annotation": {
        "department": _sample_metrics_rows("metrics.annotation"),
        "teams": _about_member_a1("metrics.annotation", "observation__person"),
    },
    "metrics.peerfeedback": {
        "teams": _about_member_a1("metrics.peerfeedback", "subject")
    },
    "metrics.stakeholderfeedback": {
        "teams": _about_member_a1("metrics.stakeholderfeedback", "person")
    },
    "metrics.evaluation": {"teams": _about_member_a1("metrics.evaluation", "person")},
    "governance.reportjob": {
        "teams": lambda org: apps.get_model("governance.reportjob").objects.filter(
            requested_by=org.users["manager"]
        ),
    },
    # Plans of Team A1 (inside manager_a's teams) and Team B; cycles of Sales
    # (manager_a's department) and Product.
    "metrics.incentiveplan": {
        "teams": lambda org: apps.get_model(
            "metrics.incentiveplan"
        )._base_manager.filter(team__in=[org.team_a, org.team_a1])
    },
    "metrics.peerreviewcycle": {
        "teams": lambda org: apps.get_model(
            "metrics.peerreviewcycle"
        )._base_manager.filter(department=org.sales)
    },
    "governance.person": {
        # Sales: the steward's department.
        "department": _people("manager_a", "member_a", "member_a1", "steward_sales"),
        # Team A, its child A1, manager_a's direct reports and manager_a.
        "teams": _people("manager_a", "member_a", "member_a1"),
    },
    "governance.team": {
        "department": lambda org: [org.team_a, org.team_a1],
        "teams": lambda org: [org.team_a, org.team_a1],
    },
    "governance.department": {
        "department": lambda org: [org.sales],
        "teams": lambda org: [org.sales],  # a manager sees their own department
    },
    "governance.membership": {
        "department": _memberships_of_sales_teams,
        "teams": _memberships_of_sales_teams,
    },
    # The board member reviews the appeal about member_a1 only (object grant)
    # and declared one conflict.
    "appeals.appeal": {"granted": _about_member_a1("appeals.appeal", "appellant")},
    "appeals.evidence": {
        "granted": _about_member_a1("appeals.evidence", "appeal__appellant")
    },
    "appeals.conflictdeclaration": {
        "granted": lambda org: apps.get_model(
            "appeals.conflictdeclaration"
        )._base_manager.filter(user=org.users["board"])
    },
}


def _pks(objs: Iterable[Any]) -> set[str]:
    return {str(obj.pk) for obj in objs}


def expected_rows(label: str, scope: str, org: Any) -> set[str]:
    model = apps.get_model(label)
    if scope == "all":
        return _pks(model._base_manager.all())
    if scope == "none":
        return set()
    assert scope in SCOPED_ROWS.get(label, {}), (
        f"{label}: declare which rows scope {scope!r} reaches in SCOPED_ROWS"
    )
    return _pks(SCOPED_ROWS[label][scope](org))


# -- one row of every registered model ------------------------------------------


def _sample_emailaddress(org: Any) -> None:
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(
        user=org.users["hr"], email="hr@example.com", primary=True, verified=True
    )


def _sample_socialaccount(org: Any) -> Any:
    from allauth.socialaccount.models import SocialAccount

    return SocialAccount.objects.create(
        user=org.users["hr"], provider="sso", uid="hr-1"
    )


def _sample_task(success: bool) -> Callable[[Any], None]:
    def make(org: Any) -> None:
        from django_q.models import Task

        now = timezone.now()
        Task.objects.create(
            id=f"task-{success}",
            name=f"sample-{success}",
            func="math.floor",
            started=now - datetime.timedelta(seconds=1),
            stopped=now,
            success=success,
        )

    return make


def _sample_schedule(org: Any) -> None:
    from django_q.models import Schedule

    Schedule.objects.create(name="sample", func="math.floor")


def _sample_ormq(org: Any) -> None:
    from django_q.models import OrmQ

    OrmQ.objects.create(key="default", payload="sample")


def _sample_purpose(org: Any) -> None:
    from governance import consent

    consent.ensure_default_purpose()


def _sample_consent(org: Any) -> None:
    from governance import consent

    consent.give_consent(
        actor=None,
        person=org.people["member_a"],
        purpose=consent.DEFAULT_PURPOSE,
        evidence="sample",
    )


def _sample_board(org: Any) -> None:
    """A proposal being voted on, its assessment, its ballot and the board
    member's vote (rows only: no subject provider is consulted)."""
    from governance.models import Ballot, ImpactAssessment, Proposal, Vote

    now = timezone.now()
    governed = {"_change_reason": "sample"}
    proposal = Proposal(
        title="Sample proposal",
        summary="s",
        subject_type="metrics.metric",
        subject_id="1",
        author=org.users["compliance"],
        status=Proposal.Status.VOTING,
        bound_version=1,
        bound_digest="0" * 64,
        created_at=now,
    )
    proposal.__dict__.update(governed)
    proposal.save()
    assessment = ImpactAssessment(proposal=proposal)
    assessment.__dict__.update(governed)
    assessment.save()
    deadline = now + datetime.timedelta(days=2)
    ballot = Ballot(proposal=proposal, opened_at=now, deadline=deadline, quorum=1)
    ballot.__dict__.update(governed)
    ballot.save()
    vote = Vote(
        ballot=ballot,
        voter=org.users["board"],
        choice=Vote.Choice.APPROVE,
        rationale="sample",
        cast_at=now,
        updated_at=now,
        ballot_deadline=deadline,
    )
    vote.__dict__.update(governed)
    vote.save()


def _sample_compliance(org: Any) -> None:
    """An open (adverse) bias assessment with a group row and a remediation
    item, a retention policy and a legal hold (rows only)."""
    from governance.models import (
        BiasAssessment,
        BiasGroupResult,
        LegalHold,
        RemediationItem,
        RetentionPolicy,
    )
    from governance.services import save_governed

    if BiasAssessment.objects.exists():
        return
    now = timezone.now()
    assessment = save_governed(
        BiasAssessment(
            target_type="metrics.evaluation_release",
            target_id="2026-01-01..2026-06-30",
            target_label="Sample release",
            attribute="gender",
            threshold=3,
            run_by=org.users["compliance"],
            run_at=now,
            dataset_hash="0" * 64,
            verdict=BiasAssessment.Verdict.ADVERSE,
        ),
        actor=None,
        reason="sample",
    )
    save_governed(
        BiasGroupResult(assessment=assessment, group="small", suppressed=True),
        actor=None,
        reason="sample",
    )
    save_governed(
        RemediationItem(
            assessment=assessment,
            description="sample",
            owner=org.people["hr"],
            due_date=datetime.date(2026, 9, 1),
            created_at=now,
        ),
        actor=None,
        reason="sample",
    )
    save_governed(
        RetentionPolicy(
            record_type="metrics.observation", retention_days=730, purpose="s"
        ),
        actor=None,
        reason="sample",
    )
    save_governed(
        LegalHold(
            person=org.people["member_a"],
            reason="sample",
            placed_by=org.users["compliance"],
            placed_at=now,
        ),
        actor=None,
        reason="sample",
    )


def _sample_auditevent(org: Any) -> None:
    events.record("test.sample", object_type="test", object_id="1")


def _sample_reportjob(org: Any) -> None:
    """Two queued jobs (not rendered): the manager's own and the auditor's."""
    from governance.models import ReportJob

    for who in ("manager", "auditor"):
        ReportJob.objects.create(requested_by=org.users[who], sections=["board"])


def _sample_metrics(org: Any) -> None:
    """One world of metrics rows (built once, whichever label asks first): the
    catalogue, two observations (member_a1 of Team A1; Team B) and everything
    hanging off them, qualitative inputs about member_a1 and member_b, a token."""
    from decimal import Decimal

    from governance.services import save_governed
    from metrics import services as metric_services
    from metrics.models import (
        Annotation,
        ApiToken,
        DataQualityIssue,
        Evaluation,
        FieldAlias,
        FieldName,
        IdempotencyRecord,
        Metric,
        MetricConflict,
        MetricTarget,
        PeerFeedback,
        StakeholderFeedback,
        StewardshipDispute,
        TransformationStep,
    )
    from metrics.testing import build_catalogue

    if Metric.objects.exists():
        return
    now = timezone.now()
    cat = build_catalogue(org)
    individual, team = metric_services.record_observations(
        actor=None,
        rows=[
            {
                "metric": cat.calls.key,
                "employee_id": org.people["member_a1"].employee_id,
                "period_start": "2026-03-01",
                "value": "120",
            },
            {
                "metric": cat.resolution.key,
                "team": "Team B",
                "period_start": "2026-03-01",
                "value": "80",
            },
        ],
    )
    MetricTarget.objects.create(metric=cat.calls, target=Decimal("150"))
    MetricConflict.objects.create(
        metric_a=cat.calls, metric_b=cat.resolution, description="quota vs quality"
    )
    TransformationStep.objects.create(metric=cat.calls, source=cat.manual)
    metric_services.change_request_create(
        actor=None, metric=cat.calls, changes={"unit": "dials"}, reason="CRM wording"
    )
    dispute = StewardshipDispute.objects.create(
        title="Two call counts", description="x"
    )
    dispute.metrics.set([cat.calls])
    field = FieldName.objects.create(name="employee_id", definition="Employee id")
    FieldAlias.objects.create(field=field, system="jira", alias="assignee")
    for obs in (individual, team):
        DataQualityIssue.objects.create(
            observation=obs, kind="spike", detail="z = 9", detected_at=now
        )
        save_governed(
            Annotation(
                observation=obs, kind="real_shift", text="noted", created_at=now
            ),
            actor=None,
            reason="sample",
        )
    for subject, other, stakeholder in (
        ("member_a1", "member_a", "Client X"),
        ("member_b", "manager_b", "Client Y"),
    ):
        person, reviewer = org.people[subject], org.people[other]
        save_governed(
            PeerFeedback(
                subject=person,
                reviewer=reviewer,
                cycle="2026-H1",
                rating=4,
                text="helpful",
                submitted_at=now,
            ),
            actor=None,
            reason="sample",
        )
        save_governed(
            StakeholderFeedback(
                person=person,
                stakeholder=stakeholder,
                period_start=datetime.date(2026, 3, 1),
                rating=4,
                text="responsive",
            ),
            actor=None,
            reason="sample",
        )
        save_governed(
            Evaluation(
                person=person,
                evaluator=reviewer,
                period_start=datetime.date(2026, 1, 1),
                period_end=datetime.date(2026, 6, 30),
                weights={"quantitative": 1},
                components={},
                score=Decimal("3.5"),
                rationale="steady",
            ),
            actor=None,
            reason="sample",
        )
    token = ApiToken.objects.create(
        name="Jira sync",
        source=cat.jira,
        prefix="abcd2345",
        secret_hash="0" * 64,
        created_at=now,
        expires_at=now + datetime.timedelta(days=30),
    )
    IdempotencyRecord.objects.create(
        token=token,
        key="batch-1",
        request_hash="0" * 64,
        status_code=201,
        response={},
        created_at=now,
    )


def _sample_incentives(org: Any) -> None:
    """Draft incentive plans of Team A1 and Team B, a gaming finding on the
    sample calls metric, and two peer-review cycles (Sales still a draft,
    Product with its assignments generated). Built once, whichever label asks first."""
    from decimal import Decimal

    from governance.services import save_governed
    from metrics import peer_reviews
    from metrics.models import (
        GamingFinding,
        IncentiveComponent,
        IncentivePlan,
        Metric,
        PeerReviewCycle,
    )

    if IncentivePlan.objects.exists():
        return
    _sample_metrics(org)
    calls = Metric.objects.get(key="sales.calls_made")
    resolution = Metric.objects.get(key="support.resolution_rate")
    for team in (org.team_a1, org.team_b):
        plan = save_governed(
            IncentivePlan(
                team=team,
                name=f"{team.name} H1",
                period_start=datetime.date(2026, 1, 1),
                period_end=datetime.date(2026, 6, 30),
            ),
            actor=None,
            reason="sample",
        )
        for metric, level in ((calls, "individual"), (resolution, "team")):
            save_governed(
                IncentiveComponent(
                    plan=plan, metric=metric, level=level, weight=Decimal("50")
                ),
                actor=None,
                reason="sample",
            )
    now = timezone.now()
    save_governed(
        GamingFinding(
            kind="threshold_bunching",
            metric=calls,
            team=org.team_a,
            fingerprint="sample",
            evidence={"just_passing": 9, "just_failing": 1},
            summary="9 values lie just on the passing side of 150.",
            detected_at=now,
            last_seen_at=now,
        ),
        actor=None,
        reason="sample",
    )
    for department in (org.sales, org.product):
        save_governed(
            PeerReviewCycle(
                name="2026-H1",
                department=department,
                reviewers_per_person=1,
                starts_on=datetime.date(2026, 1, 1),
            ),
            actor=None,
            reason="sample",
        )
    product_cycle = PeerReviewCycle.objects.get(department=org.product)
    peer_reviews.generate_assignments(actor=None, cycle=product_cycle)


def _sample_appeals(org: Any) -> None:
    """Two appeals against the sample evaluations (member_a1's, assigned to the
    board member with an object grant; member_b's, unassigned), a file each,
    and a conflict declared by the board member and one by HR (rows only)."""
    import uuid

    from guardian.shortcuts import assign_perm

    from appeals import evidence
    from appeals.models import Appeal, ConflictDeclaration, Evidence
    from governance.services import save_governed
    from metrics.models import Evaluation

    _sample_metrics(org)
    now = timezone.now()
    for key, reviewer in (("member_a1", org.users["board"]), ("member_b", None)):
        person = org.people[key]
        evaluation = Evaluation.objects.get(person=person)
        appeal = Appeal(
            reference=f"AP-SAMPLE-{key}",
            appellant=person,
            evaluation=evaluation,
            evaluator=evaluation.evaluator,
            grounds="sample grounds",
            requested_remedy="sample remedy",
            status="under_review" if reviewer else "submitted",
            reviewer=reviewer,
            filed_at=now,
            stage_started_at=now,
            stage_deadline=now + datetime.timedelta(days=5),
        )
        save_governed(appeal, actor=None, reason="sample")
        if reviewer is not None:
            for perm in ("view_appeal", "change_appeal"):
                assign_perm(perm, reviewer, appeal)
        item = Evidence(
            id=uuid.uuid4(),
            appeal=appeal,
            appellant=person,
            filename="sample.txt",
            content_type="text/plain",
            size=6,
            sha256="0" * 64,
            uploaded_at=now,
        )
        item.sealed = evidence.seal(
            b"sample", appellant_id=person.pk, evidence_id=item.id
        )
        save_governed(item, actor=None, reason="sample")
    for user, key in ((org.users["board"], "member_b"), (org.users["hr"], "member_a1")):
        save_governed(
            ConflictDeclaration(
                user=user, person=org.people[key], reason="sample", declared_at=now
            ),
            actor=None,
            reason="sample",
        )


SAMPLES: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(
        ("appeals.appeal", "appeals.evidence", "appeals.conflictdeclaration"),
        _sample_appeals,
    ),
    "account.emailaddress": _sample_emailaddress,
    "socialaccount.socialaccount": _sample_socialaccount,
    "django_q.schedule": _sample_schedule,
    "django_q.success": _sample_task(True),
    "django_q.failure": _sample_task(False),
    "django_q.ormq": _sample_ormq,
    "governance.auditevent": _sample_auditevent,
    "governance.reportjob": _sample_reportjob,
    "governance.consentpurpose": _sample_purpose,
    "governance.consentrecord": _sample_consent,
    **dict.fromkeys(
        (
            "governance.biasassessment",
            "governance.remediationitem",
            "governance.retentionpolicy",
            "governance.legalhold",
        ),
        _sample_compliance,
    ),
    **dict.fromkeys(
        ("governance.proposal", "governance.ballot", "governance.vote"), _sample_board
    ),
    **dict.fromkeys(
        (
            "metrics.strategicobjective",
            "metrics.datasource",
            "metrics.metric",
            "metrics.metrictarget",
            "metrics.metricconflict",
            "metrics.transformationstep",
            "metrics.methodologyversion",
            "metrics.changerequest",
            "metrics.stewardshipdispute",
            "metrics.fieldname",
            "metrics.fieldalias",
            "metrics.observation",
            "metrics.dataqualityissue",
            "metrics.annotation",
            "metrics.peerfeedback",
            "metrics.stakeholderfeedback",
            "metrics.evaluation",
            "metrics.apitoken",
            "metrics.idempotencyrecord",
        ),
        _sample_metrics,
    ),
    **dict.fromkeys(
        ("metrics.incentiveplan", "metrics.gamingfinding", "metrics.peerreviewcycle"),
        _sample_incentives,
    ),
}


# -- requests and outcomes ----------------------------------------------------


def registered_labels() -> list[str]:
    return sorted(model._meta.label_lower for model in admin.site._registry)


def _admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_{view}",
        args=[quote(a) for a in args],
    )


def outcome(response: Any, *, kind: str = "", change_url: str = "") -> str:
    status = response.status_code
    if status == 200:
        if kind == "change":
            return "write" if response.context["has_change_permission"] else "read"
        return "ok"
    if status == 302:
        location = response.url
        if location.startswith(reverse("admin:login")):
            return "login"
        if location == reverse("admin:index"):
            said = [str(m) for m in get_messages(response.wsgi_request)]
            if any("doesn’t exist" in m for m in said):
                return "gone"
        if change_url and location == change_url:
            return "redirect"
        return f"302 to {location}"
    return {403: "denied", 404: "gone"}.get(status, str(status))


def form_data(response: Any) -> dict[str, Any]:
    """The POST data of an admin change form exactly as rendered (with inlines)."""

    def put(data: dict[str, Any], form: Any, name: str) -> None:
        value = form[name].value()
        if value is None or value is False:
            return
        if value is True:
            data[form.add_prefix(name)] = "on"
        elif isinstance(value, (list, tuple)):
            data[form.add_prefix(name)] = [str(v) for v in value]
        else:
            data[form.add_prefix(name)] = str(value)

    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name in form.fields:
        put(data, form, name)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            put(data, formset.management_form, name)
        for sub in formset.forms:
            for name in sub.fields:
                put(data, sub, name)
    return data


def outside(expected: str) -> str:
    """The outcome for a row outside the principal's scope."""
    return expected if expected in {"login", "denied", "n/a"} else "gone"


def autocomplete_sources(model: type[models.Model]) -> list[models.Field]:
    """Relations the autocomplete view resolves to ``model``: every one an
    admin declares, plus the first undeclared one (any model's relation works)."""
    declared: list[models.Field] = []
    for model_admin in admin.site._registry.values():
        holders = [model_admin, *model_admin.inlines]
        for holder in holders:
            source = holder.model
            for name in holder.autocomplete_fields:
                field = source._meta.get_field(name)
                if field.related_model is model and field not in declared:
                    declared.append(field)
    others = sorted(
        (
            field
            for other in apps.get_models()
            for field in other._meta.get_fields()
            if field.is_relation
            and not field.auto_created
            and (field.concrete or field.many_to_many)
            and field.related_model is model
            and field not in declared
        ),
        key=lambda f: (f.model._meta.label_lower, f.name),
    )
    return declared + others[:1]


def autocomplete_url(field: models.Field, term: str = "") -> str:
    query = {
        "app_label": field.model._meta.app_label,
        "model_name": field.model._meta.model_name,
        "field_name": field.name,
        "term": term,
    }
    return f"{reverse('admin:autocomplete')}?{urlencode(query)}"


def search_term(search_fields: list[str], obj: Any) -> str:
    """The value of ``obj`` the admin's first search field matches on."""
    value: Any = obj
    for part in search_fields[0].lstrip("^=@").split("__"):
        value = getattr(value, part)
    return str(value)


def login(client: Any, org: Any, principal: str) -> Any:
    if principal == "anonymous":
        return None
    user = org.users[principal]
    client.force_login(user)
    return user


def dropdown_problems(response: Any, principal: str, org: Any) -> list[str]:
    """Every choice field of the form and its inlines offers exactly the rows
    the principal may see of the related model, and a relation to a model the
    principal may not list is not editable at all."""
    problems: list[str] = []
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.empty_form)
        forms.extend(inline.formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            if not isinstance(field, ModelChoiceField):
                continue
            related = field.queryset.model._meta.label_lower
            if related not in MATRIX:
                continue  # permissions, content types: not admin data
            rel = MATRIX[related][principal]
            if rel.list != "ok":
                problems.append(
                    f"field {name!r} lets {principal} pick {related} rows although "
                    f"they may not list them; it must be read-only"
                )
                continue
            allowed = expected_rows(related, rel.rows, org)
            limit = field.queryset.model._base_manager.complex_filter(
                getattr(field, "limit_choices_to", None) or {}
            )
            offered = _pks(field.queryset)
            if offered != allowed & _pks(limit):
                problems.append(
                    f"field {name!r} offers {related} rows {sorted(offered)}, "
                    f"expected {sorted(allowed & _pks(limit))}"
                )
    return problems


def ensure_sample(label: str, org: Any) -> None:
    model = apps.get_model(label)
    if not model._base_manager.exists() and label in SAMPLES:
        SAMPLES[label](org)
    assert model._base_manager.exists(), (
        f"{label} has no row to open: add a factory for it to SAMPLES"
    )


# -- the matrix ---------------------------------------------------------------


def test_secret_holding_models_are_not_in_the_admin():
    """TOTP seeds, OAuth tokens and SSO client secrets are never shown in the admin."""
    for label in (
        "mfa.authenticator",
        "socialaccount.socialapp",
        "socialaccount.socialtoken",
    ):
        assert label not in registered_labels()


def test_every_registered_model_is_in_the_matrix():
    missing = sorted(set(registered_labels()) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(registered_labels()))
    assert not missing, (
        f"Admin models without an access matrix entry: {missing}. Declare the "
        f"expected outcome of every principal in MATRIX in {__name__}."
    )
    assert not stale, f"MATRIX names models no longer registered: {stale}"


@pytest.mark.parametrize(
    ("label", "principal"),
    [(label, principal) for label in registered_labels() for principal in PRINCIPALS],
)
def test_admin_urls(client, org, label, principal):
    assert label in MATRIX, (
        f"{label} is registered with the admin but has no line in MATRIX "
        f"({__name__}): declare what every principal may do with it."
    )
    expect = MATRIX[label][principal]
    model = apps.get_model(label)
    model_admin = admin.site._registry[model]
    ensure_sample(label, org)
    login(client, org, principal)
    everything = _pks(model._base_manager.all())
    visible = expected_rows(label, expect.rows, org)
    assert visible <= everything
    hidden = everything - visible
    inside = min(visible) if visible else min(everything)
    problems: list[str] = []

    def check(kind: str, url: str, expected: str, **kw: Any) -> Any:
        response = client.get(url)
        got = outcome(response, kind=kind, **kw)
        if got != expected:
            problems.append(f"{kind} {url}: expected {expected}, got {got}")
        return response if got == expected else None

    def change_url(pk: str) -> str:
        return _admin_url(model, "change", pk)

    # Changelist: exactly the rows in scope, nothing else linked.
    response = check("list", _admin_url(model, "changelist"), expect.list)
    if response is not None and expect.list == "ok":
        shown = _pks(response.context["cl"].result_list)
        if shown != visible:
            problems.append(f"list shows {sorted(shown)}, expected {sorted(visible)}")
        html = response.content.decode()
        problems += [
            f"list links hidden row {pk}" for pk in hidden if change_url(pk) in html
        ]

        # Search finds rows in scope and never one outside it.
        search_fields = list(model_admin.get_search_fields(response.wsgi_request))
        if search_fields:
            for pk in sorted(hidden)[:1] + sorted(visible)[:1]:
                # Search for what the principal sees (auditors see pseudonyms).
                row = model._base_manager.get(pk=pk)
                viewer = response.wsgi_request.user
                display.apply_masks(row, viewer, log_restricted=False)
                mask_related([row], viewer)
                term = search_term(search_fields, row)
                found = _pks(
                    client.get(_admin_url(model, "changelist"), {"q": term})
                    .context["cl"]
                    .result_list
                )
                if pk in hidden and (pk in found or not found <= visible):
                    problems.append(
                        f"search {term!r} finds hidden rows {found - visible}"
                    )
                if pk in visible and pk not in found:
                    problems.append(f"search {term!r} misses visible row {pk}")

    response = check("add", _admin_url(model, "add"), expect.add)
    if response is not None and expect.add == "ok":
        problems += [f"add: {p}" for p in dropdown_problems(response, principal, org)]

    response = check("change", change_url(inside), expect.change)
    if response is not None and expect.change == "write":
        problems += [
            f"change: {p}" for p in dropdown_problems(response, principal, org)
        ]
    for pk in sorted(hidden):
        check("change", change_url(pk), outside(expect.change))

    check("delete", _admin_url(model, "delete", inside), expect.delete)
    for pk in sorted(hidden):
        check("delete", _admin_url(model, "delete", pk), outside(expect.delete))

    check(
        "history",
        _admin_url(model, "history", inside),
        expect.history,
        change_url=change_url(inside),
    )
    for pk in sorted(hidden):
        response = client.get(_admin_url(model, "history", pk))
        got = outcome(response)
        if got != outside(expect.history):
            problems.append(f"history of hidden {pk}: got {got}")
        obj = model._base_manager.get(pk=pk)
        if got == "gone" and str(obj) in response.content.decode():
            problems.append(f"history of hidden {pk} names it")

    # The per-version history form: simple-history's revert page.
    if isinstance(model_admin, SimpleHistoryAdmin):
        for pk in sorted(visible)[:1] + sorted(hidden)[:1] or [inside]:
            history = getattr(model, "history", None)
            version = (
                history.filter(**{model._meta.pk.attname: pk}).first()
                if history is not None
                else None
            )
            url = _admin_url(model, "simple_history", pk, getattr(version, "pk", 1))
            check("version", url, expect.version)
    elif expect.version != "n/a":
        problems.append("version: this admin has no per-version history form; say n/a")

    # Autocomplete through every relation that resolves to this model.
    sources = autocomplete_sources(model)
    if not sources and expect.autocomplete != "n/a":
        problems.append("autocomplete: nothing relates to this model; say n/a")
    for field in sources:
        response = check("autocomplete", autocomplete_url(field), expect.autocomplete)
        if response is None or expect.autocomplete != "ok":
            continue
        limit = model._base_manager.complex_filter(field.get_limit_choices_to() or {})
        ids = {r["id"] for r in response.json()["results"]}
        wanted = visible & _pks(limit)
        if ids != wanted:
            problems.append(
                f"autocomplete {field} offers {sorted(ids)}, expected {sorted(wanted)}"
            )
        search_fields = list(model_admin.get_search_fields(response.wsgi_request))
        for pk in sorted(hidden)[:1]:
            term = search_term(search_fields, model._base_manager.get(pk=pk))
            found = {
                r["id"]
                for r in client.get(autocomplete_url(field, term)).json()["results"]
            }
            if pk in found:
                problems.append(f"autocomplete {field} finds hidden {pk} by {term!r}")

    assert not problems, f"{label} as {principal}:\n  " + "\n  ".join(problems)
