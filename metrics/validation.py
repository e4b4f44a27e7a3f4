"""Per-metric validation rules (M3.1): the one validation code path.

Admin forms, CSV/XLSX import and the API all call :func:`check_value` (through
``metrics.services.validate_rows``), so a rule holds identically everywhere.

Rules live in ``Metric.validation_rules``::

    {"min": 0, "max": 100, "integer_only": true, "allowed": [1, 2, 3],
     "required": ["period_end"], "allow_negative": false}

Period alignment follows the metric's update frequency: daily (start = end),
weekly (Monday to Sunday), monthly (calendar month), quarterly (calendar quarter).
"""

from __future__ import annotations

import calendar
import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

RULE_KEYS = {"min", "max", "integer_only", "allowed", "required", "allow_negative"}


def validate_rules(rules: Any) -> list[str]:
    """Errors in a rules document itself (used when a metric is saved)."""
    if not isinstance(rules, dict):
        return ["Validation rules must be an object."]
    errors = [f"Unknown rule “{key}”." for key in rules if key not in RULE_KEYS]
    for key in ("min", "max"):
        if key in rules:
            try:
                Decimal(str(rules[key]))
            except InvalidOperation:
                errors.append(f"Rule “{key}” must be a number.")
    if "allowed" in rules and not isinstance(rules["allowed"], list):
        errors.append("Rule “allowed” must be a list.")
    if (
        "min" in rules
        and "max" in rules
        and not errors
        and Decimal(str(rules["min"])) > Decimal(str(rules["max"]))
    ):
        errors.append("Rule “min” is above “max”.")
    return errors


def parse_value(raw: Any) -> Decimal:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("A value is required.")
    if isinstance(raw, bool):
        raise ValueError("The value must be a number.")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise ValueError(f"“{raw}” is not a number.") from exc
    if not value.is_finite():
        raise ValueError("The value must be a finite number.")
    return value


def parse_date(raw: Any, field: str) -> datetime.date:
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    if raw is None or not str(raw).strip():
        raise ValueError(f"{field} is required.")
    try:
        return datetime.date.fromisoformat(str(raw).strip())
    except ValueError as exc:
        raise ValueError(f"{field} “{raw}” is not a date (use YYYY-MM-DD).") from exc


def period_for(frequency: str, start: datetime.date) -> datetime.date:
    """The period end that goes with an aligned period start."""
    if frequency == "daily":
        return start
    if frequency == "weekly":
        return start + datetime.timedelta(days=6)
    if frequency == "monthly":
        return start.replace(day=calendar.monthrange(start.year, start.month)[1])
    if frequency == "quarterly":
        end_month = start.month + 2
        return datetime.date(
            start.year, end_month, calendar.monthrange(start.year, end_month)[1]
        )
    raise ValueError(f"Unknown frequency {frequency!r}.")


def check_period(
    frequency: str, start: datetime.date, end: datetime.date | None
) -> list[str]:
    errors = []
    if frequency == "weekly" and start.weekday() != 0:
        errors.append("Weekly periods start on a Monday.")
    elif frequency == "monthly" and start.day != 1:
        errors.append("Monthly periods start on the first day of the month.")
    elif frequency == "quarterly" and (
        start.day != 1 or start.month not in (1, 4, 7, 10)
    ):
        errors.append("Quarterly periods start on 1 January, April, July or October.")
    if not errors and end is not None and end != period_for(frequency, start):
        errors.append(
            f"A {frequency} period starting {start} ends {period_for(frequency, start)}, not {end}."
        )
    return errors


def check_value(rules: dict[str, Any], value: Decimal) -> list[str]:
    """Every rule the value breaks, as messages (never quoting other values)."""
    errors = []
    if rules.get("integer_only") and value != value.to_integral_value():
        errors.append("Only whole numbers are allowed.")
    if not rules.get("allow_negative", True) and value < 0:
        errors.append("Negative values are not allowed.")
    if "min" in rules and value < Decimal(str(rules["min"])):
        errors.append(f"The value is below the minimum of {rules['min']}.")
    if "max" in rules and value > Decimal(str(rules["max"])):
        errors.append(f"The value is above the maximum of {rules['max']}.")
    if "allowed" in rules and value not in {Decimal(str(a)) for a in rules["allowed"]}:
        errors.append(
            f"The value must be one of {', '.join(str(a) for a in rules['allowed'])}."
        )
    return errors
