"""Portal user accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from governance.classification import Sensitivity


class User(AbstractUser):
    """A person who signs in. Roles are groups; ``clearance`` caps plaintext.

    Invariant: a user reads a governed value in plaintext only when their
    clearance is at least the value's classification (or it is their own data).
    Changes of clearance, roles and activation are recorded as audit events by
    :mod:`governance.services`; accounts are deactivated, never deleted.
    """

    clearance = models.PositiveSmallIntegerField(
        choices=Sensitivity.choices,
        default=Sensitivity.INTERNAL,
        help_text="Highest classification this user may read in plaintext.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("set_clearance", "Can change a user's clearance and roles")]
