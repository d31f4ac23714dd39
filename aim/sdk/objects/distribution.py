"""``aim.Distribution``: a histogram (at most 512 bins of equal width), from samples or ready-made.

Stored as a compact JSON list of the bin weights; the metadata holds the bin count, the range
``[start, end]`` and the weights' numpy dtype (int64 counts from samples, the hist's own otherwise).
"""

from __future__ import annotations

import json
import math
import operator
from typing import Any

from aim.sdk.objects._util import check_size, is_torch_tensor, torch_to_numpy, type_name
from aim.sdk.objects.base import AimObject

MAX_BIN_COUNT = 512


def _numeric_array(values: Any, what: str) -> Any:
    """``values`` as a numpy array of numbers (bool as 0/1), refusing NaN and infinity."""
    import numpy as np

    if is_torch_tensor(values):
        values = values.detach()
        values = torch_to_numpy(values.float() if values.is_floating_point() else values)
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array of numbers: {exc}") from None
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    elif array.dtype.kind not in "iuf":
        raise TypeError(f"{what} must be an array of real numbers, not of dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "infinity"
        raise ValueError(f"{what} contain {bad}")
    return array


def _check_bin_count(bin_count: Any) -> int:
    if isinstance(bin_count, bool) or not hasattr(bin_count, "__index__"):
        raise TypeError(f"bin_count must be an int, not {type_name(bin_count)}")
    count = operator.index(bin_count)
    if not 1 <= count <= MAX_BIN_COUNT:
        raise ValueError(f"bin_count must be in [1, {MAX_BIN_COUNT}]; got {count}")
    return count


class Distribution(AimObject):
    """A distribution as a histogram (Aim's ``aim.Distribution``).

    Args:
        samples: array-like values (a list, numpy array or torch tensor, any shape), binned into
            ``bin_count`` equal bins over their range as ``numpy.histogram`` bins them.
        bin_count: the number of bins for ``samples``, 64 by default, at most 512.
        hist: ready bin weights (1-D, at most 512), instead of ``samples``.
        bin_range: ``(start, end)`` of ``hist``'s bins; required with ``hist``.
    """

    kind = "distribution"
    compress = True

    def __init__(self, samples: Any = None, bin_count: int = 64, *, hist: Any = None,
                 bin_range: Any = None) -> None:
        import numpy as np

        if samples is not None:
            if hist is not None:
                raise ValueError("pass either samples or hist, not both")
            bins = _check_bin_count(bin_count)
            weights, edges = np.histogram(_numeric_array(samples, "samples"), bins=bins)
            start, end = float(edges[0]), float(edges[-1])
        elif hist is not None:
            if bin_range is None:
                raise ValueError("bin_range=(start, end) is required with hist")
            weights = _numeric_array(hist, "hist")
            if weights.ndim != 1:
                raise ValueError(f"hist must be 1-D; got shape {weights.shape}")
            _check_bin_count(len(weights))
            rng = _numeric_array(bin_range, "bin_range").astype(np.float64)
            if rng.shape != (2,):
                raise ValueError(f"bin_range must be (start, end); got {bin_range!r}")
            start, end = float(rng[0]), float(rng[1])
            if not start < end:
                raise ValueError(f"bin_range must have start < end; got ({start}, {end})")
        else:
            raise ValueError("pass samples, or hist with bin_range")
        if not (math.isfinite(start) and math.isfinite(end)):  # float64 overflow of a huge int range
            raise ValueError(f"the range ({start}, {end}) is not finite")
        self._weights = weights
        self._range = [start, end]
        self._data = json.dumps(weights.tolist(), separators=(",", ":")).encode()
        check_size("the distribution", self._data)

    @classmethod
    def from_histogram(cls, hist: Any, bin_range: Any) -> Distribution:
        """A distribution from bin weights ``hist`` over ``bin_range=(start, end)``."""
        return cls(hist=hist, bin_range=bin_range)

    @classmethod
    def from_samples(cls, samples: Any, bin_count: int = 64) -> Distribution:
        """A distribution of ``samples`` in ``bin_count`` bins."""
        return cls(samples=samples, bin_count=bin_count)

    @property
    def bin_count(self) -> int:
        """The number of bins."""
        return len(self._weights)

    @property
    def range(self) -> list[float]:
        """``[start, end]`` of the bins."""
        return list(self._range)

    @property
    def weights(self) -> Any:
        """The bin weights (counts for samples), a numpy array."""
        return self._weights.copy()

    @property
    def ranges(self) -> Any:
        """The ``bin_count + 1`` bin edges, a numpy array."""
        import numpy as np

        return np.linspace(self._range[0], self._range[1], num=self.bin_count + 1)

    def to_np_histogram(self) -> tuple[Any, Any]:
        """``(weights, bin_edges)``, as ``numpy.histogram`` returns them."""
        return self.weights, self.ranges

    def json(self) -> dict[str, Any]:
        """Aim's metadata dict: bin_count and range."""
        return {"bin_count": self.bin_count, "range": self.range}

    def _to_stored(self) -> tuple[bytes, dict[str, Any]]:
        return self._data, {**self.json(), "dtype": str(self._weights.dtype)}

    @classmethod
    def _from_stored(cls, data: bytes, meta: dict[str, Any]) -> Distribution:
        import numpy as np

        obj = cls.__new__(cls)
        obj._weights = np.asarray(json.loads(data), dtype=np.dtype(meta["dtype"]))
        obj._range = [float(meta["range"][0]), float(meta["range"][1])]
        obj._data = bytes(data)
        return obj

    def __repr__(self) -> str:
        return f"Distribution(bin_count={self.bin_count}, range={self._range})"
