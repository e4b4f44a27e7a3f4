"""The admin's app list: built and rendered faster, shown the same.

``PortalAdminSite._build_app_dict`` and the ``portal_app_list`` tag replace
Django's ``AdminSite._build_app_dict`` and ``admin/app_list.html`` (the
navigation sidebar of every admin page and the index). These tests hold them
to Django's own implementation for every role: same models, permissions and
URLs, same markup.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import django.contrib.admin
import pytest
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template, engines
from django.test import RequestFactory, override_settings
from django.urls import clear_url_caches, path, set_script_prefix

ROLES = [
    "hr",
    "compliance",
    "steward",
    "metric_owner",
    "board",
    "manager",
    "employee",
    "auditor",
    "nobody",
    "admin",
]
PATHS = [
    "/admin/",
    "/admin/metrics/",
    "/admin/metrics/observation/",
    "/admin/governance/person/12/change/",
    "/admin/metrics/observation/?q=a b&o=1",
]

DJANGO_TEMPLATE = (
    Path(django.contrib.admin.__file__).parent / "templates" / "admin" / "app_list.html"
)


def _request(user, url="/admin/"):  # type: ignore[no-untyped-def]
    request = RequestFactory().get(url)
    request.user = user
    return request


def _plain(value):  # type: ignore[no-untyped-def]
    """Lazy names as text, so both implementations compare as data."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "_proxy____cast"):
        return str(value)
    return value


def _django_app_list(request, label=None):  # type: ignore[no-untyped-def]
    """``AdminSite.get_app_list`` as Django implements it."""
    app_dict = admin.AdminSite._build_app_dict(admin.site, request, label)
    app_list = sorted(app_dict.values(), key=lambda x: x["name"].lower())
    for app in app_list:
        app["models"].sort(key=lambda x: x["name"])
    return app_list


def _normalise(html: str) -> str:
    html = re.sub(r"\s+", " ", html)
    html = re.sub(r">\s+", ">", html)
    return re.sub(r"\s+<", "<", html).strip()


@pytest.mark.parametrize("role", ROLES)
def test_app_list_is_djangos_for_every_role(org, role):
    request = _request(org.users[role])
    assert _plain(admin.site.get_app_list(request)) == _plain(_django_app_list(request))
    for label in ("governance", "metrics", "appeals"):
        assert _plain(admin.site.get_app_list(request, label)) == _plain(
            _django_app_list(request, label)
        )


def test_app_list_of_an_anonymous_or_inactive_user_is_empty(org):
    assert admin.site.get_app_list(_request(AnonymousUser())) == []
    user = org.users["hr"]
    user.is_active = False
    assert admin.site.get_app_list(_request(user)) == []


def test_app_list_follows_the_url_configuration(org):
    """Reversed URLs are remembered per URL configuration and script prefix:
    a different mount point or prefix is never served from the memo."""
    request = _request(org.users["hr"])
    before = admin.site.get_app_list(request)
    assert before[0]["app_url"].startswith("/admin/")

    urls = types.ModuleType("portal_test_app_list_urls")
    urls.urlpatterns = [path("elsewhere/", admin.site.urls)]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    try:
        with override_settings(ROOT_URLCONF=urls.__name__):
            clear_url_caches()
            moved = admin.site.get_app_list(request)
            assert moved[0]["app_url"].startswith("/elsewhere/")
            assert _plain(moved) == _plain(_django_app_list(request))
    finally:
        del sys.modules[urls.__name__]
        clear_url_caches()
    set_script_prefix("/portal/")
    try:
        prefixed = admin.site.get_app_list(request)
        assert prefixed[0]["app_url"].startswith("/portal/admin/")
        assert _plain(prefixed) == _plain(_django_app_list(request))
    finally:
        set_script_prefix("/")
    assert _plain(admin.site.get_app_list(request)) == _plain(before)


def _render_both(app_list, request, show_changelinks):  # type: ignore[no-untyped-def]
    engine = engines["django"].engine
    context = {
        "app_list": app_list,
        "request": request,
        "show_changelinks": show_changelinks,
    }
    ours = engine.get_template("admin/app_list.html").render(Context(context))
    theirs = Template(DJANGO_TEMPLATE.read_text(), engine=engine).render(
        Context(context)
    )
    return ours, theirs


@pytest.mark.parametrize("role", ROLES)
def test_app_list_markup_is_djangos_for_every_role(org, role):
    for url in PATHS:
        request = _request(org.users[role], url)
        app_list = admin.site.get_app_list(request)
        for show_changelinks in (False, True):
            ours, theirs = _render_both(app_list, request, show_changelinks)
            assert _normalise(ours) == _normalise(theirs), (role, url)
            if app_list and show_changelinks:
                assert "changelink" in ours or "viewlink" in ours


def test_app_list_markup_escapes_and_marks_the_current_page(org):
    request = _request(org.users["hr"], "/admin/x/quote%22/")
    app_list = [
        {
            "name": 'Odd <app> & "name"',
            "app_label": "x",
            "app_url": "/admin/x/",
            "has_module_perms": True,
            "models": [
                {
                    "name": "<b>Rows</b>",
                    "object_name": 'Q"uote',
                    "perms": {},
                    "admin_url": '/admin/x/quote"/',
                    "add_url": None,
                    "view_only": True,
                },
                {
                    "name": "No link",
                    "object_name": "Plain",
                    "perms": {},
                    "admin_url": None,
                    "add_url": "/admin/x/plain/add/",
                },
            ],
        }
    ]
    for show_changelinks in (False, True):
        ours, theirs = _render_both(app_list, request, show_changelinks)
        assert _normalise(ours) == _normalise(theirs)
    assert "<b>" not in ours and "&lt;b&gt;Rows&lt;/b&gt;" in ours
    assert "current-app" in ours
    # An empty list says so, as Django's template does.
    ours, theirs = _render_both([], request, False)
    assert _normalise(ours) == _normalise(theirs)
    assert "permission" in ours


def test_sidebar_on_an_admin_page_is_rendered_by_the_tag(client, org):
    client.force_login(org.users["hr"])
    html = client.get("/admin/metrics/observation/").content.decode()
    sidebar = html[html.index('<nav class="sticky" id="nav-sidebar"') :]
    sidebar = sidebar[: sidebar.index("</nav>")]
    assert 'class="model-observation current-model"' in sidebar
    assert 'aria-current="page"' in sidebar


def test_admin_views_get_the_user_itself_after_the_sites_check(org):
    """``request.user`` is resolved from the middleware's lazy proxy for admin
    views; the site's permission check still runs first."""
    from django.utils.functional import LazyObject, SimpleLazyObject

    from governance.models import User

    seen = []

    def view(request):  # type: ignore[no-untyped-def]
        seen.append(request.user)
        from django.http import HttpResponse

        return HttpResponse("ok")

    wrapped = admin.site.admin_view(view)
    for role, allowed in (("hr", True), ("employee", False)):
        request = RequestFactory().get("/admin/")
        user = User.objects.get(pk=org.users[role].pk)
        request.user = SimpleLazyObject(lambda user=user: user)
        response = wrapped(request)
        assert (response.status_code == 200) is allowed
    assert len(seen) == 1
    assert type(seen[0]) is User and not isinstance(seen[0], LazyObject)
    assert seen[0].pk == org.users["hr"].pk
