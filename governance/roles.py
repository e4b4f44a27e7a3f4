"""The portal's roles (G.RBAC), declared in code and synced to Django groups.

Each role has model permissions, a *scope* (how far its rows reach: the whole
organisation, a steward's department, a manager's teams, an employee's own
record, or only rows granted object by object), a default clearance for new
accounts, and whether it is privileged (MFA required).

Higher layers add their own permissions to a role from their
``AppConfig.ready()`` through :func:`extend`, so this kernel never imports them.
``manage.py sync_roles`` (also run after every migrate) makes the groups match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from governance.classification import Sensitivity


class Role(StrEnum):
    HR = "HR staff"
    COMPLIANCE = "Compliance officer"
    STEWARD = "Data steward"
    METRIC_OWNER = "Metric owner"
    BOARD = "Review board member"
    MANAGER = "Manager"
    EMPLOYEE = "Employee"
    AUDITOR = "Auditor"


class Scope(StrEnum):
    ORG = "org"
    DEPARTMENT = "department"
    TEAM = "team"
    SELF = "self"
    OWNED = "owned"  # only rows the user owns or was granted (metric owners, board)


@dataclass
class RoleSpec:
    scopes: frozenset[str]
    clearance: int
    privileged: bool
    staff: bool
    permissions: set[str] = field(default_factory=set)
    description: str = ""


_PEOPLE_VIEW = {
    "governance.view_person",
    "governance.view_team",
    "governance.view_department",
    "governance.view_membership",
    "governance.view_jurisdiction",
}
_PEOPLE_EDIT = {
    "governance.add_person",
    "governance.change_person",
    "governance.add_team",
    "governance.change_team",
    "governance.delete_team",
    "governance.add_department",
    "governance.change_department",
    "governance.add_membership",
    "governance.change_membership",
    "governance.delete_membership",
}

ROLES: dict[Role, RoleSpec] = {
    Role.HR: RoleSpec(
        scopes=frozenset({Scope.ORG}),
        clearance=Sensitivity.CONFIDENTIAL,
        privileged=True,
        staff=True,
        permissions=_PEOPLE_VIEW | _PEOPLE_EDIT,
        description="Manages people, teams, metric definitions, evaluations and peer reviews.",
    ),
    Role.COMPLIANCE: RoleSpec(
        scopes=frozenset({Scope.ORG}),
        clearance=Sensitivity.RESTRICTED,
        privileged=True,
        staff=True,
        permissions=_PEOPLE_VIEW
        | {
            "governance.add_jurisdiction",
            "governance.change_jurisdiction",
            "governance.erase_person",
            "governance.view_auditevent",
        },
        description="Classification, consent, retention, bias, review board, DSAR and erasure.",
    ),
    Role.STEWARD: RoleSpec(
        scopes=frozenset({Scope.DEPARTMENT}),
        clearance=Sensitivity.CONFIDENTIAL,
        privileged=True,
        staff=True,
        permissions=_PEOPLE_VIEW | {"governance.change_department"},
        description="Owns the data quality of their department's metrics.",
    ),
    Role.METRIC_OWNER: RoleSpec(
        scopes=frozenset({Scope.OWNED}),
        clearance=Sensitivity.CONFIDENTIAL,
        privileged=False,
        staff=True,
        permissions={"governance.view_team", "governance.view_department"},
        description="Keeps a metric's definition and data current.",
    ),
    Role.BOARD: RoleSpec(
        scopes=frozenset({Scope.OWNED}),
        clearance=Sensitivity.CONFIDENTIAL,
        privileged=True,
        staff=True,
        permissions={"governance.view_team", "governance.view_department"},
        description="Reads proposals and impact assessments, votes with a rationale.",
    ),
    Role.MANAGER: RoleSpec(
        scopes=frozenset({Scope.TEAM, Scope.SELF}),
        clearance=Sensitivity.CONFIDENTIAL,
        privileged=False,
        staff=True,
        permissions=_PEOPLE_VIEW,
        description="Sees own teams' metrics and evaluations; runs review rituals.",
    ),
    Role.EMPLOYEE: RoleSpec(
        scopes=frozenset({Scope.SELF}),
        clearance=Sensitivity.INTERNAL,
        privileged=False,
        staff=False,
        permissions={"governance.view_person"},
        description="Sees own data, gives or withdraws consent, files appeals.",
    ),
    Role.AUDITOR: RoleSpec(
        scopes=frozenset({Scope.ORG}),
        clearance=Sensitivity.CONFIDENTIAL,
        privileged=True,
        staff=True,
        permissions=_PEOPLE_VIEW | {"governance.view_auditevent"},
        description="Read-only: methodology, history, decisions, consent and appeals.",
    ),
}


def extend(role: Role, permissions: set[str] | list[str]) -> None:
    """Let a higher layer add its permissions to a role (from ``ready()``)."""
    ROLES[role].permissions.update(permissions)


def spec(role: str) -> RoleSpec | None:
    try:
        return ROLES[Role(role)]
    except ValueError:
        return None
