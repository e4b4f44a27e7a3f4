"""How a person or an account is named to whoever is looking: the one rule.

Every label that names a person or a user account goes through this module:
``Person.__str__``, ``User.__str__`` and the ``__str__`` of every record that
points at a person, so autocomplete results, foreign-key dropdowns, history
pages ("Changed by"), object titles, messages, templates, exports and reports
all say the same thing to the same viewer.

Who is looking travels as an explicit context, :class:`Viewing`, set for each
request by :class:`ViewerMiddleware` (after authentication) and by
:func:`viewing` around any other work done on someone's behalf (a report job,
a PDF rendered for a user). Without a viewer (the shell, migrations, jobs with
no one behind them) labels are the plain identities, as before.

The rule, for a viewer looking at a person:

1. an auditor without ``governance.view_identities`` sees the person's
   pseudonym (``P-…``), except for their own record;
2. a viewer whose scope reaches the person (``Person.objects.visible_to``:
   HR, compliance, the person's manager or department steward, the person)
   sees ``employee id · name``;
3. anyone else sees the *work directory* entry: the name only, never the
   employee id or e-mail (a metric's owner or a department's steward in
   another department is named, as a company directory would).

Accounts: a pseudonymised viewer sees the pseudonym of the person behind the
account (``U-…`` for an account with no person); everyone else the username,
which is directory information like the name.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from governance import pseudonyms

ERASED_TEXT = "[erased]"
NOBODY = "—"


@dataclass
class Viewing:
    """Who is looking, and what has been worked out about them (per request).

    Built from a user, or from a request whose user is read when a label is
    first needed: the API authenticates a token inside the view, after the
    middleware ran, and sets the request's user then.
    """

    given_user: Any = None
    request: Any = None
    _for: Any = None  # the user the facts below were worked out for
    _pseudonymised: bool | None = None
    _visible_people: frozenset[str] | None = None  # None: not loaded yet
    _all_people: bool | None = None
    _account_people: dict[int, str] | None = None

    @property
    def user(self) -> Any:
        user = self.given_user
        if self.request is not None:
            user = getattr(self.request, "user", None)
        if user is not self._for:  # a new user: forget what was worked out
            self._for = user
            self._pseudonymised = None
            self._visible_people = None
            self._all_people = None
        return user

    # -- facts about the viewer -------------------------------------------------

    @property
    def pseudonymised(self) -> bool:
        user = self.user
        if self._pseudonymised is None:
            self._pseudonymised = pseudonyms.sees_pseudonyms(user)
        return self._pseudonymised

    def is_self(self, person_id: Any) -> bool:
        from governance import permissions

        return permissions.is_subject(self.user, person_id)

    def reaches(self, person_id: Any) -> bool:
        """Whether the viewer's scope reaches this person (may see who it is)."""
        if person_id is None:
            return False
        self.user  # noqa: B018 - drops facts worked out for another user
        if self._all_people is None:
            self._load_scope()
        if self._all_people:
            return True
        return str(person_id) in (self._visible_people or frozenset())

    def _load_scope(self) -> None:
        from governance.models import Person

        user = self.user
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            self._all_people, self._visible_people = False, frozenset()
            return
        if Person.objects.reaches_all(user, "view"):
            self._all_people = True
            return
        self._all_people = False
        self._visible_people = frozenset(
            str(pk)
            for pk in Person.objects.visible_to(user, "view").values_list(
                "pk", flat=True
            )
        )

    def person_behind(self, user_id: Any) -> str | None:
        """The person id behind an account, from one query per request."""
        if self._account_people is None:
            from governance.models import Person

            self._account_people = {
                int(user): str(pk)
                for pk, user in Person.objects.filter(user__isnull=False).values_list(
                    "pk", "user_id"
                )
            }
        try:
            return self._account_people.get(int(user_id))
        except (TypeError, ValueError):
            return None


_current: contextvars.ContextVar[Viewing | None] = contextvars.ContextVar(
    "portal_viewing", default=None
)


def current() -> Viewing | None:
    """Who is looking now (None outside any request or :func:`viewing` block)."""
    return _current.get()


@contextmanager
def viewing(user: Any) -> Iterator[Viewing | None]:
    """Label everything inside the block for ``user`` (``None``: for no one in
    particular, the plain identities, as in the shell or a job)."""
    context = (
        user if user is None or isinstance(user, Viewing) else Viewing(given_user=user)
    )
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _context(viewer: Any) -> Viewing | None:
    if viewer is _CURRENT:
        return current()
    if viewer is None:
        return None
    if isinstance(viewer, Viewing):
        return viewer
    active = current()
    if active is not None and active.user is viewer:
        return active  # reuse what this request already worked out
    return Viewing(given_user=viewer)


class _Current:
    def __repr__(self) -> str:
        return "<the current viewer>"


_CURRENT: Any = _Current()


class ViewerMiddleware:
    """Sets the viewer for the request: every label on the page is for them."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        with viewing(Viewing(request=request)):
            return self.get_response(request)


# -- people ---------------------------------------------------------------------


def _name(person: Any) -> str:
    name: Any = person.full_name
    from governance.crypto.fields import ERASED

    if name is ERASED or person.erased_at:
        return ERASED_TEXT
    return str(name) if name is not None else ""


def _sight(person: Any, viewer: Any) -> str:
    """What the viewer may see of ``person``: ``"identity"``, ``"pseudonym"``
    or ``"directory"`` (the name only)."""
    context = _context(viewer)
    if context is None or context.is_self(person.pk):
        return "identity"
    if context.pseudonymised:
        return "pseudonym"
    return "identity" if context.reaches(person.pk) else "directory"


def _label(person: Any, viewer: Any, *, short: bool) -> str:
    if person is None:
        return NOBODY
    alias = pseudonyms.alias_of(person)
    if alias:
        return alias
    sight = _sight(person, viewer)
    if sight == "pseudonym":
        return pseudonyms.pseudonym(person.pk)
    if sight == "directory":
        return _name(person)
    return (
        str(person.employee_id) if short else f"{person.employee_id} · {_name(person)}"
    )


def person(person: Any, viewer: Any = _CURRENT) -> str:
    """The label of a person record for the viewer (see the module's rule)."""
    return _label(person, viewer, short=False)


def person_ref(person: Any, viewer: Any = _CURRENT) -> str:
    """The short reference to a person inside another record's label
    ("Evaluation of NW-0018 …"): the employee id, the pseudonym, or for a
    viewer out of scope the directory name."""
    return _label(person, viewer, short=True)


# -- accounts -------------------------------------------------------------------


def account(user: Any, viewer: Any = _CURRENT) -> str:
    """The label of a user account for the viewer."""
    if user is None:
        return NOBODY
    return account_id(user.pk, viewer, username=user.get_username())


def account_id(user_id: Any, viewer: Any = _CURRENT, *, username: str = "") -> str:
    """:func:`account` from an account id (audit events, history rows)."""
    if user_id is None:
        return NOBODY
    context = _context(viewer)
    if (
        context is not None
        and context.pseudonymised
        and getattr(context.user, "pk", None) != _as_int(user_id)
    ):
        person_id = context.person_behind(user_id)
        if person_id is None:
            return pseudonyms.account_pseudonym(user_id)
        if not context.is_self(person_id):
            return pseudonyms.pseudonym(person_id)
    if username:
        return username
    from django.contrib.auth import get_user_model

    found = (
        get_user_model()
        ._default_manager.filter(pk=user_id)
        .values_list("username", flat=True)
        .first()
    )
    return str(found) if found is not None else f"user #{user_id}"


def _as_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
