"""Sensitivity classification (G.CLS).

Levels are ordered: a user whose clearance is at least a value's level may see
its plaintext; everyone else sees it masked, never silently dropped.
"""

from __future__ import annotations

from django.db import models


class Sensitivity(models.IntegerChoices):
    PUBLIC = 0, "Public"
    INTERNAL = 1, "Internal"
    CONFIDENTIAL = 2, "Confidential"
    RESTRICTED = 3, "Restricted"

    @classmethod
    def label_of(cls, level: int) -> str:
        return cls(level).label

    @property
    def encrypted(self) -> bool:
        """Confidential and Restricted values are encrypted at rest."""
        return self >= Sensitivity.CONFIDENTIAL


def classification_field(
    default: int = Sensitivity.INTERNAL,
) -> models.PositiveSmallIntegerField:
    """The per-record classification column every governed model carries."""
    return models.PositiveSmallIntegerField(
        choices=Sensitivity.choices,
        default=default,
        help_text="Sensitivity of this record. Values above a reader's clearance are masked.",
    )
