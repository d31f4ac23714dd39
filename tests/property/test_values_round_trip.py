"""Every value a training script passes is stored (and read back equal) or refused at the call.

The writer is the real one, in a real process (``tests/children/values_child.py`` draws the
values with hypothesis and says what reading back must give, by its own rules); this test reads
every run back from disk and compares bit for bit.
"""

from __future__ import annotations

import base64
import math
import subprocess
import sys
from typing import Any

import orjson
import pytest

from aim import Run
from aim.errors import MetricValueError, ParamTypeError
from tests.conftest import CHILDREN, run_cli

EXAMPLES = 150


def untag(v: Any) -> Any:
    if isinstance(v, dict):
        if "f" in v:
            return ("float", v["f"])
        if "b" in v:
            return base64.b64decode(v["b"])
        if "l" in v:
            return [untag(x) for x in v["l"]]
        return {k: untag(x) for k, x in v["d"].items()}
    return v


def same(actual: Any, expected: Any, where: str) -> None:
    """Equal, with exact types: floats bit for bit (NaN as NaN), ints as ints, bytes as bytes."""
    if isinstance(expected, tuple):
        assert type(actual) is float, f"{where}: {actual!r} is not a float"
        if expected[1] == "nan":
            assert math.isnan(actual), where
        else:
            assert actual.hex() == expected[1], f"{where}: {actual!r} != {float.fromhex(expected[1])!r}"
    elif isinstance(expected, list):
        assert type(actual) is list and len(actual) == len(expected), f"{where}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            same(a, e, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert type(actual) is dict and actual.keys() == expected.keys(), f"{where}: {actual!r}"
        for k in expected:
            same(actual[k], expected[k], f"{where}.{k}")
    else:
        assert type(actual) is type(expected) and actual == expected, f"{where}: {actual!r} != {expected!r}"


def test_values_of_every_type_round_trip_through_the_real_writer(repo_path):
    proc = subprocess.run(
        [sys.executable, str(CHILDREN / "values_child.py"), str(repo_path), str(EXAMPLES), "14"],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # split("\n"), not splitlines(): drawn strings hold U+2028 and friends, which JSON leaves as they are
    lines = [orjson.loads(line) for line in proc.stdout.split("\n") if line]
    assert len(lines) >= EXAMPLES
    kinds = set()
    for line in lines:
        run = Run(line["hash"], repo=repo_path, read_only=True)
        assert run.status == "finished"
        same(run["tree"], untag(line["tree"]), f"{line['hash']} tree")
        # Last value per step wins, per (name, context): contexts grouped by their JSON, since
        # 1, 1.0 and True compare equal in Python but are different contexts.
        series: dict[tuple[str, bytes], dict[int, Any]] = {}
        for name, ctx, step, value in line["metrics"]:
            series.setdefault((name, orjson.dumps(ctx, option=orjson.OPT_SORT_KEYS)), {})[step] = untag(value)
        series[("a", b"{}")] = {1: ("float", (0.5).hex())}
        series[("b", b"{}")] = {1: 3}
        assert len(run.metrics()) == len(series)
        for (name, ckey), expected in series.items():
            seq = run.get_metric(name, orjson.loads(ckey))
            assert seq.steps == sorted(expected)
            for step, value in zip(seq.steps, seq.values):
                same(value, expected[step], f"{line['hash']} {name} {ckey!r} step {step}")
                kinds.add(type(value).__name__)
    assert kinds == {"int", "float"}  # both kinds were drawn and stored as themselves


BAD_VALUES = ["1.0", None, [1.0], (1.0,), True, object(), 1 + 2j, {1.0}, b"1"]


@pytest.mark.parametrize("bad", BAD_VALUES, ids=[type(v).__name__ for v in BAD_VALUES])
def test_values_that_are_not_real_numbers_are_refused_at_the_call(repo_path, bad):
    np = pytest.importorskip("numpy")
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.track(1.0, name="m", step=0)
        for value in (bad, np.array([1.0, 2.0]), np.bool_(True), np.complex64(1)):
            with pytest.raises(MetricValueError, match="metric 'm'"):
                run.track(value, name="m", step=1)
            # Aim raises ValueError here; ``except TypeError`` written for us keeps working too.
            with pytest.raises(ValueError):
                run.track(value, name="m", step=1)
        with pytest.raises(ValueError):
            run.track(1.0, name="m", step=np.float64(1.0))
        with pytest.raises(ValueError):
            run.track(1.0, name="m", context={"x": math.nan})
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.get_metric("m").values == [1.0]
    assert back.status == "finished"


@pytest.mark.parametrize("bad", [object(), {1, 2}, 1 + 2j, {"k": lambda: 0}, {3: "int key"}, 2**64 - 1])
def test_params_of_unsupported_types_are_refused_at_the_call(repo_path, bad):
    with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run["ok"] = 1
        with pytest.raises(ParamTypeError, match="param hp"):
            run["hp"] = bad
        # Aim raises TypeError for an unsupported value and ValueError for an unsupported key.
        with pytest.raises(TypeError):
            run["hp"] = bad
        with pytest.raises(ValueError):
            run["hp"] = bad
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.get("hp") is None and back["ok"] == 1


SNIPPET = """
import sys
import numpy as np
from aim import Run
run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
run.track(1.0, name="a", step=0)
run.track(np.float64(0.5), name="a", step=1)   # e.g. np.mean(losses)
run.track(2.0, name="a", step=2)
run.track({"x": np.float64(1.0)}, step=0)
run.close()
print(run.hash, run.status)
"""


def test_the_issues_snippet_tracks_three_values_and_reads_three_back(repo_path):
    proc = subprocess.run([sys.executable, "-c", SNIPPET, str(repo_path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    run_hash, status = proc.stdout.split()
    assert status == "finished"
    back = Run(run_hash, repo=repo_path, read_only=True)
    seq = back.get_metric("a")
    assert (seq.steps, seq.values) == ([0, 1, 2], [1.0, 0.5, 2.0])
    assert all(type(v) is float for v in seq.values)
    assert back.get_metric("x").values == [1.0]
    verify = run_cli("storage", "verify", "--repo", str(repo_path))
    assert verify.returncode == 0, verify.stdout
