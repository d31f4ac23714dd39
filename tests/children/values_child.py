"""Track and set values of every type a training script passes, drawn by hypothesis, through
the real writer: ``values_child.py REPO EXAMPLES SEED``.

Each example is one run: metric values (Python, numpy of every dtype, 0-d and one-element
arrays, torch tensors, IntEnum, Decimal, Fraction) at numpy/torch steps under contexts holding
numpy strs, ints and bools, and a param tree (numpy scalars and arrays, tensors, Path, enums,
tuples, datetime, bytes, non-finite floats). Every call must either be accepted or raise the
documented error at the call.

Prints one JSON line per run: its hash and what reading it back must give, computed here by
this file's own rules (not aim's): floats as ``float.hex`` (bit-exact), bytes as base64.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import math
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aim import Run


class Color(enum.Enum):
    RED = object()  # a plain enum member whose value is not JSON: stored by name


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 7


class Opt(str, enum.Enum):
    ADAM = "adam"


# --- what reading back must give (this file's rules) ----------------------------------------
def tag(v: Any) -> Any:
    """The tagged JSON of an expected value: floats bit-exact, bytes base64."""
    if isinstance(v, float):
        return {"f": "nan" if math.isnan(v) else v.hex()}
    if isinstance(v, bytes):
        return {"b": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return {"l": [tag(x) for x in v]}
    if isinstance(v, dict):
        return {"d": {k: tag(x) for k, x in v.items()}}
    return v


def expected_number(v: Any) -> float | int:
    if isinstance(v, (np.generic, np.ndarray)):
        py = v.item()
        return float(py) if isinstance(py, float) else int(py)
    if isinstance(v, torch.Tensor):
        return v.item()
    if isinstance(v, (Decimal, Fraction)):
        return float(v)
    if isinstance(v, enum.IntEnum):
        return int(v.value)
    return float(v) if isinstance(v, float) else int(v)


def expected_param(v: Any) -> Any:
    if isinstance(v, Color):
        return v.name
    if isinstance(v, Opt):
        return v.value
    if isinstance(v, Level):
        return int(v.value)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.ndarray, torch.Tensor)):
        return expected_param(v.tolist())
    if isinstance(v, np.generic):
        return expected_param(v.item())
    if isinstance(v, (str, int, float)) or v is None:
        return v
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, bytes):
        return v
    if isinstance(v, (list, tuple)):
        return [expected_param(x) for x in v]
    if isinstance(v, dict):
        return {str(k): expected_param(x) for k, x in v.items()}
    raise AssertionError(f"no rule for {type(v)}")


# --- strategies ------------------------------------------------------------------------------
FLOAT_DTYPES = [np.float16, np.float32, np.float64]
INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32]

np_scalar = st.sampled_from(FLOAT_DTYPES + INT_DTYPES).flatmap(
    lambda d: hnp.from_dtype(np.dtype(d), allow_nan=True, allow_infinity=True)
    if np.dtype(d).kind == "f" else hnp.from_dtype(np.dtype(d))
).map(lambda x: x if isinstance(x, np.generic) else np.asarray(x)[()])
torch_scalar = st.tuples(st.sampled_from(TORCH_DTYPES), st.integers(-1000, 1000), st.floats(-1e4, 1e4)).map(
    lambda t: torch.tensor(t[1] if not t[0].is_floating_point else t[2], dtype=t[0])
)
metric_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1),
    np_scalar,
    np_scalar.map(np.asarray),  # 0-d arrays
    np_scalar.map(lambda x: np.asarray([x])),  # one-element arrays
    torch_scalar,
    torch_scalar.map(lambda t: t.reshape(1)),
    st.sampled_from(list(Level)),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1e6, max_value=1e6),
    st.fractions(max_denominator=1000),
)
step = st.one_of(
    st.integers(0, 10**6),
    st.integers(0, 10**6).map(np.int64),
    st.integers(0, 255).map(np.uint8),
    st.integers(0, 10**6).map(lambda i: torch.tensor(i)),
)
context_value = st.one_of(st.text(max_size=6), st.text(max_size=6).map(np.str_), st.integers(-5, 5),
                          st.integers(-5, 5).map(np.int64), st.booleans(), st.booleans().map(np.bool_))
context = st.dictionaries(st.sampled_from(["subset", "fold", "gpu"]), context_value, max_size=3)



def np_scalars(dtypes: list[Any]) -> st.SearchStrategy[Any]:
    drawn = st.sampled_from(dtypes).flatmap(lambda d: hnp.from_dtype(np.dtype(d)))
    return drawn.map(lambda x: np.asarray(x)[()])


param_leaf = st.one_of(
    st.none(), st.booleans(), st.booleans().map(np.bool_),
    st.text(max_size=8), st.text(max_size=8).map(np.str_),
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    np_scalars(FLOAT_DTYPES),
    np_scalars(INT_DTYPES[:-1]),  # uint64 beyond int64 is refused (see the refusal tests)
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]), st.integers(0, 4)),
    st.integers(-100, 100).map(lambda i: torch.tensor(i)),
    st.text(max_size=6).map(lambda s: Path("/data") / s),
    st.sampled_from([Color.RED, Level.LOW, Level.HIGH, Opt.ADAM]),
    st.datetimes(min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2100, 1, 1)),
    st.dates(),
    st.binary(max_size=12),
)
params = st.recursive(
    param_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.lists(kids, max_size=3).map(tuple),
                           st.dictionaries(st.text(min_size=1, max_size=5), kids, max_size=3)),
    max_leaves=10,
)
tracked = st.lists(st.tuples(st.sampled_from(["loss", "acc"]), metric_value, step, context),
                   min_size=1, max_size=8)


def main(repo: str, examples: int, seed_value: int) -> None:
    @seed(seed_value)
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(tracked, st.dictionaries(st.text(min_size=1, max_size=6), params, max_size=4))
    def example(points: list[tuple[str, Any, Any, dict[str, Any]]], tree: dict[str, Any]) -> None:
        run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
        metrics = []
        for name, value, at, ctx in points:
            run.track(value, name=name, step=at, context=ctx)
            number = expected_number(value)
            if isinstance(number, int) and not -(2**63) <= number < 2**63:
                number = float(number)  # integers wider than 64 bits are stored as floats
            metrics.append([name, {k: expected_param(v) for k, v in ctx.items()}, int(at), tag(number)])
        run["tree"] = tree
        run.track({"a": np.float64(0.5), "b": np.int32(3)}, step=np.int64(1))
        run.close()
        print(orjson.dumps({"hash": run.hash, "metrics": metrics,
                            "tree": tag(expected_param(tree))}).decode(), flush=True)

    example()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
