"""Nobody learns who someone is from a page they may open (G.CLS, G.RBAC, Auditor).

A sweep of every admin URL as the auditor, a manager, a data steward and an
employee, over the demo organisation plus the states that only appear once
something happened: an orphaned and a stale metric (the "stale and orphaned"
page), a stewardship dispute, an erased person, an audit-pack job, open and
decided appeals, ballots and votes, a bias run and legal holds (the last from
the demo itself). Every response is searched for what identifies a person (name,
e-mail, employee id) or an account (sign-in name):

* the auditor may see none of them except their own (pseudonyms instead);
* a manager, a steward and an employee may see none of them for people outside
  their scope, except the work directory: the *name* of a person who holds a
  portal role or is named as a metric's or department's owner or steward
  (docs/architecture.md, "Naming people and accounts").

Demo accounts are renamed before anything is recorded (``zq07.manager`` …) so
that every username the trail stores is one the sweep can find without
matching ordinary words.

The URL list is built from the admin site itself: every registered ModelAdmin's
changelist, add, change, history and delete pages (a sample of rows plus every
planted row), autocomplete for every relation of every registered model, and
every custom admin URL through :data:`CUSTOM_PAGES`: a new admin URL that is
not listed there fails :func:`test_every_custom_admin_url_is_covered`.
"""

from __future__ import annotations

import datetime
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone

from governance import demo, labels, permissions, pseudonyms, services
from governance.models import Person, ReportJob, User

pytestmark = pytest.mark.django_db

SWEPT_ROLES = ("auditor", "manager", "steward", "employee")
SAMPLE = 3  # rows per model besides the planted ones

#: Admin URL names that aren't pages about records.
NOT_PAGES = {
    "index",  # swept explicitly
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "view_on_site",
    "autocomplete",  # swept per relation
    "app_list",  # swept per app
}


# -- the world ---------------------------------------------------------------------


def _rename_accounts(ctx: demo.DemoContext) -> None:
    """Give every demo account a sign-in name nothing else on a page contains."""
    for n, (key, user) in enumerate(sorted(ctx.users.items()), start=1):
        user.username = f"zq{n:02d}.{key}"
        User.objects.filter(pk=user.pk).update(username=user.username)


@dataclass
class World:
    ctx: demo.DemoContext
    planted: dict[str, list[Any]] = field(default_factory=dict)
    people: dict[str, dict[str, str]] = field(default_factory=dict)  # pk -> values
    directory: set[str] = field(default_factory=set)  # person pks named by role
    usernames: dict[int, str] = field(default_factory=dict)


def _plant(ctx: demo.DemoContext) -> dict[str, list[Any]]:
    """States fresh demo data doesn't have."""
    from metrics import stewardship
    from metrics.models import Metric

    planted: dict[str, list[Any]] = {}
    compliance = ctx.users["compliance"]
    metrics = list(
        Metric.objects.filter(
            owner__isnull=False, owner__user__isnull=True, steward__isnull=False
        ).order_by("key")
    )
    # An orphaned metric: its owner left. A stale one: no data for months.
    orphan, stale = metrics[0], metrics[1]
    owner = Person.objects.get(pk=orphan.owner_id)
    services.person_update(
        person=owner, actor=None, reason="left the company", changes={"status": "left"}
    )
    long_ago = timezone.now() - datetime.timedelta(days=400)
    Metric.objects.filter(pk=stale.pk).update(stale_since=long_ago)
    Metric.objects.filter(pk=orphan.pk).update(orphaned_since=long_ago)
    planted["metrics.metric"] = [orphan.pk, stale.pk]
    # A stewardship dispute over both.
    steward = ctx.users["steward"]
    dispute = stewardship.raise_dispute(
        actor=steward,
        title="Two definitions of quota attainment",
        description="Two teams count pulled-forward deals differently.",
        metrics=list(Metric.objects.visible_to(steward).order_by("key")[:2]),
    )
    planted["metrics.stewardshipdispute"] = [dispute.pk]
    # An erased person (a leaver, so the erasure is allowed).
    from governance.models import Department

    named = {
        *Metric.objects.values_list("owner_id", flat=True),
        *Metric.objects.values_list("steward_id", flat=True),
        *Department.objects.values_list("steward_id", flat=True),
    }
    erased = (
        Person.objects.filter(user__isnull=True, reports__isnull=True)
        .exclude(pk__in=[p for p in named if p])
        .order_by("employee_id")
        .last()
    )
    assert erased is not None
    services.person_update(
        person=erased, actor=None, reason="left", changes={"status": "left"}
    )
    services.person_erase(
        person=Person.objects.get(pk=erased.pk), actor=None, reason="erasure request"
    )
    planted["governance.person"] = [erased.pk, owner.pk]
    # An audit-pack job requested by compliance.
    job = ReportJob.objects.create(requested_by=compliance)
    planted["governance.reportjob"] = [job.pk]
    return planted


def _identities(world: World) -> None:
    from metrics.models import Metric

    with labels.viewing(None):
        for person in Person.objects.all():
            values = {"employee_id": person.employee_id}
            name, email = person.full_name, person.email
            if isinstance(name, str) and name:
                values["name"] = name
            if isinstance(email, str) and email:
                values["email"] = email
            world.people[str(person.pk)] = values
    world.usernames = dict(User.objects.values_list("pk", "username"))
    world.directory = {
        str(pk)
        for pk in Person.objects.filter(user__groups__isnull=False).values_list(
            "pk", flat=True
        )
    }
    # Role holders: whoever is named as an owner, steward or manager.
    from governance.models import Department, RemediationItem
    from metrics.models import DataSource, MethodologyVersion, StrategicObjective

    named = [
        Metric.objects.values_list("owner_id", flat=True),
        Metric.objects.values_list("steward_id", flat=True),
        Department.objects.values_list("steward_id", flat=True),
        StrategicObjective.objects.values_list("owner_id", flat=True),
        DataSource.objects.values_list("owner_id", flat=True),
        MethodologyVersion.objects.values_list("owner_id", flat=True),
        RemediationItem.objects.values_list("owner_id", flat=True),
        Person.objects.values_list("manager_id", flat=True),
    ]
    for ids in named:
        world.directory.update(str(p) for p in ids if p)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            demo.register("test-sweep-accounts", _rename_accounts, order=71)
            try:
                ctx = demo.build()
            finally:
                demo.unregister("test-sweep-accounts")
            built = World(ctx=ctx, planted=_plant(ctx))
            _identities(built)
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# -- what may not appear -------------------------------------------------------------


def _forbidden(world: World, viewer: User) -> dict[str, str]:
    """Text that must not reach ``viewer`` → what it identifies."""
    own = permissions.person_of(viewer)
    own_pk = str(own.pk) if own is not None else None
    forbidden: dict[str, str] = {}
    if pseudonyms.sees_pseudonyms(viewer):
        for pk, values in world.people.items():
            if pk != own_pk:
                for kind, text in values.items():
                    forbidden[text] = f"{kind} of person {pk}"
        for user_pk, username in world.usernames.items():
            if user_pk != viewer.pk:
                forbidden[username] = f"username of account {user_pk}"
        return forbidden
    in_scope = {
        str(pk)
        for pk in Person.objects.visible_to(viewer, "view").values_list("pk", flat=True)
    }
    if own_pk:
        in_scope.add(own_pk)
    for pk, values in world.people.items():
        if pk in in_scope:
            continue
        for kind, text in values.items():
            if kind == "name" and pk in world.directory:
                continue  # the work directory names role holders
            forbidden[text] = f"{kind} of out-of-scope person {pk}"
    return forbidden


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.@-])" + re.escape(text) + r"(?![\w@-])")


def _pdf_text(content: bytes) -> str:
    """The text a reader of the PDF sees (and its metadata)."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    parts = [page.extract_text() or "" for page in reader.pages]
    parts += [str(v) for v in (reader.metadata or {}).values()]
    return "\n".join(parts)


def _readable(response: Any) -> str:
    kind = response.get("Content-Type", "")
    if "pdf" in kind:
        return _pdf_text(b"".join(response) if response.streaming else response.content)
    body = response.content.decode("utf-8", errors="replace")
    if "json" in kind:
        try:
            return json.dumps(json.loads(body), ensure_ascii=False)
        except ValueError:
            return body
    return html.unescape(body)


# -- the URLs --------------------------------------------------------------------------


def _walk(patterns: list[Any]) -> Iterator[str]:
    for item in patterns:
        if isinstance(item, URLResolver):
            yield from _walk(item.url_patterns)
        elif isinstance(item, URLPattern) and item.name:
            yield item.name


def _standard(name: str) -> bool:
    for opts in (m._meta for m in admin.site._registry):
        prefix = f"{opts.app_label}_{opts.model_name}_"
        if name.startswith(prefix) and name[len(prefix) :] in {
            "changelist",
            "add",
            "change",
            "history",
            "delete",
            "simple_history",  # one past version: read-only, always a 404
        }:
            return True
    return False


def custom_admin_url_names() -> set[str]:
    return {
        name
        for name in _walk(admin.site.get_urls())
        if name not in NOT_PAGES and not _standard(name)
    }


def _rows(world: World, label: str, n: int = SAMPLE) -> list[Any]:
    from django.apps import apps

    model = apps.get_model(label)
    pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True)[:n])
    latest = list(
        model._default_manager.order_by("-pk").values_list("pk", flat=True)[:n]
    )
    return list(dict.fromkeys([*pks, *latest, *world.planted.get(label, [])]))


def _ids(label: str, name: str) -> Callable[[World], list[str]]:
    def urls(world: World) -> list[str]:
        return [
            reverse(f"admin:{name}", args=[quote(pk)]) for pk in _rows(world, label)
        ]

    return urls


def _plain(name: str) -> Callable[[World], list[str]]:
    return lambda world: [reverse(f"admin:{name}")]


def _metric_ids(name: str) -> Callable[[World], list[str]]:
    def urls(world: World) -> list[str]:
        return [
            reverse(f"admin:{name}", args=[pk]) for pk in _rows(world, "metrics.metric")
        ]

    return urls


#: Every custom admin URL and how to reach its pages.
CUSTOM_PAGES: dict[str, Callable[[World], list[str]]] = {
    "governance_user_access": _ids("governance.user", "governance_user_access"),
    "governance_ballot_vote": _ids("governance.ballot", "governance_ballot_vote"),
    "governance_biasassessment_complete": _ids(
        "governance.biasassessment", "governance_biasassessment_complete"
    ),
    "governance_biasassessment_report": _ids(
        "governance.biasassessment", "governance_biasassessment_report"
    ),
    "governance_records_of_processing": _plain("governance_records_of_processing"),
    "governance_reportjob_download": _ids(
        "governance.reportjob", "governance_reportjob_download"
    ),
    "governance_reportjob_status": _ids(
        "governance.reportjob", "governance_reportjob_status"
    ),
    "auth_user_password_change": _ids("governance.user", "auth_user_password_change"),
    "metrics_metric_request_change": _ids(
        "metrics.metric", "metrics_metric_request_change"
    ),
    "metrics_metric_control_chart": _metric_ids("metrics_metric_control_chart"),
    "metrics_metric_methodology_sheet": _metric_ids("metrics_metric_methodology_sheet"),
    "metrics_metric_exceptions": _plain("metrics_metric_exceptions"),
    "metrics_metric_alignment": _plain("metrics_metric_alignment"),
    "metrics_metric_portfolio": _plain("metrics_metric_portfolio"),
    "metrics_metric_lineage": _plain("metrics_metric_lineage"),
    "metrics_metric_freshness": _plain("metrics_metric_freshness"),
    "metrics_metric_readiness": _plain("metrics_metric_readiness"),
    "metrics_metric_readiness_json": _plain("metrics_metric_readiness_json"),
    "metrics_metric_import": _plain("metrics_metric_import"),
    "metrics_observation_import": _plain("metrics_observation_import"),
    "metrics_observation_export": _plain("metrics_observation_export"),
    "metrics_dataqualityissue_decide": _ids(
        "metrics.dataqualityissue", "metrics_dataqualityissue_decide"
    ),
    "metrics_incentiveplan_collaboration": _plain(
        "metrics_incentiveplan_collaboration"
    ),
    "metrics_incentiveplan_scoreboards": _plain("metrics_incentiveplan_scoreboards"),
    "metrics_incentiveplan_scoreboard": _metric_ids("metrics_incentiveplan_scoreboard"),
    "metrics_gamingfinding_review": _ids(
        "metrics.gamingfinding", "metrics_gamingfinding_review"
    ),
    "appeals_appeal_decide": _ids("appeals.appeal", "appeals_appeal_decide"),
    "appeals_appeal_assign": _ids("appeals.appeal", "appeals_appeal_assign"),
}


def _autocomplete_urls() -> list[str]:
    """Autocomplete for every relation of every registered model whose target
    is registered with search fields: Django answers for any such field, not
    only the ones a form declares."""
    urls = []
    base = reverse("admin:autocomplete")
    for model in admin.site._registry:
        for db_field in model._meta.get_fields():
            if not (db_field.is_relation and db_field.concrete) and not getattr(
                db_field, "many_to_many", False
            ):
                continue
            if getattr(db_field, "auto_created", False):
                continue
            related = db_field.related_model
            if related is None or related not in admin.site._registry:
                continue
            if not admin.site._registry[related].search_fields:
                continue
            opts = model._meta
            urls.append(
                f"{base}?app_label={opts.app_label}&model_name={opts.model_name}"
                f"&field_name={db_field.name}"
            )
    return urls


def sweep_urls(world: World) -> list[str]:
    urls = [reverse("admin:index")]
    apps = sorted({m._meta.app_label for m in admin.site._registry})
    urls += [reverse("admin:app_list", args=[label]) for label in apps]
    for model in admin.site._registry:
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        urls += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]
        for pk in _rows(world, opts.label_lower):
            for page in ("change", "history", "delete"):
                urls.append(reverse(f"{prefix}_{page}", args=[quote(pk)]))
    for name in sorted(CUSTOM_PAGES):
        urls += CUSTOM_PAGES[name](world)
    urls += _autocomplete_urls()
    return urls + api_urls(world) + selfservice_urls(world)


def api_urls(world: World) -> list[str]:
    """The read API, as a staff session sees it (a page of each list)."""
    from metrics.models import Metric

    urls = [reverse("api:metric-list")]
    keys = Metric.objects.filter(level="individual").order_by("key")
    for key in keys.values_list("key", flat=True)[:3]:
        urls += [
            reverse("api:metric-detail", args=[key]),
            f"{reverse('api:observation-list')}?metric={key}",
        ]
    return urls


def selfservice_urls(world: World) -> list[str]:
    """The employee's pages: their home, their data, every appeal's pages (an
    appeal of someone else's is a 404)."""
    from appeals.models import Appeal

    urls = [
        reverse("selfservice:home"),
        reverse("selfservice:my_data_json"),
        reverse("appeals:new"),
    ]
    for pk in Appeal.objects.order_by("pk").values_list("pk", flat=True):
        urls += [
            reverse("appeals:detail", args=[pk]),
            reverse("appeals:decision", args=[pk]),
        ]
    return urls


# -- the tests -----------------------------------------------------------------------------


def test_every_custom_admin_url_is_covered():
    missing = custom_admin_url_names() - set(CUSTOM_PAGES)
    assert not missing, (
        f"admin URL(s) {sorted(missing)} are not in the identity sweep: add them "
        "to CUSTOM_PAGES in portal/tests/test_identity_sweep.py"
    )


def _leaks(
    client: Client, urls: list[str], forbidden: dict[str, str]
) -> tuple[list[str], int]:
    """What leaked on which page, and how many pages were read."""
    patterns = [(_pattern(text), text, what) for text, what in forbidden.items()]
    found = []
    read = 0
    for url in urls:
        response = client.get(url)
        if response.status_code >= 500:
            found.append(f"{url}: server error {response.status_code}")
            continue
        if response.status_code in (301, 302, 403, 404):
            continue
        text = _readable(response)
        read += 1
        for pattern, value, what in patterns:
            if value in text and pattern.search(text):
                found.append(f"{url}: {value!r} ({what})")
    return found, read


def _export_leaks(client: Client, forbidden: dict[str, str]) -> list[str]:
    """The observation export (CSV) as the viewer downloads it."""
    url = reverse("admin:metrics_observation_export")
    response = client.post(url, {"format": "0", "resource": "0"})
    if response.status_code != 200:
        return []
    assert "attachment" in response.get("Content-Disposition", "")
    text = response.content.decode("utf-8", errors="replace")
    return [
        f"{url} (CSV): {value!r} ({what})"
        for value, what in forbidden.items()
        if value in text and _pattern(value).search(text)
    ]


@pytest.mark.parametrize("role", SWEPT_ROLES)
def test_no_page_identifies_anyone_the_viewer_may_not_see(world, role):
    viewer = world.ctx.users[role]
    forbidden = _forbidden(world, viewer)
    assert forbidden, "the sweep must have something to look for"
    client = Client()
    client.force_login(viewer)
    urls = sweep_urls(world)
    leaks, read = _leaks(client, urls, forbidden)
    leaks += _export_leaks(client, forbidden)
    # The sweep reads real pages (not only refusals and redirects): an employee
    # has no admin, only the self-service pages.
    least = 3 if role == "employee" else 40
    assert read >= least, f"only {read} of {len(urls)} pages could be read as {role}"
    assert not leaks, f"{len(leaks)} leak(s) to {role}:\n" + "\n".join(leaks[:300])


# -- each finding, on its own ----------------------------------------------------------------


def _client(world: World, role: str) -> Client:
    client = Client()
    client.force_login(world.ctx.users[role])
    return client


def _page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return _readable(response)


def test_appeal_page_links_no_pseudonym_to_an_employee_id(world):
    """Finding 1: "Appellant: P-…" beside "Evaluation of NW-0018 …"."""
    from appeals.models import Appeal

    appeal = Appeal.objects.filter(evaluation__isnull=False).select_related(
        "appellant"
    )[0]
    url = reverse("admin:appeals_appeal_change", args=[appeal.pk])
    text = _page(_client(world, "auditor"), url)
    alias = pseudonyms.pseudonym(appeal.appellant_id)
    assert f"Evaluation of {alias}" in text
    assert not _pattern(appeal.appellant.employee_id).search(text)
    # HR has the business need and sees who it is.
    assert appeal.appellant.employee_id in _page(_client(world, "hr"), url)


def test_autocomplete_of_any_relation_answers_in_pseudonyms(world):
    """Finding 2: the evaluation autocomplete of appeals gave employee ids."""
    from metrics.models import Evaluation

    url = (
        reverse("admin:autocomplete")
        + "?app_label=appeals&model_name=appeal&field_name=evaluation"
    )
    results = json.loads(_page(_client(world, "auditor"), url))["results"]
    assert results, "the auditor may read evaluations"
    ids = set(Evaluation.objects.values_list("person__employee_id", flat=True))
    for result in results:
        assert result["text"].startswith("Evaluation of P-"), result
        assert not any(_pattern(i).search(result["text"]) for i in ids)


def test_stale_and_orphaned_page_names_owners_by_pseudonym(world):
    """Finding 3: the template read ``employee_id`` of a flagged metric's owner."""
    from metrics.models import Metric

    orphan = Metric.objects.select_related("owner", "steward").get(
        pk=world.planted["metrics.metric"][0]
    )
    url = reverse("admin:metrics_metric_freshness")
    text = _page(_client(world, "auditor"), url)
    assert orphan.key in text  # the planted flag is on the page
    for person in (orphan.owner, orphan.steward):
        assert pseudonyms.pseudonym(person.pk) in text
        assert not _pattern(person.employee_id).search(text)


def _someone(world: World) -> Person:
    return Person.objects.filter(user__isnull=False).exclude(
        user=world.ctx.users["auditor"]
    )[0]


@pytest.mark.parametrize(
    "model, lookup, hr_may",
    [
        ("governance/person", "employee_id={employee_id}", True),
        ("governance/person", "employee_id__in={employee_id},X-1", True),
        ("governance/person", "employee_id__iexact={employee_id}", True),
        ("governance/person", "employee_id__startswith={employee_id}", True),
        ("governance/person", "user__username={username}", False),
        ("governance/person", "manager__employee_id={employee_id}", False),
        ("governance/membership", "person__employee_id={employee_id}", False),
        ("governance/auditevent", "actor_label={username}", True),
        ("metrics/observation", "person__employee_id={employee_id}", False),
    ],
)
def test_identity_filters_are_refused_to_the_auditor(world, model, lookup, hr_may):
    """Finding 4: ``?employee_id=NW-0021`` answered with the matching pseudonym."""
    person = _someone(world)
    query = lookup.format(employee_id=person.employee_id, username=person.user.username)
    url = f"/admin/{model}/?{query}"
    response = _client(world, "auditor").get(url)
    assert response.status_code == 400
    text = _readable(response)
    assert "isn't available" in text
    assert pseudonyms.pseudonym(person.pk) not in text
    if hr_may:  # staff with the need filter by who someone is as before
        assert _client(world, "compliance").get(url).status_code == 200


def test_encrypted_values_cannot_be_filtered_by_anyone(world):
    response = _client(world, "hr").get("/admin/governance/person/?full_name=Anna")
    assert response.status_code == 400
    assert "full_name" in _readable(response)


def test_filters_the_page_offers_still_work_for_the_auditor(world):
    department = Person.objects.values_list("department_id", flat=True)[0]
    client = _client(world, "auditor")
    assert _page(
        client, f"/admin/governance/person/?department__id__exact={department}"
    )
    assert _page(client, "/admin/governance/person/?q=P-0000&o=1")


def _account_pages(world: World) -> list[str]:
    from appeals.models import Appeal
    from governance.models import BiasAssessment, LegalHold, Proposal

    first = {
        "appeals_appeal": Appeal.objects.filter(reviewer__isnull=False)[0].pk,
        "governance_biasassessment": BiasAssessment.objects.all()[0].pk,
        "governance_proposal": Proposal.objects.all()[0].pk,
        "governance_legalhold": LegalHold.objects.all()[0].pk,
        "governance_reportjob": world.planted["governance.reportjob"][0],
    }
    urls = [
        reverse(f"admin:{name}_change", args=[quote(pk)]) for name, pk in first.items()
    ]
    urls += [
        reverse(f"admin:{name}_changelist")
        for name in (*first, "governance_vote", "governance_auditevent")
    ]
    # "Changed by" on history pages.
    changed = Proposal.history.filter(history_user_id__isnull=False)[0]
    urls.append(reverse("admin:governance_proposal_history", args=[changed.id]))
    return urls


def test_accounts_are_named_by_pseudonym_to_the_auditor(world):
    """Finding 5: raw usernames on history, audit events, reviewer, run by,
    author, votes, legal holds and report jobs."""
    client = _client(world, "auditor")
    auditor = world.ctx.users["auditor"]
    others = [u for pk, u in world.usernames.items() if pk != auditor.pk]
    for url in _account_pages(world):
        text = _page(client, url)
        leaked = [u for u in others if _pattern(u).search(text)]
        assert not leaked, (url, leaked)
        if "/change/" in url or "/history/" in url or "vote" in url:
            assert re.search(r"\b[PU]-[0-9a-f]{8}\b", text), url


def test_account_names_stay_visible_to_compliance(world):
    text = _page(
        _client(world, "compliance"), reverse("admin:governance_auditevent_changelist")
    )
    assert world.ctx.users["compliance"].username in text


def test_role_holders_out_of_scope_are_named_never_identified(world):
    """Finding 6: the work directory gives a role holder's name, never their
    employee id or e-mail, to staff outside their scope."""
    from metrics.models import Metric

    manager = world.ctx.users["manager"]
    in_scope = set(Person.objects.visible_to(manager).values_list("pk", flat=True))
    metric = (
        Metric.objects.visible_to(manager)
        .exclude(owner__in=in_scope)
        .exclude(owner__isnull=True)
        .select_related("owner")[0]
    )
    text = _page(
        _client(world, "manager"),
        reverse("admin:metrics_metric_change", args=[metric.pk]),
    )
    owner = world.people[str(metric.owner_id)]
    assert owner["name"] in text
    assert not _pattern(owner["employee_id"]).search(text)
    assert owner["email"] not in text


def test_the_auditor_cant_sort_people_by_who_they_are(world):
    """Rows in employee-id order would let the pseudonyms' order tell it."""
    client = _client(world, "auditor")
    people = list(Person.objects.order_by("employee_id").values_list("pk", flat=True))
    by_id = [pseudonyms.pseudonym(pk) for pk in people]
    by_pk = [pseudonyms.pseudonym(pk) for pk in sorted(people)]
    for query in ("all=", "o=1", "o=-1"):
        url = f"/admin/governance/person/?{query}"
        text = _page(client, url)
        shown = re.findall(r"\bP-[0-9a-f]{8}\b", text)
        order = list(dict.fromkeys(a for a in shown if a in set(by_id)))
        assert len(order) > 10, url
        assert order != [a for a in by_id if a in order], url
        assert order == [a for a in by_pk if a in order], url
    # HR sorts by employee id as before.
    text = _page(_client(world, "hr"), "/admin/governance/person/?all=")
    ids = re.findall(r"\bNW-\d{4}\b", text)
    ids = list(dict.fromkeys(ids))
    assert ids == sorted(ids)
