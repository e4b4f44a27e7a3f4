"""``manage.py bias_check``: recompute a bias assessment from an exported CSV (R.REPRO).

Examples::

    manage.py bias_check release.csv --group-column group --outcome-column selected --json
    manage.py bias_check scores.csv --group-column group --score-column score \\
        --threshold 0.7 --min-group-size 10 --json

The statistics come from :mod:`governance.analytics.fairness`; see
``docs/fairness.md`` for every definition and convention.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from governance.analytics.fairness import (
    DEFAULT_MIN_GROUP_SIZE,
    assess_score_gaps,
    assess_selection,
    counts_from_outcomes,
)


class Command(BaseCommand):
    help = (
        "Selection rates, four-fifths impact ratios, Fisher and chi-square tests "
        "(and score gaps) per group from a CSV file."
    )

    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file with a header row (UTF-8).")
        parser.add_argument("--group-column", required=True)
        parser.add_argument(
            "--outcome-column", help="Column holding 1 (selected) or 0 (not)."
        )
        parser.add_argument(
            "--score-column",
            help="Column holding a numeric score; needs --threshold.",
        )
        parser.add_argument(
            "--threshold",
            help="With --score-column: selected means score >= threshold.",
        )
        parser.add_argument(
            "--min-group-size",
            type=int,
            default=DEFAULT_MIN_GROUP_SIZE,
            help=(
                "Groups with fewer members are suppressed (figures withheld); "
                f"default {DEFAULT_MIN_GROUP_SIZE}, 0 disables suppression."
            ),
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        outcome_column: str | None = options["outcome_column"]
        score_column: str | None = options["score_column"]
        threshold_text: str | None = options["threshold"]
        if (outcome_column is None) == (score_column is None):
            raise CommandError("give exactly one of --outcome-column or --score-column")
        if score_column is not None and threshold_text is None:
            raise CommandError("--score-column needs --threshold")
        if outcome_column is not None and threshold_text is not None:
            raise CommandError("--threshold only applies with --score-column")
        if options["min_group_size"] < 0:
            raise CommandError("--min-group-size must be 0 or more")
        threshold = (
            None
            if threshold_text is None
            else _decimal(threshold_text, "--threshold value")
        )

        group_column: str = options["group_column"]
        wanted = [group_column, outcome_column or score_column]
        rows = _read_rows(Path(options["file"]), [c for c in wanted if c])

        outcomes: list[tuple[str, int]] = []
        scores: dict[str, list[float]] = {}
        for line, row in rows:
            group = row[group_column].strip()
            if not group:
                raise CommandError(f"line {line}: empty value in {group_column!r}")
            if outcome_column is not None:
                raw = row[outcome_column].strip()
                if raw not in ("0", "1"):
                    raise CommandError(
                        f"line {line}: {outcome_column!r} must be 0 or 1, got {raw!r}"
                    )
                outcomes.append((group, int(raw)))
            else:
                assert score_column is not None and threshold is not None
                score = _decimal(
                    row[score_column].strip(), f"line {line}: {score_column!r}"
                )
                outcomes.append((group, int(score >= threshold)))
                scores.setdefault(group, []).append(float(score))

        counts = counts_from_outcomes(outcomes)
        if len(counts) < 2:
            raise CommandError(
                f"need at least 2 groups in {group_column!r}, found {len(counts)}"
            )
        min_size: int = options["min_group_size"]
        selection = assess_selection(counts, min_group_size=min_size)
        result: dict[str, Any] = {
            "file": str(options["file"]),
            "group_column": group_column,
            "selection": (
                {"outcome_column": outcome_column}
                if outcome_column is not None
                else {
                    "score_column": score_column,
                    "threshold": threshold_text,
                    "rule": "score >= threshold",
                }
            ),
            **selection.to_dict(),
        }
        if scores:
            gaps = assess_score_gaps(
                scores,
                reference=selection.reference_group,
                min_group_size=min_size,
            )
            result["score_gaps"] = gaps.to_dict()

        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(_as_text(result))


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"{what} must be a number, got {text!r}") from None
    if not value.is_finite():
        raise CommandError(f"{what} must be a finite number, got {text!r}")
    return value


def _read_rows(path: Path, columns: list[str]) -> list[tuple[int, dict[str, str]]]:
    """Rows of the CSV with their line numbers; checks that the columns exist."""
    if not path.is_file():
        raise CommandError(f"no such file: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise CommandError(
                    f"column(s) not in the header of {path}: {', '.join(missing)}"
                    f" (header: {', '.join(header) or 'empty'})"
                )
            rows = []
            for row in reader:
                if any(row.get(c) is None for c in columns):
                    raise CommandError(f"line {reader.line_num}: too few fields")
                rows.append((reader.line_num, row))
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise CommandError(f"{path}: malformed CSV: {exc}") from None
    return rows


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _as_text(result: dict[str, Any]) -> str:
    lines = [
        f"Reference group: {_fmt(result['reference_group'])} "
        f"(four-fifths rule; groups under {result['min_group_size']} suppressed)",
        "group | n | selected | rate | impact ratio | adverse | parity diff | "
        "Fisher p | chi² p",
    ]
    for g in result["groups"]:
        if g["suppressed"]:
            lines.append(f"{g['group']} | suppressed (small group)")
            continue
        lines.append(
            " | ".join(
                [
                    g["group"],
                    _fmt(g["n"]),
                    _fmt(g["selected"]),
                    _fmt(g["rate"]),
                    _fmt(g["impact_ratio"]),
                    _fmt(g["adverse"]),
                    _fmt(g["parity_difference"]),
                    _fmt(g["fisher_p"]),
                    _fmt(g["chi2_p"]),
                ]
            )
        )
    if "score_gaps" in result:
        lines.append("Score gaps (group − reference): group | n | mean | Δmean | d")
        for g in result["score_gaps"]["groups"]:
            if g["suppressed"]:
                continue
            lines.append(
                f"{g['group']} | {g['n']} | {_fmt(g['mean'])} | "
                f"{_fmt(g['mean_difference'])} | {_fmt(g['cohens_d'])}"
            )
    return "\n".join(lines)
