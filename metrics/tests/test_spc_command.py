"""``manage.py spc``: JSON and table output, errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from metrics.tests.test_spc import MONTGOMERY_DEFECTIVES, NIST_FLOW

REPO = Path(__file__).resolve().parents[2]

# Twenty points alternating 9, 11 around 10: x̄ = 10, every MR = 2, MR̄ = 2,
# sigma = 2 / 1.128 = 1.773, so every point is within 1 sigma (|x - 10| = 1).
# Then 30, far beyond UCL = 10 + 3 × 1.773 = 15.32.
# By hand: nelson-4 (fourteen alternating) at 13..19, nelson-7 (fifteen within
# 1 sigma) at 14..19, nelson-1 at 20; 9 -> 11 -> 30 ends the alternation.
ZIGZAG = [9.0 if i % 2 == 0 else 11.0 for i in range(20)] + [30.0]
ZIGZAG_SIGNALS = sorted(
    [(i, "nelson-4") for i in range(13, 20)]
    + [(i, "nelson-7") for i in range(14, 20)]
    + [(20, "nelson-1")]
)


def write_csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def values_csv(tmp_path: Path, values: list[float]) -> Path:
    return write_csv(
        tmp_path,
        "period,value\n" + "".join(f"p{i},{v}\n" for i, v in enumerate(values)),
    )


def p_csv(tmp_path: Path, defectives: list[int], sizes: list[int]) -> Path:
    rows = "".join(f"{d},{n}\n" for d, n in zip(defectives, sizes, strict=True))
    return write_csv(tmp_path, "defectives,n\n" + rows)


def run_json(*args: str, **options) -> dict:
    out = StringIO()
    call_command("spc", *args, json=True, stdout=out, **options)
    text = out.getvalue()
    assert text.count("\n") <= 1  # one JSON object
    return json.loads(text)


class TestJson:
    def test_nist_example(self, tmp_path):
        result = run_json(str(values_csv(tmp_path, NIST_FLOW)))
        assert result["chart"] == "xmr"
        assert result["rules"] == "nelson"
        assert result["baseline"] == 10
        assert result["center"] == pytest.approx(50.81, abs=5e-5)
        assert result["ucl"] == pytest.approx(55.8041, abs=5e-5)
        assert result["lcl"] == pytest.approx(45.8159, abs=5e-5)
        assert result["sigma"] == pytest.approx(1.8778 / 1.128, abs=5e-5)
        assert result["mr_bar"] == pytest.approx(1.8778, abs=5e-5)
        assert result["mr_ucl"] == pytest.approx(6.1347, abs=5e-5)
        assert result["signals"] == []

    def test_signals_sorted_by_index_then_rule(self, tmp_path):
        result = run_json(str(values_csv(tmp_path, ZIGZAG)), baseline=20)
        assert result["center"] == pytest.approx(10.0)
        assert result["mr_bar"] == pytest.approx(2.0)
        assert [(s["index"], s["rule"]) for s in result["signals"]] == ZIGZAG_SIGNALS
        assert all(set(s) == {"index", "rule"} for s in result["signals"])

    def test_western_electric(self, tmp_path):
        path = values_csv(tmp_path, ZIGZAG)
        result = run_json(str(path), baseline=20, rules="western-electric")
        assert result["rules"] == "western-electric"
        assert result["signals"] == [{"index": 20, "rule": "we-1"}]

    def test_baseline_first_n_points(self, tmp_path):
        result = run_json(str(values_csv(tmp_path, NIST_FLOW)), baseline=3)
        assert result["baseline"] == 3
        assert result["center"] == pytest.approx((49.6 + 47.6 + 49.9) / 3)
        assert result["mr_bar"] == pytest.approx((2.0 + 2.3) / 2)

    def test_default_baseline_is_all_points(self, tmp_path):
        path = values_csv(tmp_path, ZIGZAG)
        everything = run_json(str(path))
        assert everything["baseline"] == 21
        assert everything["center"] == pytest.approx(sum(ZIGZAG) / 21)

    def test_p_chart(self, tmp_path):
        path = p_csv(tmp_path, MONTGOMERY_DEFECTIVES, [50] * 30)
        result = run_json(str(path), chart="p")
        assert result["chart"] == "p"
        assert result["center"] == pytest.approx(0.2313, abs=5e-5)
        assert len(result["ucl"]) == len(result["lcl"]) == len(result["sigma"]) == 30
        assert result["ucl"][0] == pytest.approx(0.4102, abs=5e-5)
        assert result["lcl"][29] == pytest.approx(0.0524, abs=5e-5)
        assert "mr_bar" not in result
        beyond = [s["index"] for s in result["signals"] if s["rule"] == "nelson-1"]
        assert beyond == [14, 22]
        keys = [(s["index"], s["rule"]) for s in result["signals"]]
        assert keys == sorted(keys)

    def test_p_chart_variable_n(self, tmp_path):
        path = p_csv(tmp_path, [1, 3, 40], [10, 10, 50])
        result = run_json(str(path), chart="p", baseline=2)
        assert result["center"] == pytest.approx(0.2)
        assert result["ucl"] == pytest.approx(
            [0.2 + 3 * (0.2 * 0.8 / n) ** 0.5 for n in (10, 10, 50)]
        )
        assert result["lcl"] == [0.0, 0.0, pytest.approx(0.2 - 3 * (0.16 / 50) ** 0.5)]
        assert result["signals"] == [{"index": 2, "rule": "nelson-1"}]

    def test_header_whitespace_bom_and_blank_lines(self, tmp_path):
        path = tmp_path / "bom.csv"
        path.write_bytes(b"\xef\xbb\xbf value ,note\n1,a\n\n2,b\n 4 ,c\n")
        result = run_json(str(path))
        assert result["n"] == 3
        assert result["center"] == pytest.approx(7 / 3)


class TestTable:
    def test_xmr(self, tmp_path):
        out = StringIO()
        call_command("spc", str(values_csv(tmp_path, ZIGZAG)), baseline=20, stdout=out)
        text = out.getvalue()
        assert "XmR chart: 21 points, limits from the first 20" in text
        assert "UCL 15.3191" in text
        assert "MR UCL 6.534" in text
        assert "nelson-1 (one point beyond 3 sigma): points 20" in text
        row = next(line for line in text.splitlines() if line.strip().startswith("19 "))
        assert row.endswith("nelson-4, nelson-7")
        assert not text.lstrip().startswith("{")

    def test_no_signals(self, tmp_path):
        out = StringIO()
        call_command("spc", str(values_csv(tmp_path, NIST_FLOW)), stdout=out)
        assert out.getvalue().rstrip().endswith("No signals.")

    def test_p(self, tmp_path):
        out = StringIO()
        path = p_csv(tmp_path, MONTGOMERY_DEFECTIVES, [50] * 30)
        call_command("spc", str(path), chart="p", stdout=out)
        text = out.getvalue()
        assert "p-bar 0.231333" in text
        assert "nelson-1 (one point beyond 3 sigma): points 14, 22" in text


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "options", "message"),
        [
            ("period,amount\np1,1\np2,2\n", {}, "missing column(s) 'value'"),
            ("value\n1\nabc\n3\n", {}, "line 3: value 'abc' is not a number"),
            ("value,note\n1,a\n\n3,b\n,c\n", {}, "line 5: value '' is not a number"),
            ("value\n1\nnan\n", {}, "not a finite number"),
            ("value\n1\ninf\n", {}, "not a finite number"),
            ("value\n5\n", {}, "at least two points, found 1"),
            ("value\n", {}, "at least two points, found 0"),
            ("", {}, "empty"),
            ("value\n1\n2\n3\n", {"baseline": 1}, "--baseline 1 is out of range"),
            ("value\n1\n2\n3\n", {"baseline": 4}, "--baseline 4 is out of range"),
            ("value\n1\n2\n3\n", {"baseline": 0}, "out of range"),
            ("defectives\n1\n2\n", {"chart": "p"}, "missing column(s) 'n'"),
            ("defectives,n\n1,10\n11,10\n", {"chart": "p"}, "between 0 and n"),
            ("defectives,n\n1,10\n1,0\n", {"chart": "p"}, "must be positive"),
            ("defectives,n\n1,10\n1,2.5\n", {"chart": "p"}, "whole number"),
            (
                "defectives,n\n1,10\n1,10\n",
                {"chart": "p", "baseline": 3},
                "out of range",
            ),
        ],
    )
    def test_bad_input(self, tmp_path, text, options, message):
        path = write_csv(tmp_path, text)
        with pytest.raises(CommandError) as excinfo:
            call_command("spc", str(path), json=True, stdout=StringIO(), **options)
        assert message in str(excinfo.value)

    def test_missing_file(self, tmp_path):
        with pytest.raises(CommandError, match="File not found"):
            call_command("spc", str(tmp_path / "nope.csv"), stdout=StringIO())

    def test_directory(self, tmp_path):
        with pytest.raises(CommandError, match="Not a file"):
            call_command("spc", str(tmp_path), stdout=StringIO())

    def test_not_utf8(self, tmp_path):
        path = tmp_path / "latin1.csv"
        path.write_bytes(b"value\n1\n\xff\xfe2\n")
        with pytest.raises(CommandError, match="UTF-8"):
            call_command("spc", str(path), stdout=StringIO())

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"chart": "np"}, "Unknown chart 'np'"),
            ({"rules": "minitab"}, "Unknown rule set 'minitab'"),
            ({"baseline": "three"}, "--baseline must be a whole number"),
        ],
    )
    def test_bad_options(self, tmp_path, options, message):
        # call_command does not run argparse choices/type for optional arguments.
        path = str(values_csv(tmp_path, NIST_FLOW))
        with pytest.raises(CommandError, match=message):
            call_command("spc", path, stdout=StringIO(), **options)


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    return subprocess.run(
        [sys.executable, "manage.py", "spc", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestExitCodes:
    def test_success(self, tmp_path):
        proc = manage(str(values_csv(tmp_path, ZIGZAG)), "--json", "--baseline", "20")
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        result = json.loads(proc.stdout)
        assert [(s["index"], s["rule"]) for s in result["signals"]] == ZIGZAG_SIGNALS

    @pytest.mark.parametrize(
        ("text", "args", "message"),
        [
            (None, [], "File not found"),
            ("amount\n1\n2\n", [], "missing column"),
            ("value\n1\nx\n", [], "is not a number"),
            ("value\n1\n", [], "at least two points"),
            ("value\n1\n2\n", ["--baseline", "3"], "out of range"),
        ],
    )
    def test_failures(self, tmp_path, text, args, message):
        path = tmp_path / "in.csv" if text is None else write_csv(tmp_path, text)
        proc = manage(str(path), "--json", *args)
        assert proc.returncode != 0
        assert message in proc.stderr
        assert proc.stdout == ""

    def test_bad_option_value(self, tmp_path):
        proc = manage(str(values_csv(tmp_path, NIST_FLOW)), "--chart", "np")
        assert proc.returncode != 0
        assert "invalid choice" in proc.stderr
