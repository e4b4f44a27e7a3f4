"""Request and response shapes of the API.

Batch rows are *not* validated here: they go as they are (after alias mapping)
to :func:`metrics.services.validate_rows`, the one validation path shared with
the admin and file imports. The row serializer documents the shape for the
OpenAPI schema.
"""

from __future__ import annotations

from rest_framework import serializers

from governance.classification import Sensitivity
from metrics.models import DataSource, Metric

MAX_BATCH_ROWS = 1000


class ObservationRowSerializer(serializers.Serializer):
    """One observation. Tool-specific field names (aliases of the naming
    standard for the token's system) are accepted too."""

    metric = serializers.CharField(help_text="Metric key, e.g. sales.calls_made.")
    employee_id = serializers.CharField(
        required=False, help_text="For individual-level metrics."
    )
    team = serializers.CharField(
        required=False, help_text="Team name or id, for team-level metrics."
    )
    period_start = serializers.DateField(
        help_text="Start of the period, aligned to the metric's frequency."
    )
    period_end = serializers.DateField(
        required=False, help_text="Defaults to the end of the aligned period."
    )
    value = serializers.DecimalField(
        max_digits=18, decimal_places=4, coerce_to_string=False
    )


class BatchRequestSerializer(serializers.Serializer):
    rows = ObservationRowSerializer(
        many=True, help_text=f"1 to {MAX_BATCH_ROWS} observations."
    )


class BatchResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())
    source = serializers.CharField(help_text="The token's data source.")


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="1-based position in ``rows``.")
    field = serializers.CharField()
    message = serializers.CharField()


class BatchErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = RowErrorSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ChangeControlErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class MetricSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sensitivity = serializers.SerializerMethodField()

    class Meta:
        model = Metric
        fields = [
            "key",
            "name",
            "description",
            "indicator",
            "level",
            "unit",
            "direction",
            "sensitivity",
            "impact",
            "calculation",
            "source",
            "update_frequency",
            "status",
            "methodology_version",
            "validation_rules",
        ]
        read_only_fields = fields

    def get_sensitivity(self, metric: Metric) -> str:
        return Sensitivity.label_of(metric.sensitivity)


class MetricUpdateSerializer(serializers.ModelSerializer):
    """PATCH body: the fields to change and why. Governed fields of an active
    metric are refused by the service (409): file a change request instead."""

    source = serializers.SlugRelatedField(
        slug_field="code", queryset=DataSource.objects.all(), required=False
    )
    reason = serializers.CharField(
        write_only=True, help_text="Why the definition changes (kept in history)."
    )

    class Meta:
        model = Metric
        fields = [
            "key",
            "name",
            "description",
            "indicator",
            "unit",
            "direction",
            "level",
            "sensitivity",
            "impact",
            "calculation",
            "source",
            "update_frequency",
            "grace_days",
            "refresh_cycle",
            "latency_hours",
            "validation_rules",
            "non_punitive",
            "reason",
        ]
        # The service is the judge of what may change; uniqueness is the model's.
        extra_kwargs = {"key": {"validators": []}}


class ObservationSerializer(serializers.Serializer):
    """An observation as a session user may see it (values masked above clearance)."""

    id = serializers.IntegerField()
    metric = serializers.CharField()
    employee_id = serializers.CharField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    value = serializers.CharField(
        allow_null=True, help_text="Decimal as text; null when masked or erased."
    )
    masked = serializers.CharField(
        allow_null=True,
        help_text="The classification hiding the value, or null when shown.",
    )
    status = serializers.CharField()
    source = serializers.CharField()
    methodology_version = serializers.IntegerField()
    entered_at = serializers.DateTimeField()
