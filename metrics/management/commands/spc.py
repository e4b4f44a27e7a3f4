"""Reproduce a control chart from a CSV file (SPEC M7.1, M1.6).

``python manage.py spc FILE.csv --json`` prints the limits and run-rule signals
as one JSON object, so anyone can recompute what the portal flagged from the
same numbers. The computation is :mod:`metrics.analytics.spc`; this command only
reads the file and formats the result.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from metrics.analytics import spc


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def read_columns(path: Path, columns: tuple[str, ...]) -> dict[str, list[float]]:
    """Read the named numeric columns of a CSV file (header row required).

    Raises ``CommandError`` with the file line number for anything unreadable.
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CommandError(f"File not found: {path}") from exc
    except IsADirectoryError as exc:
        raise CommandError(f"Not a file: {path}") from exc
    except OSError as exc:
        raise CommandError(f"Cannot open {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise CommandError(f"{path} is empty: expected a header row")
            names = [h.strip() for h in header]
            missing = [c for c in columns if c not in names]
            if missing:
                found = ", ".join(repr(n) for n in names) or "none"
                raise CommandError(
                    f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} "
                    f"(found: {found})"
                )
            positions = {c: names.index(c) for c in columns}
            data: dict[str, list[float]] = {c: [] for c in columns}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                for column, pos in positions.items():
                    raw = row[pos].strip() if pos < len(row) else ""
                    try:
                        number = float(raw)
                    except ValueError:
                        raise CommandError(
                            f"{path}, line {reader.line_num}: {column} {raw!r} "
                            "is not a number"
                        ) from None
                    if not math.isfinite(number):
                        raise CommandError(
                            f"{path}, line {reader.line_num}: {column} {raw!r} "
                            "is not a finite number"
                        )
                    data[column].append(number)
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text") from exc
        except csv.Error as exc:
            raise CommandError(f"{path}: malformed CSV: {exc}") from exc
    return data


class Command(BaseCommand):
    help = (
        "Compute control limits and run-rule signals for a series in a CSV file. "
        "XmR charts read a 'value' column; p-charts read 'defectives' and 'n'. "
        "Limits come from the first --baseline points (default: all)."
    )
    # Pure computation on a file: no database, no system checks needed.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument(
            "--json",
            action="store_true",
            help="print one JSON object instead of a table",
        )
        parser.add_argument("--chart", choices=["xmr", "p"], default="xmr")
        parser.add_argument("--rules", choices=sorted(spc.RULE_SETS), default="nelson")
        parser.add_argument(
            "--baseline",
            type=int,
            default=None,
            metavar="N",
            help="compute limits from the first N points (default: all points)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        chart_kind: str = options["chart"]
        rules: str = options["rules"]
        # call_command() skips argparse for optional arguments: check them here too.
        if chart_kind not in ("xmr", "p"):
            raise CommandError(f"Unknown chart {chart_kind!r}: use 'xmr' or 'p'.")
        if rules not in spc.RULE_SETS:
            known = "' or '".join(sorted(spc.RULE_SETS))
            raise CommandError(f"Unknown rule set {rules!r}: use '{known}'.")
        baseline = self._as_baseline(options["baseline"])
        chart: spc.XmRChart | spc.PChart
        try:
            if chart_kind == "xmr":
                values = read_columns(path, ("value",))["value"]
                self._check_length(len(values), baseline, minimum_baseline=2)
                chart = spc.xmr_chart(values, baseline=baseline, rules=rules)
            else:
                cols = read_columns(path, ("defectives", "n"))
                self._check_length(len(cols["n"]), baseline, minimum_baseline=1)
                chart = spc.p_chart(
                    cols["defectives"], cols["n"], baseline=baseline, rules=rules
                )
        except ValueError as exc:
            raise CommandError(f"Invalid input: {exc}") from exc

        if options["json"]:
            payload = {**chart.as_dict(), "rules": rules}
            self.stdout.write(json.dumps(payload, allow_nan=False))
        elif isinstance(chart, spc.XmRChart):
            self._xmr_table(chart, rules)
        else:
            self._p_table(chart, rules)

    @staticmethod
    def _as_baseline(value: Any) -> int | None:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, str) and value.strip().removeprefix("-").isdigit():
            return int(value)
        raise CommandError(f"--baseline must be a whole number, got {value!r}.")

    @staticmethod
    def _check_length(n: int, baseline: int | None, *, minimum_baseline: int) -> None:
        if n < 2:
            raise CommandError(f"Need at least two points, found {n}.")
        if baseline is not None and not minimum_baseline <= baseline <= n:
            raise CommandError(
                f"--baseline {baseline} is out of range: it must be between "
                f"{minimum_baseline} and the number of points ({n})."
            )

    def _signal_column(self, signals: tuple[spc.Signal, ...]) -> dict[int, str]:
        by_index: dict[int, list[str]] = {}
        for s in signals:
            by_index.setdefault(s.index, []).append(s.rule)
        return {i: ", ".join(r) for i, r in by_index.items()}

    def _summary(self, signals: tuple[spc.Signal, ...]) -> None:
        if not signals:
            self.stdout.write("No signals.")
            return
        self.stdout.write(f"{len(signals)} signal(s):")
        for rule in sorted({s.rule for s in signals}):
            points = [str(s.index) for s in signals if s.rule == rule]
            self.stdout.write(
                f"  {rule} ({spc.RULE_DESCRIPTIONS[rule]}): points {', '.join(points)}"
            )

    def _xmr_table(self, chart: spc.XmRChart, rules: str) -> None:
        lim = chart.limits
        marks = self._signal_column(chart.signals)
        w = self.stdout.write
        w(
            f"XmR chart: {len(chart.values)} points, limits from the first "
            f"{lim.baseline}, rules: {rules}"
        )
        w(
            f"  centre {_fmt(lim.center)}   sigma {_fmt(lim.sigma)}   "
            f"UCL {_fmt(lim.ucl)}   LCL {_fmt(lim.lcl)}"
        )
        w(f"  MR-bar {_fmt(lim.mr_bar)}   MR UCL {_fmt(lim.mr_ucl)}")
        w("")
        w(f"{'index':>6}  {'value':>12}  {'MR':>12}  signals")
        for i, (x, mr) in enumerate(
            zip(chart.values, chart.moving_ranges, strict=True)
        ):
            w(f"{i:>6}  {_fmt(x):>12}  {_fmt(mr):>12}  {marks.get(i, '')}".rstrip())
        w("")
        self._summary(chart.signals)

    def _p_table(self, chart: spc.PChart, rules: str) -> None:
        lim = chart.limits
        marks = self._signal_column(chart.signals)
        w = self.stdout.write
        w(
            f"p-chart: {len(chart.proportions)} samples, centre line from the first "
            f"{lim.baseline}, rules: {rules}"
        )
        w(f"  p-bar {_fmt(lim.center)}")
        w("")
        w(
            f"{'index':>6}  {'defectives':>10}  {'n':>8}  {'p':>10}  "
            f"{'LCL':>10}  {'UCL':>10}  signals"
        )
        for i, p in enumerate(chart.proportions):
            w(
                f"{i:>6}  {chart.defectives[i]:>10}  {chart.sizes[i]:>8}  "
                f"{_fmt(p):>10}  {_fmt(lim.lcl[i]):>10}  {_fmt(lim.ucl[i]):>10}  "
                f"{marks.get(i, '')}".rstrip()
            )
        w("")
        self._summary(chart.signals)
