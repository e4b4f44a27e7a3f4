"""Metrics app models, split by sub-domain."""

from governance.permissions import register_object_permission_models

from .catalogue import (
    ChangeRequest,
    DataSource,
    FieldAlias,
    FieldName,
    MethodologyVersion,
    Metric,
    MetricConflict,
    MetricTarget,
    StewardshipDispute,
    StrategicObjective,
    TransformationStep,
    validate_metric_key,
)
from .evaluations import Evaluation, PeerFeedback, StakeholderFeedback
from .incentives import (
    GamingFinding,
    IncentiveComponent,
    IncentivePlan,
    PeerReviewAssignment,
    PeerReviewCycle,
)
from .integration import ApiToken, IdempotencyRecord
from .observations import (
    Annotation,
    DataQualityIssue,
    Observation,
    ObservationGroupObjectPermission,
    ObservationUserObjectPermission,
)

register_object_permission_models(
    Observation, ObservationUserObjectPermission, ObservationGroupObjectPermission
)

__all__ = [
    "Annotation",
    "ApiToken",
    "ChangeRequest",
    "DataQualityIssue",
    "DataSource",
    "Evaluation",
    "FieldAlias",
    "FieldName",
    "GamingFinding",
    "IdempotencyRecord",
    "IncentiveComponent",
    "IncentivePlan",
    "MethodologyVersion",
    "Metric",
    "MetricConflict",
    "MetricTarget",
    "Observation",
    "ObservationGroupObjectPermission",
    "ObservationUserObjectPermission",
    "PeerFeedback",
    "PeerReviewAssignment",
    "PeerReviewCycle",
    "StakeholderFeedback",
    "StewardshipDispute",
    "StrategicObjective",
    "TransformationStep",
    "validate_metric_key",
]
