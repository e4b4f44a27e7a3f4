"""django-q2 task wrappers for the metrics app (declared in ``MetricsConfig.ready()``).

Tasks take no plaintext arguments and are idempotent: running one twice has
the effect of running it once (the freshness check only acts on changes; the
lineage audit records what it found each time it runs).
"""

from __future__ import annotations

from typing import Any

from metrics import gaming_review, lineage, stewardship


def lineage_audit() -> dict[str, int]:
    """Quarterly (M3.2): audit lineage and record the counts as an audit event."""
    return lineage.record_lineage_audit(actor=None)


def flag_stale_and_orphaned() -> dict[str, Any]:
    """Daily (M1.5): flag and clear stale and orphaned metrics, notify stewards."""
    return stewardship.flag_stale_and_orphaned(actor=None)


def gaming_detection() -> dict[str, int]:
    """Daily (M5.3): file gaming findings in the non-punitive review queue."""
    return gaming_review.detect_gaming(actor=None)
