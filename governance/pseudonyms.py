"""Stable pseudonyms for auditors (SPEC: Auditor role, M8.2).

An auditor reads methodology, history, decisions and consent records without
learning who the people in them are: wherever a person would be named (their
name, e-mail or employee id: in changelists, change views, history, dropdowns,
autocomplete, exports and reports) an auditor sees a pseudonym such as
``P-7f3a9c21`` instead. The pseudonym is a keyed HMAC of the person's id, so
it is the same on every page and in every report (records about one person
can still be linked) but can't be reversed or recomputed without the key.

Who sees pseudonyms: a user whose only portal role is Auditor and who lacks
the ``governance.view_identities`` permission. That permission is granted to
a user explicitly (Users › permissions), never through the Auditor group; any
other role (HR, compliance ...) has a business need for names and sees them.

Models declare their identifying fields with :func:`register`; the masking
layer (:mod:`governance.display`) applies them with the clearance masks, so
every admin page, label and export built on it is covered. A pseudonymised
instance refuses to be saved (a display copy must never overwrite the record).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.signals import pre_save
from django.utils.crypto import salted_hmac

from governance.crypto.fields import Masked

#: The explicit grant that lifts pseudonymisation for one user.
IDENTITY_PERMISSION = "governance.view_identities"
IDENTITY_CODENAME = "view_identities"
IDENTITY_NAME = "Can see the identities behind auditor pseudonyms"

#: Set on an instance whose identifying values were replaced for display.
PSEUDONYM_ATTR = "_pgp_pseudonym"

_SALT = "governance.pseudonyms.v1"
_CACHE = "_portal_pseudonymised"


def _secret() -> str:
    return str(getattr(settings, "PSEUDONYM_SECRET", "") or settings.SECRET_KEY)


def pseudonym(person_id: Any) -> str:
    """The stable pseudonym of a person id (UUID or its text), e.g. ``P-7f3a9c21``."""
    if isinstance(person_id, uuid.UUID):
        text = str(person_id)
    else:
        text = str(uuid.UUID(str(person_id)))  # one spelling per person
    digest = salted_hmac(_SALT, text, secret=_secret(), algorithm="sha256")
    return "P-" + digest.hexdigest()[:8]


class Pseudonym(Masked):
    """What a pseudonymised viewer sees instead of an identifying value."""

    __slots__ = ("text",)

    def __init__(self, text: str, level: int = 0) -> None:
        super().__init__(level)
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pseudonym) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("pseudonym", self.text))


def sees_pseudonyms(user: Any) -> bool:
    """True when ``user`` must see pseudonyms instead of identities."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, _CACHE, None)
    if cached is not None:
        return bool(cached)
    from governance import permissions
    from governance.roles import Role

    roles = {r for r in permissions.role_names(user) if r in Role._value2member_map_}
    result = (
        bool(user.is_active)
        and not user.is_superuser
        and roles == {Role.AUDITOR.value}
        and not user.has_perm(IDENTITY_PERMISSION)
    )
    try:
        setattr(user, _CACHE, result)
    except AttributeError:  # pragma: no cover - exotic user objects
        pass
    return result


@dataclass(frozen=True)
class Identifying:
    """A model's identifying fields and where its person id lives."""

    fields: tuple[str, ...]
    subject: str  # attname of the person id on the instance


_REGISTRY: dict[str, Identifying] = {}


def register(
    model: type[models.Model], *, fields: tuple[str, ...], subject: str
) -> None:
    """Declare ``fields`` of ``model`` identifying (also for its history model)."""
    _REGISTRY[model._meta.label_lower] = Identifying(tuple(fields), subject)
    pre_save.connect(
        _refuse_pseudonymised,
        sender=model,
        dispatch_uid=f"pseudonyms.refuse.{model._meta.label_lower}",
    )


def identifying(model: type[models.Model]) -> Identifying | None:
    label = model._meta.label_lower
    found = _REGISTRY.get(label)
    if found is None and getattr(model, "instance_type", None) is not None:
        found = _REGISTRY.get(model.instance_type._meta.label_lower)  # type: ignore[attr-defined]
    return found


def apply(obj: models.Model, user: Any, masks: dict[str, Masked]) -> bool:
    """Pseudonymise ``obj`` for ``user`` if both call for it.

    Encrypted identifying fields get a :class:`Pseudonym` mask in ``masks``;
    plain ones (an employee id) are replaced on this instance, which is then
    marked so it can't be saved. Returns whether anything was applied.
    """
    spec = identifying(type(obj))
    if spec is None or not sees_pseudonyms(user):
        return False
    subject = obj.__dict__.get(spec.subject)
    if subject is None:
        return False
    from governance import permissions

    if permissions.is_subject(user, subject):
        return False  # their own record
    alias = pseudonym(subject)
    encrypted = {f.name: f for f in getattr(obj._meta, "encrypted_fields", ())}
    for name in spec.fields:
        field = encrypted.get(name)
        if field is not None:
            masks[field.attname] = Pseudonym(alias, field.sensitivity)
        else:
            plain: Any = obj._meta.get_field(name)
            obj.__dict__[plain.attname] = alias
    obj.__dict__[PSEUDONYM_ATTR] = alias
    return True


def alias_of(obj: Any) -> str | None:
    """The pseudonym shown for ``obj`` (if it was pseudonymised)."""
    return getattr(obj, "__dict__", {}).get(PSEUDONYM_ATTR)


def _refuse_pseudonymised(sender: Any, instance: Any, **kwargs: Any) -> None:
    if alias_of(instance):
        raise ValueError(
            "This is a pseudonymised display copy of a record; it can't be saved."
        )


def ensure_permission(**kwargs: Any) -> None:
    """Create the identity-grant permission (post_migrate; not a Meta
    permission, so no migration is needed)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from governance.models import Person

    using = str(kwargs.get("using", "default"))
    content_type = ContentType.objects.db_manager(using).get_for_model(Person)
    Permission.objects.using(using).get_or_create(
        codename=IDENTITY_CODENAME,
        content_type=content_type,
        defaults={"name": IDENTITY_NAME},
    )


def account_pseudonym(user_id: Any) -> str:
    """The stable pseudonym of a user account without a person record."""
    digest = salted_hmac(_SALT + ".account", str(user_id), secret=_secret())
    return "U-" + digest.hexdigest()[:8]


def account_label(user_id: Any, viewer: Any) -> str:
    """How a user account (e.g. who approved something) is named to ``viewer``
    (:func:`governance.labels.account_id`)."""
    from governance import labels

    return labels.account_id(user_id, viewer)


def person_label(person: Any, viewer: Any) -> str:
    """A person as ``viewer`` may see them: masked, then labelled by
    :func:`governance.labels.person`."""
    if person is None:
        return "—"
    from governance import display, labels

    display.apply_masks_many([person], viewer)
    return labels.person(person, viewer)


def _is_self(viewer: Any, person_id: Any) -> bool:
    from governance import permissions

    return permissions.is_subject(viewer, person_id)


#: Fields that name an account (its sign-in name, e-mail, given names) and
#: stored copies of an account's name: identifying like a person's name.
ACCOUNT_FIELDS = ("username", "email", "first_name", "last_name")
ACCOUNT_LABEL_FIELDS = {"governance.auditevent": ("actor_label",)}


def _names_account(model: Any, name: str) -> bool:
    from django.contrib.auth import get_user_model

    label = model._meta.label_lower
    if model is get_user_model() and name in ACCOUNT_FIELDS:
        return True
    return name in ACCOUNT_LABEL_FIELDS.get(label, ())


def lookup_target(model: type[models.Model], lookup: str) -> tuple[Any, str] | None:
    """The model and field a search or filter lookup ends on
    (``person__employee_id__iexact`` → ``(Person, "employee_id")``), or None
    for a lookup that names no field."""
    current: Any = model
    parts = lookup.lstrip("^=@").split("__")
    for position, part in enumerate(parts):
        try:
            field = current._meta.get_field(part)
        except Exception:  # noqa: BLE001 - a transform (``__iexact``) or unknown
            return None
        last = position == len(parts) - 1
        if field.is_relation and field.related_model is not None and not last:
            current = field.related_model
            continue
        return current, part
    return None


def is_identifying_lookup(model: type[models.Model], lookup: str) -> bool:
    """Whether a search or filter lookup (``person__employee_id``,
    ``user__username``) reaches an identifying field: searching it would let a
    pseudonymised viewer link a known identity to its pseudonym."""
    target = lookup_target(model, lookup)
    if target is None:
        return False
    current, name = target
    if _names_account(current, name):
        return True
    spec = identifying(current)
    return spec is not None and name in spec.fields


def _ends_on_account(model: type[models.Model], lookup: str) -> bool:
    """Whether a lookup names an account rather than a person (an account's
    name can't be searched by pseudonym: it matches nothing)."""
    target = lookup_target(model, lookup)
    return target is not None and _names_account(*target)


def identity_for(viewer: Any, person_id: Any, plain: Any) -> Any:
    """``plain`` (an employee id, a name) or the person's pseudonym, as
    ``viewer`` may see it: for exports that read identifiers as columns."""
    if person_id is None or not sees_pseudonyms(viewer):
        return plain
    if _is_self(viewer, person_id):
        return plain
    return pseudonym(person_id)


def _person_paths(model: type[models.Model], lookups: list[str]) -> set[str]:
    """Relation paths (``""`` for the model itself) that reach a pseudonymised
    record through an identifying search lookup."""
    paths = set()
    for lookup in lookups:
        if is_identifying_lookup(model, lookup) and not _ends_on_account(model, lookup):
            parts = lookup.lstrip("^=@").split("__")
            paths.add("__".join(parts[:-1]))
    return paths


def search(queryset: Any, lookups: list[str], term: str) -> Any:
    """Admin search for a pseudonymised viewer: non-identifying lookups match
    as usual (``icontains`` on each word); identifying ones match a person's
    pseudonym (exactly, or by a prefix of at least ``P-`` and 4 characters)."""
    from django.db.models import Q

    model = queryset.model
    plain = [f for f in lookups if not is_identifying_lookup(model, f)]
    paths = _person_paths(model, lookups)
    for word in term.split():
        q = Q(pk__in=[])
        for lookup in plain:
            name = lookup.lstrip("^=@")
            op = (
                "iexact"
                if lookup.startswith("=")
                else "istartswith"
                if lookup.startswith("^")
                else "icontains"
            )
            q |= Q(**{f"{name}__{op}": word})
        if paths:
            ids = _ids_with_pseudonym(word)
            for path in paths:
                q |= Q(**{f"{path}__in" if path else "pk__in": ids})
        queryset = queryset.filter(q)
    return queryset.distinct()


def _ids_with_pseudonym(word: str) -> list[Any]:
    word = word.strip().lower()
    if not word.startswith("p-") or len(word) < 6:
        return []
    from governance.models import Person

    return [
        pk
        for pk in Person.objects.values_list("pk", flat=True).iterator()
        if pseudonym(pk).lower().startswith(word)
    ]
