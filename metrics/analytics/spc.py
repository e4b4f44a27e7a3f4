"""Statistical process control: XmR and p-charts with Western Electric and Nelson rules.

Limits come from a *baseline*: the first ``baseline`` points of the series (by
default all of them). They are recomputed only when a documented process change
starts a new baseline (SPEC M7.1); points after the baseline are judged against
the frozen limits.

XmR (individuals and moving range) chart::

    MR_i   = |x_i - x_{i-1}|                  (i = 1 .. baseline-1)
    MR̄     = mean(MR)                         over the baseline
    x̄      = mean(x)                          over the baseline
    sigma  = MR̄ / d2,  d2 = 1.128             (d2 for subgroups of two)
    UCL    = x̄ + 3·sigma,  LCL = x̄ - 3·sigma  (= x̄ ± 3·MR̄/1.128)
    MR UCL = D4·MR̄,  D4 = 3.267               (the MR chart's LCL is 0)

p-chart (proportion defective, samples of varying size n_i)::

    p_i      = d_i / n_i
    p̄        = Σ d / Σ n                     over the baseline
    sigma_i  = sqrt(p̄ (1 - p̄) / n_i)         per point
    UCL_i    = min(1, p̄ + 3·sigma_i),  LCL_i = max(0, p̄ - 3·sigma_i)

Run rules (zone boundaries are ``center ± k·sigma``; for p-charts the per-point
sigma is used). Conventions, identical for every rule:

* a signal is placed on the last point of the qualifying run and on every
  further point while the run continues;
* "beyond" is strict: a point exactly on a boundary is not beyond it;
* a point exactly on the centre line is on neither side, so it breaks a
  same-side run;
* an equal neighbour is neither an increase nor a decrease, so it breaks a
  trend (Nelson 3) and an alternation (Nelson 4);
* for "2 of 3" and "4 of 5" the signalling point itself must be beyond the
  boundary; the window counts only existing points (at the start of a series
  a window is shorter, and the missing points count as not beyond).

=========  ===============================================================
rule       definition
=========  ===============================================================
nelson-1   one point beyond 3σ (either side)
nelson-2   nine points in a row on the same side of the centre line
nelson-3   six points in a row steadily increasing or decreasing
           (five consecutive strict increases, or decreases)
nelson-4   fourteen points in a row alternating up and down
           (thirteen differences, each of opposite sign to the previous)
nelson-5   two of three points beyond 2σ on the same side
nelson-6   four of five points beyond 1σ on the same side
nelson-7   fifteen points in a row strictly within 1σ (either side)
nelson-8   eight points in a row beyond 1σ (either side, none within 1σ)
we-1       one point beyond 3σ
we-2       two of three points beyond 2σ on the same side
we-3       four of five points beyond 1σ on the same side
we-4       eight points in a row on the same side of the centre line
=========  ===============================================================

Everything is vectorised over a 2-D array of series (one series per row), so
thousands of series are evaluated in one pass: see :func:`xmr_limits_batch`
and :func:`rule_masks`. The one-series helpers (:func:`xmr_chart`,
:func:`p_chart`, :func:`detect_signals`) use the same code path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "D2",
    "D4",
    "NELSON_RULES",
    "RULE_DESCRIPTIONS",
    "RULE_SETS",
    "WESTERN_ELECTRIC_RULES",
    "PChart",
    "PLimits",
    "Signal",
    "XmRChart",
    "XmRLimits",
    "detect_signals",
    "p_chart",
    "p_chart_limits",
    "resolve_rules",
    "rule_masks",
    "xmr_chart",
    "xmr_limits",
    "xmr_limits_batch",
]

#: Bias-correction constant d2 for moving ranges of two points.
D2 = 1.128
#: Upper-limit factor D4 of the moving-range chart for ranges of two points.
D4 = 3.267

NELSON_RULES: tuple[str, ...] = tuple(f"nelson-{i}" for i in range(1, 9))
WESTERN_ELECTRIC_RULES: tuple[str, ...] = tuple(f"we-{i}" for i in range(1, 5))
RULE_SETS: dict[str, tuple[str, ...]] = {
    "nelson": NELSON_RULES,
    "western-electric": WESTERN_ELECTRIC_RULES,
}
RULE_DESCRIPTIONS: dict[str, str] = {
    "nelson-1": "one point beyond 3 sigma",
    "nelson-2": "nine points in a row on the same side of the centre line",
    "nelson-3": "six points in a row steadily increasing or decreasing",
    "nelson-4": "fourteen points in a row alternating up and down",
    "nelson-5": "two of three points beyond 2 sigma on the same side",
    "nelson-6": "four of five points beyond 1 sigma on the same side",
    "nelson-7": "fifteen points in a row within 1 sigma",
    "nelson-8": "eight points in a row beyond 1 sigma, either side",
    "we-1": "one point beyond 3 sigma",
    "we-2": "two of three points beyond 2 sigma on the same side",
    "we-3": "four of five points beyond 1 sigma on the same side",
    "we-4": "eight points in a row on the same side of the centre line",
}

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, order=True)
class Signal:
    """One run-rule signal: the 0-based ``index`` of the point and the ``rule`` name.

    Signals order by index, then rule name, which is the documented output order.
    """

    index: int
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "rule": self.rule}


@dataclass(frozen=True)
class XmRLimits:
    """Limits of an individuals / moving-range chart computed from a baseline."""

    baseline: int
    center: float
    sigma: float
    ucl: float
    lcl: float
    mr_bar: float
    mr_ucl: float


@dataclass(frozen=True)
class PLimits:
    """Limits of a p-chart: one centre line, per-point sigma and limits."""

    baseline: int
    center: float
    sigma: tuple[float, ...]
    ucl: tuple[float, ...]
    lcl: tuple[float, ...]


@dataclass(frozen=True)
class XmRChart:
    """An evaluated XmR chart: the data, its limits and the run-rule signals."""

    values: tuple[float, ...]
    limits: XmRLimits
    rules: tuple[str, ...]
    signals: tuple[Signal, ...]
    moving_ranges: tuple[float | None, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``manage.py spc --json``."""
        lim = self.limits
        return {
            "chart": "xmr",
            "n": len(self.values),
            "baseline": lim.baseline,
            "center": lim.center,
            "ucl": lim.ucl,
            "lcl": lim.lcl,
            "sigma": lim.sigma,
            "mr_bar": lim.mr_bar,
            "mr_ucl": lim.mr_ucl,
            "signals": [s.as_dict() for s in self.signals],
        }


@dataclass(frozen=True)
class PChart:
    """An evaluated p-chart: counts, proportions, per-point limits and signals."""

    defectives: tuple[int, ...]
    sizes: tuple[int, ...]
    proportions: tuple[float, ...]
    limits: PLimits
    rules: tuple[str, ...]
    signals: tuple[Signal, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``manage.py spc --chart p --json``."""
        lim = self.limits
        return {
            "chart": "p",
            "n": len(self.proportions),
            "baseline": lim.baseline,
            "center": lim.center,
            "ucl": list(lim.ucl),
            "lcl": list(lim.lcl),
            "sigma": list(lim.sigma),
            "signals": [s.as_dict() for s in self.signals],
        }


# --------------------------------------------------------------------------- input


def _as_finite_series(values: ArrayLike, what: str = "values") -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numbers") from exc
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a one-dimensional sequence")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{what}[{bad}] is not a finite number")
    return arr


def _check_baseline(baseline: int | None, n: int, minimum: int) -> int:
    if baseline is None:
        return n
    if isinstance(baseline, bool) or not isinstance(baseline, int | np.integer):
        raise ValueError(f"baseline must be an integer, got {baseline!r}")
    if not minimum <= baseline <= n:
        raise ValueError(
            f"baseline {baseline} is out of range: it must be between {minimum} "
            f"and the number of points ({n})"
        )
    return int(baseline)


def resolve_rules(rules: str | Iterable[str]) -> tuple[str, ...]:
    """Turn ``"nelson"``, ``"western-electric"``, ``"all"`` or rule names into names."""
    if isinstance(rules, str):
        if rules == "all":
            return NELSON_RULES + WESTERN_ELECTRIC_RULES
        if rules in RULE_SETS:
            return RULE_SETS[rules]
        names: tuple[str, ...] = (rules,)
    else:
        names = tuple(rules)
    unknown = [r for r in names if r not in RULE_DESCRIPTIONS]
    if unknown:
        known = ", ".join([*RULE_SETS, "all", *RULE_DESCRIPTIONS])
        raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {known}")
    return names


# --------------------------------------------------------------------------- limits


def xmr_limits_batch(
    values: ArrayLike, baseline: int | None = None
) -> dict[str, FloatArray]:
    """XmR limits for many series at once.

    ``values`` has shape ``(m, n)``: ``m`` series of ``n`` points. Returns a dict of
    ``(m,)`` arrays: ``center``, ``sigma``, ``ucl``, ``lcl``, ``mr_bar``, ``mr_ucl``.
    The baseline is the first ``baseline`` points of every series (default all).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("values must be a 2-D array (series x points)")
    if x.shape[1] < 2:
        raise ValueError("an XmR chart needs at least two points")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite numbers")
    b = _check_baseline(baseline, x.shape[1], 2)
    base = x[:, :b]
    center = base.mean(axis=1)
    mr_bar = np.abs(np.diff(base, axis=1)).mean(axis=1)
    sigma = mr_bar / D2
    return {
        "center": center,
        "sigma": sigma,
        "ucl": center + 3.0 * sigma,
        "lcl": center - 3.0 * sigma,
        "mr_bar": mr_bar,
        "mr_ucl": D4 * mr_bar,
    }


def xmr_limits(values: ArrayLike, baseline: int | None = None) -> XmRLimits:
    """XmR limits of one series from its first ``baseline`` points (default all).

    Raises ``ValueError`` for fewer than two points, non-finite values or a
    baseline outside ``2 .. len(values)``.
    """
    x = _as_finite_series(values)
    if x.size < 2:
        raise ValueError("an XmR chart needs at least two points")
    b = _check_baseline(baseline, x.size, 2)
    lim = xmr_limits_batch(x[None, :], b)
    return XmRLimits(
        baseline=b,
        **{k: float(v[0]) for k, v in lim.items()},
    )


def _as_counts(values: ArrayLike, what: str) -> NDArray[np.int64]:
    arr = _as_finite_series(values, what)
    if not np.all(arr == np.round(arr)):
        bad = int(np.flatnonzero(arr != np.round(arr))[0])
        raise ValueError(f"{what}[{bad}] must be a whole number")
    return arr.astype(np.int64)


def p_chart_limits(
    defectives: ArrayLike, sizes: ArrayLike, baseline: int | None = None
) -> PLimits:
    """p-chart limits: ``p̄ = Σd/Σn`` over the baseline, per-point 3-sigma limits.

    ``defectives[i]`` of ``sizes[i]`` items were defective. Limits are clipped to
    ``[0, 1]``. Raises ``ValueError`` for fewer than two points, mismatched
    lengths, sizes that are not positive whole numbers, defectives outside
    ``0 .. size`` or a baseline outside ``1 .. len``.
    """
    d = _as_counts(defectives, "defectives")
    n = _as_counts(sizes, "n")
    if d.size != n.size:
        raise ValueError("defectives and n must have the same length")
    if d.size < 2:
        raise ValueError("a p-chart needs at least two points")
    if np.any(n <= 0):
        raise ValueError(f"n[{int(np.flatnonzero(n <= 0)[0])}] must be positive")
    if np.any((d < 0) | (d > n)):
        bad = int(np.flatnonzero((d < 0) | (d > n))[0])
        raise ValueError(f"defectives[{bad}] must be between 0 and n[{bad}]")
    b = _check_baseline(baseline, d.size, 1)
    p_bar = float(d[:b].sum()) / float(n[:b].sum())
    sigma = np.sqrt(p_bar * (1.0 - p_bar) / n.astype(np.float64))
    ucl = np.minimum(1.0, p_bar + 3.0 * sigma)
    lcl = np.maximum(0.0, p_bar - 3.0 * sigma)
    return PLimits(
        baseline=b,
        center=p_bar,
        sigma=tuple(float(v) for v in sigma),
        ucl=tuple(float(v) for v in ucl),
        lcl=tuple(float(v) for v in lcl),
    )


# --------------------------------------------------------------------------- rules


def _window_count(mask: BoolArray, width: int) -> NDArray[np.int64]:
    """Number of True values among the last ``width`` points, per point (row-wise)."""
    cs = np.cumsum(mask, axis=1, dtype=np.int64)
    if width < cs.shape[1]:
        cs[:, width:] -= cs[:, :-width].copy()
    return cs


def _run(mask: BoolArray, length: int) -> BoolArray:
    """True where the point ends a run of at least ``length`` True values."""
    return _window_count(mask, length) >= length


def _k_of_m(beyond: BoolArray, k: int, m: int) -> BoolArray:
    """True where the point is beyond and at least ``k`` of the last ``m`` are."""
    return beyond & (_window_count(beyond, m) >= k)


def rule_masks(
    values: ArrayLike,
    center: ArrayLike,
    sigma: ArrayLike,
    rules: str | Iterable[str] = "nelson",
) -> dict[str, BoolArray]:
    """Evaluate run rules over many series at once.

    ``values`` has shape ``(m, n)`` (or ``(n,)`` for one series); ``center`` and
    ``sigma`` must broadcast to it: a scalar, ``(m, 1)`` for one value per series,
    or ``(m, n)`` for per-point values (p-charts). Returns ``{rule: mask}`` where
    ``mask[i, j]`` is True when rule signals at point ``j`` of series ``i``.
    """
    names = resolve_rules(rules)
    x = np.asarray(values, dtype=np.float64)
    one = x.ndim == 1
    if one:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError("values must be 1-D or 2-D")
    c = np.broadcast_to(np.asarray(center, dtype=np.float64), x.shape)
    s = np.broadcast_to(np.asarray(sigma, dtype=np.float64), x.shape)

    cache: dict[str, BoolArray] = {}

    def upper(k: int) -> BoolArray:
        key = f"u{k}"
        if key not in cache:
            cache[key] = x > c + k * s if k else x > c
        return cache[key]

    def lower(k: int) -> BoolArray:
        key = f"l{k}"
        if key not in cache:
            cache[key] = x < c - k * s if k else x < c
        return cache[key]

    def beyond3() -> BoolArray:
        return upper(3) | lower(3)

    def two_of_three() -> BoolArray:
        return _k_of_m(upper(2), 2, 3) | _k_of_m(lower(2), 2, 3)

    def four_of_five() -> BoolArray:
        return _k_of_m(upper(1), 4, 5) | _k_of_m(lower(1), 4, 5)

    def same_side(length: int) -> BoolArray:
        return _run(upper(0), length) | _run(lower(0), length)

    def trend() -> BoolArray:
        inc = np.zeros_like(x, dtype=bool)
        dec = np.zeros_like(x, dtype=bool)
        inc[:, 1:] = x[:, 1:] > x[:, :-1]
        dec[:, 1:] = x[:, 1:] < x[:, :-1]
        return _run(inc, 5) | _run(dec, 5)

    def alternating() -> BoolArray:
        step = np.sign(np.diff(x, axis=1))
        alt = np.zeros_like(x, dtype=bool)
        alt[:, 2:] = (step[:, 1:] * step[:, :-1]) < 0
        return _run(alt, 12)

    def within1() -> BoolArray:
        return _run((x > c - s) & (x < c + s), 15)

    def outside1() -> BoolArray:
        return _run(upper(1) | lower(1), 8)

    compute = {
        "nelson-1": beyond3,
        "nelson-2": lambda: same_side(9),
        "nelson-3": trend,
        "nelson-4": alternating,
        "nelson-5": two_of_three,
        "nelson-6": four_of_five,
        "nelson-7": within1,
        "nelson-8": outside1,
        "we-1": beyond3,
        "we-2": two_of_three,
        "we-3": four_of_five,
        "we-4": lambda: same_side(8),
    }
    out: dict[str, BoolArray] = {}
    for name in names:
        mask = compute[name]()
        out[name] = mask[0] if one else mask
    return out


def detect_signals(
    values: ArrayLike,
    center: ArrayLike,
    sigma: ArrayLike,
    rules: str | Iterable[str] = "nelson",
) -> list[Signal]:
    """Run-rule signals of one series, sorted by index then rule.

    ``center`` and ``sigma`` are scalars or per-point sequences.
    """
    x = _as_finite_series(values)
    masks = rule_masks(x, center, sigma, rules)
    found = {
        (i, name) for name, mask in masks.items() for i in np.flatnonzero(mask).tolist()
    }
    return [Signal(i, name) for i, name in sorted(found)]


# --------------------------------------------------------------------------- charts


def xmr_chart(
    values: ArrayLike,
    *,
    baseline: int | None = None,
    rules: str | Iterable[str] = "nelson",
) -> XmRChart:
    """Limits from the baseline and run-rule signals over the whole series."""
    x = _as_finite_series(values)
    limits = xmr_limits(x, baseline)
    names = resolve_rules(rules)
    signals = detect_signals(x, limits.center, limits.sigma, names)
    mrs: list[float | None] = [None, *np.abs(np.diff(x)).tolist()]
    return XmRChart(
        values=tuple(x.tolist()),
        limits=limits,
        rules=names,
        signals=tuple(signals),
        moving_ranges=tuple(mrs),
    )


def p_chart(
    defectives: Sequence[int] | ArrayLike,
    sizes: Sequence[int] | ArrayLike,
    *,
    baseline: int | None = None,
    rules: str | Iterable[str] = "nelson",
) -> PChart:
    """p-chart limits from the baseline; run rules use each point's own sigma."""
    limits = p_chart_limits(defectives, sizes, baseline)
    d = _as_counts(defectives, "defectives")
    n = _as_counts(sizes, "n")
    p = d / n.astype(np.float64)
    names = resolve_rules(rules)
    signals = detect_signals(p, limits.center, np.asarray(limits.sigma), names)
    return PChart(
        defectives=tuple(int(v) for v in d),
        sizes=tuple(int(v) for v in n),
        proportions=tuple(float(v) for v in p),
        limits=limits,
        rules=names,
        signals=tuple(signals),
    )
