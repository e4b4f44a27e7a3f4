"""``manage.py bias_check``: recompute a bias assessment from a CSV (M8.5, R.REPRO).

Expected figures are counted from the rows written here and checked against
scipy, not against the module that the command calls.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from scipy.stats import chi2_contingency, fisher_exact

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {
    "group",
    "n",
    "selected",
    "rate",
    "impact_ratio",
    "adverse",
    "parity_difference",
    "fisher_p",
    "chi2_p",
}


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def eeoc_rows() -> list[list[object]]:
    """100 people per group selected at 60/45/48/51 %, shuffled."""
    rows: list[list[object]] = []
    for group, selected in (("A", 60), ("B", 45), ("C", 48), ("D", 51)):
        rows += [[f"{group}{i}", group, int(i < selected)] for i in range(100)]
    random.Random(5).shuffle(rows)
    return rows


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command("bias_check", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def eeoc_csv(tmp_path):
    return write_csv(tmp_path / "release.csv", ["id", "group", "hired"], eeoc_rows())


def test_outcome_column_json(eeoc_csv):
    result = run(
        str(eeoc_csv), "--group-column", "group", "--outcome-column", "hired", "--json"
    )
    assert result["reference_group"] == "A"
    groups = {g["group"]: g for g in result["groups"]}
    assert list(groups) == ["A", "B", "C", "D"]
    for g in groups.values():
        assert g.keys() >= REQUIRED_KEYS
    assert [groups[k]["rate"] for k in "ABCD"] == [0.6, 0.45, 0.48, 0.51]
    assert [groups[k]["impact_ratio"] for k in "ABCD"] == [1.0, 0.75, 0.8, 0.85]
    assert [groups[k]["adverse"] for k in "ABCD"] == [False, True, False, False]
    assert groups["B"]["parity_difference"] == pytest.approx(-0.15)
    assert groups["A"]["fisher_p"] is None and groups["A"]["chi2_p"] is None
    for key, selected in (("B", 45), ("C", 48), ("D", 51)):
        table = [[selected, 100 - selected], [60, 40]]
        assert groups[key]["fisher_p"] == pytest.approx(
            fisher_exact(table).pvalue, rel=1e-9
        )
        assert groups[key]["chi2_p"] == pytest.approx(
            chi2_contingency(table, correction=False).pvalue, rel=1e-9
        )


def test_score_column_with_threshold_counts_equality_as_selected(tmp_path):
    rng = random.Random(11)
    rows = []
    for group, mean in (("north", 0.72), ("south", 0.64), ("east", 0.70)):
        rows += [[group, f"{rng.gauss(mean, 0.1):.3f}"] for _ in range(60)]
    rows += [["north", "0.700"], ["south", "0.7"], ["south", "0.69999"]]
    path = write_csv(tmp_path / "scores.csv", ["team", "score"], rows)
    result = run(
        str(path),
        "--group-column",
        "team",
        "--score-column",
        "score",
        "--threshold",
        "0.70",
        "--json",
    )
    expected: dict[str, list[int]] = {}
    for group, score in rows:
        bucket = expected.setdefault(group, [0, 0])
        bucket[0] += 1
        bucket[1] += float(score) >= 0.7
    groups = {g["group"]: g for g in result["groups"]}
    best = max(expected, key=lambda g: Fraction(expected[g][1], expected[g][0]))
    assert result["reference_group"] == best
    ref_n, ref_sel = expected[best]
    for group, (n, sel) in expected.items():
        assert (groups[group]["n"], groups[group]["selected"]) == (n, sel)
        ratio = Fraction(sel, n) / Fraction(ref_sel, ref_n)
        assert groups[group]["impact_ratio"] == pytest.approx(float(ratio))
        assert groups[group]["adverse"] is (ratio < Fraction(4, 5))
    assert result["selection"]["rule"] == "score >= threshold"
    gaps = {g["group"]: g for g in result["score_gaps"]["groups"]}
    assert result["score_gaps"]["reference_group"] == best
    south = [float(s) for g, s in rows if g == "south"]
    ref_scores = [float(s) for g, s in rows if g == best]
    assert gaps["south"]["mean_difference"] == pytest.approx(
        sum(south) / len(south) - sum(ref_scores) / len(ref_scores)
    )


def test_small_groups_are_suppressed_with_keys_kept(tmp_path):
    rows = [["big", 1]] * 30 + [["big", 0]] * 20 + [["other", 0]] * 40
    rows += [["other", 1]] * 10 + [["rare", 1]] * 3
    path = write_csv(tmp_path / "r.csv", ["g", "o"], rows)
    args = [str(path), "--group-column", "g", "--outcome-column", "o", "--json"]
    result = run(*args, "--min-group-size", "4")
    rare = next(g for g in result["groups"] if g["group"] == "rare")
    assert rare["suppressed"] is True
    assert rare.keys() >= REQUIRED_KEYS
    assert all(rare[k] is None for k in REQUIRED_KEYS - {"group"})
    assert result["reference_group"] == "big"
    assert result["min_group_size"] == 4
    # Default minimum is 5; with suppression off the 3-person group shows.
    assert run(*args)["min_group_size"] == 5
    shown = run(*args, "--min-group-size", "0")
    assert shown["reference_group"] == "rare"


def test_nobody_selected_gives_null_impact_ratio(tmp_path):
    path = write_csv(tmp_path / "z.csv", ["g", "o"], [["a", 0]] * 6 + [["b", 0]] * 7)
    result = run(str(path), "--group-column", "g", "--outcome-column", "o", "--json")
    for group in result["groups"]:
        assert group["impact_ratio"] is None
        assert group["adverse"] is False


def test_text_output_without_json(eeoc_csv):
    out = io.StringIO()
    call_command(
        "bias_check",
        str(eeoc_csv),
        "--group-column",
        "group",
        "--outcome-column",
        "hired",
        stdout=out,
    )
    text = out.getvalue()
    assert "Reference group: A" in text
    assert "B | 100 | 45 | 0.45 | 0.75 | yes" in text


BAD_INPUTS = {
    "missing file": (None, ["--outcome-column", "o"], "no such file"),
    "missing group column": (
        [["x", "o"], ["a", "1"], ["b", "0"]],
        ["--outcome-column", "o"],
        "not in the header",
    ),
    "missing outcome column": (
        [["g", "x"], ["a", "1"], ["b", "0"]],
        ["--outcome-column", "o"],
        "not in the header",
    ),
    "outcome not 0/1": (
        [["g", "o"], ["a", "1"], ["b", "yes"]],
        ["--outcome-column", "o"],
        "must be 0 or 1",
    ),
    "outcome 2": (
        [["g", "o"], ["a", "1"], ["b", "2"]],
        ["--outcome-column", "o"],
        "0 or 1",
    ),
    "non-numeric score": (
        [["g", "s"], ["a", "1.5"], ["b", "high"]],
        ["--score-column", "s", "--threshold", "1"],
        "must be a number",
    ),
    "infinite score": (
        [["g", "s"], ["a", "1.5"], ["b", "inf"]],
        ["--score-column", "s", "--threshold", "1"],
        "finite",
    ),
    "non-numeric threshold": (
        [["g", "s"], ["a", "1.5"], ["b", "2"]],
        ["--score-column", "s", "--threshold", "abc"],
        "--threshold",
    ),
    "both outcome and score": (
        [["g", "o", "s"], ["a", "1", "2"], ["b", "0", "1"]],
        ["--outcome-column", "o", "--score-column", "s", "--threshold", "1"],
        "exactly one",
    ),
    "neither outcome nor score": (
        [["g", "o"], ["a", "1"], ["b", "0"]],
        [],
        "exactly one",
    ),
    "score without threshold": (
        [["g", "s"], ["a", "1"], ["b", "0"]],
        ["--score-column", "s"],
        "needs --threshold",
    ),
    "threshold with outcome": (
        [["g", "o"], ["a", "1"], ["b", "0"]],
        ["--outcome-column", "o", "--threshold", "1"],
        "only applies",
    ),
    "one group": (
        [["g", "o"], ["a", "1"], ["a", "0"]],
        ["--outcome-column", "o"],
        "at least 2",
    ),
    "no rows": ([["g", "o"]], ["--outcome-column", "o"], "at least 2"),
    "empty group": (
        [["g", "o"], ["a", "1"], ["", "0"]],
        ["--outcome-column", "o"],
        "empty",
    ),
    "short row": (
        [["g", "o"], ["a", "1"], ["b"]],
        ["--outcome-column", "o"],
        "too few",
    ),
    "negative min size": (
        [["g", "o"], ["a", "1"], ["b", "0"]],
        ["--outcome-column", "o", "--min-group-size", "-1"],
        "min-group-size",
    ),
}


def _bad_file(tmp_path: Path, content: list[list[str]] | None) -> str:
    path = tmp_path / "bad.csv"
    if content is not None:
        write_csv(path, content[0], content[1:])
    return str(path)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_clear_command_error(tmp_path, case):
    content, extra, message = BAD_INPUTS[case]
    with pytest.raises(CommandError, match=message):
        run(_bad_file(tmp_path, content), "--group-column", "g", *extra, "--json")


def test_non_utf8_file_is_rejected(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("g,o\nZürich,1\nBern,0\n".encode("latin-1"))
    with pytest.raises(CommandError, match="UTF-8"):
        run(str(path), "--group-column", "g", "--outcome-column", "o")


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    return subprocess.run(
        [sys.executable, "manage.py", "bias_check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_subprocess_prints_one_json_object(eeoc_csv):
    done = _manage(
        str(eeoc_csv), "--group-column", "group", "--outcome-column", "hired", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["reference_group"] == "A"
    adverse = [g["group"] for g in result["groups"] if g["adverse"]]
    assert adverse == ["B"]


@pytest.mark.parametrize("case", ["missing file", "outcome not 0/1", "one group"])
def test_subprocess_bad_input_exits_non_zero(tmp_path, case):
    content, extra, message = BAD_INPUTS[case]
    done = _manage(
        _bad_file(tmp_path, content), "--group-column", "g", *extra, "--json"
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert done.stdout == ""
