"""The naming standard for ingested fields (M2.5): tool aliases → canonical names.

Every tool calls things its own way (Jira's ``assignee_id``, Workday's
``Employee_ID``); the portal speaks one language, the canonical field names of
the registry (:class:`~metrics.models.FieldName`). A :class:`FieldAlias` maps a
tool's (``DataSource.system``) name onto a canonical one. Ingestion (API, file
import, connectors) renames each row's fields through :func:`field_map` before
the rows reach :func:`metrics.services.validate_rows`, which knows only the
canonical ingestion fields and rejects anything else.

Matching is exact (aliases are the tool's literal column names). A row that
names the same canonical field twice (e.g. the alias and the canonical name) is
rejected rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from governance.services import save_governed
from metrics.models import FieldAlias, FieldName
from metrics.services import CANONICAL_FIELDS, RowError

#: The canonical fields a batch row may carry.
INGESTION_FIELDS = frozenset(CANONICAL_FIELDS)


@dataclass(frozen=True)
class FieldMap:
    """How one tool's field names map onto the canonical ingestion fields."""

    system: str
    aliases: Mapping[str, str]  # alias -> canonical name

    @property
    def accepted(self) -> list[str]:
        return sorted(INGESTION_FIELDS | set(self.aliases))

    def canonical(self, name: str) -> str | None:
        """The canonical ingestion field ``name`` stands for, or None."""
        if name in INGESTION_FIELDS:
            return name
        target = self.aliases.get(name)
        return target if target in INGESTION_FIELDS else None

    def _unknown(self, name: str) -> str:
        target = self.aliases.get(name)
        if target is not None:
            return (
                f"Field “{name}” is the {self.system} name of “{target}”, "
                "which batches don't take."
            )
        known = ", ".join(sorted(INGESTION_FIELDS))
        aliases = ", ".join(
            f"{alias} → {canonical}"
            for alias, canonical in sorted(self.aliases.items())
            if canonical in INGESTION_FIELDS
        )
        message = f"Unknown field “{name}”. Known fields: {known}"
        if aliases:
            message += f"; {self.system} aliases: {aliases}"
        return message + "."

    def map_row(
        self, row: Mapping[str, Any], n: int
    ) -> tuple[dict[str, Any], list[RowError]]:
        """The row with canonical field names, and errors for names that aren't."""
        if row.keys() <= INGESTION_FIELDS:  # the common case: already canonical
            return dict(row), []
        mapped: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        errors: list[RowError] = []
        for name, value in row.items():
            target = self.canonical(name)
            if target is None:
                errors.append(RowError(n, name, self._unknown(name)))
                continue
            if target in mapped:
                errors.append(
                    RowError(
                        n,
                        name,
                        f"“{name}” and “{given_as[target]}” both give {target}; send one.",
                    )
                )
                continue
            mapped[target] = value
            given_as[target] = name
        return mapped, errors

    def map_rows(
        self, rows: Sequence[Mapping[str, Any]], *, first_row: int = 1
    ) -> tuple[list[dict[str, Any]], list[RowError]]:
        mapped_rows: list[dict[str, Any]] = []
        errors: list[RowError] = []
        for offset, row in enumerate(rows):
            mapped, row_errors = self.map_row(row, first_row + offset)
            mapped_rows.append(mapped)
            errors.extend(row_errors)
        return mapped_rows, errors


def field_map(system: str) -> FieldMap:
    """The alias table of one tool (one query)."""
    aliases = dict(
        FieldAlias.objects.filter(system=system).values_list("alias", "field__name")
    )
    return FieldMap(system=system, aliases=aliases)


# -- maintaining the registry (write path) --------------------------------------


@transaction.atomic
def field_define(
    *, actor: Any, name: str, definition: str, data_type: str = "text", reason: str
) -> FieldName:
    """Add a canonical field name to the standard."""
    field = FieldName(name=name, definition=definition, data_type=data_type)
    save_governed(field, actor=actor, reason=reason)
    return field


@transaction.atomic
def alias_add(
    *, actor: Any, field: FieldName, system: str, alias: str, reason: str
) -> FieldAlias:
    """Teach the standard a tool's name for a canonical field.

    An alias may not shadow a canonical ingestion field (``team`` can't mean
    ``employee_id`` for one tool): that would make the same row mean different
    things depending on where it came from.
    """
    alias = (alias or "").strip()
    if (
        alias in INGESTION_FIELDS
        or FieldName.objects.filter(name=alias).exclude(pk=field.pk).exists()
    ):
        raise ValidationError(
            {
                "alias": f"“{alias}” is itself a canonical field name; it can't be an alias."
            }
        )
    row = FieldAlias(field=field, system=system, alias=alias)
    save_governed(row, actor=actor, reason=reason)
    return row


def aliases_for(system: str) -> Iterable[tuple[str, str]]:
    """(alias, canonical) pairs of one tool, for documentation and the API."""
    return sorted(field_map(system).aliases.items())
