import math

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aim.core import events as ev
from aim.core.encoding import context_key, decode_event, encode_event, encode_events
from aim.core.values import float_from_stored, json_like, metric_value, restore_paths
from aim.errors import MetricValueError, ParamTypeError


@pytest.mark.parametrize("value,stored", [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")])
def test_nonfinite_metric_values_round_trip(value, stored):
    v = metric_value(value, "loss")
    assert v == stored
    line = encode_event({"seq": 0, "ts": 1.0, "type": ev.METRIC, "name": "loss", "context": {},
                         "step": 0, "epoch": None, "value": v})
    assert f'"value":"{stored}"'.encode() in line
    back = decode_event(line)["value"]
    assert (math.isnan(back) if math.isnan(value) else back == value)


def test_numpy_scalars_and_zero_d_arrays_are_accepted():
    assert metric_value(np.float32(1.5), "m") == 1.5
    assert metric_value(np.int64(7), "m") == 7
    assert metric_value(np.array(2.25), "m") == 2.25
    assert metric_value(np.float64("nan"), "m") == "NaN"


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], True, np.array([1.0, 2.0]), object()])
def test_non_numeric_metric_values_are_refused(bad):
    with pytest.raises(MetricValueError, match="metric 'loss'"):
        metric_value(bad, "loss")


def test_huge_ints_become_floats_instead_of_failing_in_the_flusher():
    assert metric_value(2**70, "m") == float(2**70)


def test_json_like_copies_and_marks_nonfinite_paths():
    src = {"a": {"b": [1, math.nan, (2, math.inf)]}, "s": "NaN"}
    stored, floats = json_like(src, ("hp",))
    assert stored == {"a": {"b": [1, "NaN", [2, "Infinity"]]}, "s": "NaN"}
    assert floats == [["a", "b", "1"], ["a", "b", "2", "1"]]
    src["a"]["b"].append(3)
    assert stored["a"]["b"] == [1, "NaN", [2, "Infinity"]]  # a copy, not the caller's object
    back = restore_paths(orjson.loads(orjson.dumps(stored)), floats, float_from_stored)
    assert math.isnan(back["a"]["b"][1]) and back["a"]["b"][2][1] == math.inf
    assert back["s"] == "NaN"  # a string that looks like NaN stays a string


@pytest.mark.parametrize(
    "value,path",
    [({"x": {"y": object()}}, "hp.x.y"), ({"x": [1, {2}]}, "hp.x.1"), ({1: "a"}, "hp"),
     ({"big": 2**65}, "hp.big")],
)
def test_json_like_names_the_offending_key_path(value, path):
    with pytest.raises(ParamTypeError, match=rf"param {path}\b"):
        json_like(value, ("hp",))


def test_param_type_error_is_a_type_error():
    with pytest.raises(TypeError):
        json_like({"f": lambda: 0}, ("hp",))


def test_param_set_event_restores_floats_on_decode():
    stored, floats = json_like({"x": math.nan}, ("hp",))
    line = encode_event({"seq": 1, "ts": 1.0, "type": ev.PARAM_SET, "path": ["hp"],
                         "value": stored, "floats": floats})
    assert math.isnan(decode_event(line)["value"]["x"])


def test_context_key_is_canonical():
    assert context_key({"b": 1, "a": 2}) == context_key({"a": 2, "b": 1}) == b'{"a":2,"b":1}'
    assert context_key(None) == b"{}"
    with pytest.raises(TypeError):
        context_key(["subset"])
    with pytest.raises(TypeError):
        context_key({"x": object()})


def test_encode_events_writes_one_line_per_event():
    data = encode_events([{"seq": i, "type": "x"} for i in range(3)])
    assert data.count(b"\n") == 3
    assert [decode_event(line)["seq"] for line in data.splitlines()] == [0, 1, 2]


def test_unknown_fields_and_types_survive_decoding():
    e = decode_event(b'{"seq":3,"ts":1,"type":"future.thing","extra":{"a":1}}')
    assert e["extra"] == {"a": 1}


# --- encode_events: one dumps per batch, cut into lines ------------------------------------------
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                       st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                       st.sampled_from(['},{"seq":', '}\n{"seq":', '"', "\\", "\n"]))
_json = st.recursive(_json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=3),
    st.dictionaries(st.sampled_from(["seq", "a", '},{"seq":', "ts"]), kids, max_size=3)), max_leaves=8)


@given(st.lists(st.tuples(st.sampled_from(["metric", "param.set", "x"]), _json), max_size=12))
def test_encode_events_equals_one_dumps_per_event(items):
    # The batch encoder must produce exactly the bytes of one dumps per event, whatever the
    # events hold, nested '},{"seq":' included (that case takes the slow way).
    batch = [{"seq": i, "ts": 1.5, "type": t, "value": v} for i, (t, v) in enumerate(items)]
    expected = b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in batch)
    assert encode_events(batch) == expected


def test_encode_events_falls_back_when_a_nested_value_looks_like_a_join():
    nasty = {"seq": 0, "ts": 1.0, "type": "param.set", "value": [{}, {"seq": 1}]}
    batch = [nasty, {"seq": 1, "ts": 1.0, "type": "x"}]
    lines = encode_events(batch).splitlines()
    assert [orjson.loads(line) for line in lines] == batch
