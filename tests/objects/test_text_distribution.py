"""aim.Text and aim.Distribution: round trips, numpy's histogram, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aim.sdk.objects import Distribution, Text, base

from .conftest import round_trip


@pytest.mark.parametrize("s", ["", "hello", "ünïcødé ✓ 🐍", "line\nbreak" * 100])
def test_text_round_trips_as_utf8(s):
    t = round_trip(Text(s))
    assert t.data == s and str(t) == s
    assert t._to_stored() == (s.encode("utf-8"), {})
    assert t.json() == {} and Text.compress is True


def test_text_refuses_non_str():
    with pytest.raises(TypeError, match="int"):
        Text(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        Text(b"abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="UTF-8"):
        Text("\ud800")


def test_text_too_big(monkeypatch):
    monkeypatch.setattr(base, "MAX_BLOB_BYTES", 100)
    Text("x" * 100)
    with pytest.raises(ValueError, match=r"101 bytes.*100-byte limit"):
        Text("x" * 101)


@pytest.mark.parametrize("bin_count", [1, 10, 64, 512])
def test_distribution_from_samples_matches_numpy(bin_count):
    samples = np.random.default_rng(1).normal(size=1000)
    d = round_trip(Distribution(samples, bin_count=bin_count))
    counts, edges = np.histogram(samples, bins=bin_count)
    weights, ranges = d.to_np_histogram()
    np.testing.assert_array_equal(weights, counts)
    np.testing.assert_allclose(ranges, edges, rtol=0, atol=1e-12)
    assert d.bin_count == bin_count and d.range == [edges[0], edges[-1]]
    assert d.json() == {"bin_count": bin_count, "range": [edges[0], edges[-1]]}
    assert json.loads(d._to_stored()[0]) == counts.tolist()


def test_distribution_default_bins_and_forms():
    data = [1, 2, 2, 3, 3, 3]
    d = Distribution(data)
    assert d.bin_count == 64
    np.testing.assert_array_equal(d.weights, np.histogram(data, bins=64)[0])
    t = torch.randn(4, 5, requires_grad=True)
    dt = round_trip(Distribution(t, 8))
    np.testing.assert_array_equal(dt.weights, np.histogram(t.detach().numpy(), bins=8)[0])
    assert Distribution.from_samples(data, bin_count=3) == Distribution(samples=data, bin_count=3)


def test_distribution_from_hist():
    d = round_trip(Distribution(hist=[1, 5, 2], bin_range=(0, 3)))
    assert d.bin_count == 3 and d.range == [0.0, 3.0]
    np.testing.assert_array_equal(d.ranges, [0, 1, 2, 3])
    assert d.weights.dtype == np.int64 and d.weights.tolist() == [1, 5, 2]
    f = round_trip(Distribution.from_histogram(np.array([0.25, 0.5], dtype=np.float32), [-1.0, 1.0]))
    assert f.weights.dtype == np.float32 and f.weights.tolist() == [0.25, 0.5]
    assert round_trip(Distribution(hist=[0.1, 1 / 3], bin_range=(0, 1))).weights.tolist() == [0.1, 1 / 3]


def test_distribution_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        Distribution([1.0, float("nan")])
    with pytest.raises(ValueError, match="infinity"):
        Distribution(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="hist contain NaN"):
        Distribution(hist=[1.0, float("nan")], bin_range=(0, 1))
    with pytest.raises(ValueError, match="bin_range"):
        Distribution(hist=[1, 2])
    with pytest.raises(ValueError, match="not both"):
        Distribution([1, 2], hist=[1, 2], bin_range=(0, 1))
    with pytest.raises(ValueError, match="samples, or hist"):
        Distribution()
    with pytest.raises(ValueError, match=r"\[1, 512\]"):
        Distribution([1, 2], bin_count=513)
    with pytest.raises(ValueError, match=r"\[1, 512\]"):
        Distribution([1, 2], bin_count=0)
    with pytest.raises(ValueError, match=r"\[1, 512\]"):
        Distribution(hist=[1] * 513, bin_range=(0, 1))
    with pytest.raises(TypeError, match="bin_count"):
        Distribution([1, 2], bin_count=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1-D"):
        Distribution(hist=[[1, 2]], bin_range=(0, 1))
    with pytest.raises(ValueError, match="start < end"):
        Distribution(hist=[1, 2], bin_range=(1, 0))
    with pytest.raises(ValueError, match=r"\(start, end\)"):
        Distribution(hist=[1, 2], bin_range=(0, 1, 2))
    with pytest.raises(TypeError, match="real numbers"):
        Distribution(["a", "b"])


def test_distribution_too_big(monkeypatch):
    monkeypatch.setattr(base, "MAX_BLOB_BYTES", 10)
    with pytest.raises(ValueError, match="limit"):
        Distribution(np.arange(1000), bin_count=100)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.integers(1, 512))
def test_property_samples_histogram_equals_numpy(samples, bin_count):
    d = round_trip(Distribution(samples, bin_count))
    np.testing.assert_array_equal(d.weights, np.histogram(samples, bins=bin_count)[0])
