"""SMART check of a target (M1.2): which criteria fail, in words.

Specific (metric with a unit and a clear direction), Measurable (a baseline from
history), Achievable (within capacity, or justified), Relevant (tied to a
strategic objective, directly or through the metric), Time-bound (a deadline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SmartResult:
    criterion: str
    ok: bool
    message: str


def above_capacity(target: Any) -> bool:
    if target.capacity is None or target.target is None:
        return False
    direction = (
        getattr(target.metric, "direction", "higher") if target.metric_id else "higher"
    )
    if direction == "lower":
        return target.target < target.capacity
    return target.target > target.capacity


def smart_check(target: Any) -> list[SmartResult]:
    metric = target.metric
    results = [
        SmartResult(
            "Specific",
            bool(metric.unit and metric.direction and metric.description),
            "Metric has a unit, a direction and a description."
            if metric.unit and metric.direction and metric.description
            else "Give the metric a unit, a direction and a description.",
        ),
        SmartResult(
            "Measurable",
            target.baseline is not None,
            "Baseline recorded from history."
            if target.baseline is not None
            else "No baseline: record one from history.",
        ),
    ]
    if target.capacity is None:
        results.append(
            SmartResult(
                "Achievable",
                False,
                "No capacity recorded (e.g. headcount × per-person capacity).",
            )
        )
    elif above_capacity(target) and not (target.justification or "").strip():
        results.append(
            SmartResult(
                "Achievable", False, "Target exceeds capacity without a justification."
            )
        )
    elif above_capacity(target):
        results.append(
            SmartResult(
                "Achievable", True, "Target exceeds capacity; justification recorded."
            )
        )
    else:
        results.append(SmartResult("Achievable", True, "Target is within capacity."))
    relevant = bool(
        target.objective_id or metric.objective_id or (metric.aligned_to_id)
    )
    results.append(
        SmartResult(
            "Relevant",
            relevant,
            "Linked to a strategic objective."
            if relevant
            else "Link the target or metric to a strategic objective.",
        )
    )
    results.append(
        SmartResult(
            "Time-bound",
            target.deadline is not None,
            "Deadline set." if target.deadline is not None else "Set a deadline.",
        )
    )
    return results


def failing(target: Any) -> list[str]:
    return [r.criterion for r in smart_check(target) if not r.ok]
