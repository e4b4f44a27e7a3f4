"""Benchmark: XmR limits and all Nelson rules over 10,000 series of 100 points.

Standalone (no Django settings needed)::

    python bench/bench_spc.py [--series 10000] [--points 100] [--seed 20240]

Prints ``spc: 10000 series x 100 points: X.XX s (target <= 5 s)`` and exits 0.
The data are seeded normal noise; a third of the series get a level shift, a
tenth a drift, so every rule has something to find.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from metrics.analytics.spc import NELSON_RULES, rule_masks, xmr_limits_batch

TARGET_SECONDS = 5.0


def make_series(series: int, points: int, seed: int) -> np.ndarray:
    """Seeded random series (mean 100, sd 5) with some shifts and drifts."""
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 5.0, size=(series, points))
    shifted = rng.random(series) < 1 / 3
    start = rng.integers(points // 2, points, size=series)
    step = rng.choice([-1.0, 1.0], size=series) * rng.uniform(5.0, 15.0, size=series)
    cols = np.arange(points)
    data += np.where(shifted[:, None] & (cols >= start[:, None]), step[:, None], 0.0)
    drifting = rng.random(series) < 0.1
    data += np.where(drifting[:, None], cols * 0.2, 0.0)
    return data


def run(data: np.ndarray, baseline: int | None = None) -> tuple[float, int]:
    """Limits + all Nelson rules; returns (seconds, number of signals)."""
    started = time.perf_counter()
    limits = xmr_limits_batch(data, baseline)
    masks = rule_masks(
        data, limits["center"][:, None], limits["sigma"][:, None], NELSON_RULES
    )
    signals = int(sum(int(m.sum()) for m in masks.values()))
    return time.perf_counter() - started, signals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument(
        "--baseline", type=int, default=20, help="baseline points (default 20)"
    )
    args = parser.parse_args(argv)
    data = make_series(args.series, args.points, args.seed)
    seconds, signals = run(data, args.baseline)
    print(
        f"spc: {args.series} series x {args.points} points: {seconds:.2f} s "
        f"(target <= {TARGET_SECONDS:g} s)"
    )
    print(f"spc: {signals} rule signals found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
