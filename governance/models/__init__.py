"""Governance kernel models, split by sub-domain."""

from governance.permissions import register_object_permission_models

from .audit import AuditEvent, AuditHead, AuditLink
from .bias import BiasAssessment, BiasGroupResult, RemediationItem
from .board import Ballot, ImpactAssessment, Proposal, Vote
from .consent import ConsentPurpose, ConsentRecord
from .keys import DataKey
from .people import (
    Department,
    Jurisdiction,
    Membership,
    Person,
    PersonGroupObjectPermission,
    PersonUserObjectPermission,
    Team,
)
from .reports import ReportJob
from .retention import LegalHold, RetentionPolicy
from .users import User

register_object_permission_models(
    Person, PersonUserObjectPermission, PersonGroupObjectPermission
)

__all__ = [
    "AuditEvent",
    "AuditHead",
    "AuditLink",
    "Ballot",
    "BiasAssessment",
    "BiasGroupResult",
    "ConsentPurpose",
    "ConsentRecord",
    "DataKey",
    "Department",
    "ImpactAssessment",
    "Jurisdiction",
    "LegalHold",
    "Membership",
    "Person",
    "PersonGroupObjectPermission",
    "PersonUserObjectPermission",
    "Proposal",
    "RemediationItem",
    "ReportJob",
    "RetentionPolicy",
    "Team",
    "User",
    "Vote",
]
