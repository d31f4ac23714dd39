"""The chart downsampling of ``aim up`` against a loop written the obvious way, over random
series with NaN and infinities: same buckets, means, bands and gaps."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from aim.web.series_api import downsample

values = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([math.nan, math.inf, -math.inf]))


def _reference(xs: list[float], ys: list[float], points: int) -> dict[str, list[float | None]]:
    n = len(ys)
    out: dict[str, list[float | None]] = {"x": [], "y": [], "min": [], "max": []}
    for b in range(points):
        lo, hi = b * n // points, (b + 1) * n // points
        bx, by = xs[lo:hi], [v for v in ys[lo:hi] if math.isfinite(v)]
        out["x"].append(sum(bx) / len(bx))
        out["y"].append(sum(by) / len(by) if by else None)
        out["min"].append(min(by) if by else None)
        out["max"].append(max(by) if by else None)
    return out


def _same(p: float | None, q: float | None) -> bool:
    if p is None or q is None:
        return p is q
    return math.isclose(p, q, rel_tol=1e-9, abs_tol=1e-6)


def _close(a: list[float | None], b: list[float | None]) -> bool:
    return len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=0, max_size=300), st.integers(1, 40))
def test_downsample_equals_the_obvious_loop(ys: list[float], points: int) -> None:
    xs = np.arange(len(ys), dtype=np.int64) * 3  # steps
    got = downsample(xs, np.asarray(ys, dtype=np.float64), points)
    assert got["n"] == len(ys)
    if len(ys) <= points:  # as they are: NaN and infinities become gaps
        assert got["min"] is None and got["max"] is None
        assert got["x"] == [float(x) for x in xs]
        assert got["y"] == [y if math.isfinite(y) else None for y in ys]
        return
    want = _reference([float(x) for x in xs], ys, points)
    for key in ("x", "y", "min", "max"):
        assert _close(got[key], want[key]), key
    assert len(got["y"]) == points
