"""People as data subjects: jurisdictions, departments, teams, persons."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from governance import labels
from governance.audit.history import GovernedHistoricalRecords
from governance.classification import Sensitivity, classification_field
from governance.crypto.fields import EncryptedCharField, EncryptedDateField
from governance.querysets import (
    DepartmentQuerySet,
    MembershipQuerySet,
    PersonQuerySet,
    ReferenceQuerySet,
    TeamQuerySet,
)


class Jurisdiction(models.Model):
    """A legal regime people are employed under.

    Invariant: where ``consent_required`` is set, individual-level tracking of
    a person in this jurisdiction needs their active consent.
    """

    class Regime(models.TextChoices):
        GDPR = "gdpr", "EU/EEA GDPR"
        UK_GDPR = "uk_gdpr", "UK GDPR"
        CCPA = "ccpa", "California CCPA/CPRA"
        PIPEDA = "pipeda", "Canada PIPEDA"
        OTHER = "other", "Other"

    code = models.SlugField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    privacy_regime = models.CharField(max_length=16, choices=Regime.choices)
    consent_required = models.BooleanField(
        default=False,
        verbose_name="consent required for individual-level tracking",
    )
    default_retention_days = models.PositiveIntegerField(default=3 * 365)
    history = GovernedHistoricalRecords()

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Department(models.Model):
    """An organisational unit with one data steward (M3.3)."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=120)
    steward = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stewarded_departments",
        help_text="Data steward who owns the quality of this department's metrics.",
    )
    history = GovernedHistoricalRecords()

    objects = DepartmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """A team with a function (drives leading/lagging mix) and interdependence."""

    class Function(models.TextChoices):
        SALES = "sales", "Sales"
        MARKETING = "marketing", "Marketing"
        PRODUCT = "product", "Product"
        ENGINEERING = "engineering", "Engineering"
        SUPPORT = "support", "Customer support"
        OPERATIONS = "operations", "Operations"
        CRISIS = "crisis", "Crisis response"
        RESEARCH = "research", "Research & development"
        PEOPLE = "people", "People & HR"
        FINANCE = "finance", "Finance"
        LEGAL = "legal", "Legal"

    class Interdependence(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    name = models.CharField(max_length=120)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="teams"
    )
    function = models.CharField(max_length=16, choices=Function.choices)
    interdependence = models.CharField(
        max_length=8, choices=Interdependence.choices, default=Interdependence.MEDIUM
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    manager = models.ForeignKey(
        "governance.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="managed_teams",
    )
    history = GovernedHistoricalRecords()

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["department__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "name"], name="team_unique_name_per_department"
            ),
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="team_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    """A data subject: an employee whose performance data the portal governs.

    Invariants: the primary key is a UUID fixed before the first save, so the
    person's data key exists before any of their values are sealed. Personal
    values (name, email, demographics) are encrypted with that key; erasure
    destroys the key, and every value of the person, history included, then
    reads as erased. People leave (status) rather than being deleted.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ON_LEAVE = "on_leave", "On leave"
        LEFT = "left", "Left"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    employee_id = models.CharField(max_length=32, unique=True)
    full_name = EncryptedCharField(
        subject="id", sensitivity=Sensitivity.INTERNAL, max_length=200
    )
    email = EncryptedCharField(
        subject="id", sensitivity=Sensitivity.INTERNAL, max_length=254
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="people"
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reports"
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction, on_delete=models.PROTECT, related_name="people"
    )
    hire_date = models.DateField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
    )
    # Demographic attributes: Restricted, used only by bias assessments (M8.5).
    date_of_birth = EncryptedDateField(subject="id", sensitivity=Sensitivity.RESTRICTED)
    gender = EncryptedCharField(
        subject="id", sensitivity=Sensitivity.RESTRICTED, max_length=40
    )
    ethnicity = EncryptedCharField(
        subject="id", sensitivity=Sensitivity.RESTRICTED, max_length=80
    )
    disability = EncryptedCharField(
        subject="id", sensitivity=Sensitivity.RESTRICTED, max_length=40
    )
    classification = classification_field(Sensitivity.INTERNAL)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = GovernedHistoricalRecords()

    objects = PersonQuerySet.as_manager()

    class Meta:
        ordering = ["employee_id"]
        verbose_name_plural = "people"
        permissions = [("erase_person", "Can erase a person's data (crypto-shredding)")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(manager=models.F("id")),
                name="person_not_own_manager",
            ),
        ]

    def __str__(self) -> str:
        # Named as whoever is looking may see it (governance.labels).
        return labels.person(self)


class Membership(models.Model):
    """A person's membership of a team (history-tracked, unlike a bare M2M)."""

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=60, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    history = GovernedHistoricalRecords()

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person", "team"], name="membership_unique_person_team"
            ),
        ]

    def __str__(self) -> str:
        return f"{labels.person_ref(self.person)} in {self.team}"


class PersonUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key guardian table: object grants on people, indexed."""

    content_object = models.ForeignKey(Person, on_delete=models.CASCADE)


class PersonGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Person, on_delete=models.CASCADE)
