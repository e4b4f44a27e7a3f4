"""Self-service area (outside the admin): an employee's view of their own data.

The page at ``/me/`` is a list of *sections*, each a template fragment with an
optional context function. Higher layers add theirs (consent, appeals, data
download) from their ``AppConfig.ready()`` without this kernel importing them::

    from governance import views as selfservice

    selfservice.register_section(selfservice.Section(
        key="appeals", title="My appeals", order=50,
        template="appeals/selfservice/section.html",
        context=lambda request, profile: {"appeals": ...},
    ))

A context function returning ``None`` hides its section for that viewer.
Sections only ever receive the viewer's own :class:`~governance.selectors.OwnProfile`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance import selectors
from governance.selectors import OwnProfile

SectionContext = Callable[[HttpRequest, OwnProfile], dict[str, Any] | None]


@dataclass(frozen=True)
class Section:
    key: str  # also the HTML anchor: /me/#<key>
    title: str
    template: str
    order: int = 100
    context: SectionContext | None = None
    badge: str = ""  # e.g. the classification of what the section shows


_SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> Section:
    """Add (or replace, by key) a section of the self-service page."""
    _SECTIONS[section.key] = section
    return section


def unregister_section(key: str) -> None:
    _SECTIONS.pop(key, None)


def sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))


_T = "governance/selfservice/sections/"
register_section(Section("profile", "My record", _T + "profile.html", order=10))
register_section(Section("teams", "My teams", _T + "teams.html", order=20))
register_section(Section("privacy", "Privacy", _T + "privacy.html", order=30))
register_section(
    Section(
        "personal",
        "Personal details",
        _T + "personal.html",
        order=40,
        badge="Restricted",
    )
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    profile = selectors.own_profile(viewer=request.user)
    blocks: list[dict[str, Any]] = []
    if profile is not None:
        for section in sections():
            data = section.context(request, profile) if section.context else {}
            if data is not None:
                blocks.append({"section": section, "data": data})
    return render(
        request,
        "governance/selfservice/home.html",
        {"profile": profile, "blocks": blocks},
    )
