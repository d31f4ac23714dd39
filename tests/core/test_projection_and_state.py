"""RunState and the projection, without IO: events in memory, folded, compared."""

import math

import pytest

from aim.core import events as ev
from aim.core.encoding import context_key, decode_event, encode_events
from aim.core.flush_policy import FlushPolicy
from aim.core.projection import RunSummary, replay
from aim.core.run_state import RunState
from aim.errors import MetricValueError, RunClosedError


def _round_trip(state: RunState, h: str) -> RunSummary:
    """Encode what the state produced, decode it, replay it: what a reader would see."""
    data = encode_events(state.take_batch())
    return replay(h, (decode_event(line) for line in data.splitlines()))


def _key(name, ctx=None):
    return (name, context_key(ctx))


def test_state_and_replay_agree():
    h = "a" * 24
    st = RunState(RunSummary(hash=h))
    st.record(ev.RUN_STARTED, 1.0, {"hash": h, "experiment": "exp"})
    st.record(ev.PARAM_SET, 1.0, {"path": ["hp"], "value": {"lr": 0.1}})
    st.record(ev.TAG_ADDED, 1.0, {"tag": "x"})
    st.record(ev.META_SET, 1.0, {"field": "name", "value": "n"})
    for v in (3.0, 2.0, 1.0):
        st.track(v, "loss", None, None, {"s": "t"}, 2.0)
    st.track(5.0, "loss", 1, None, {"s": "t"}, 2.0)  # rewrite of step 1
    st.track(7.0, "loss", 10, 1, {"s": "t"}, 2.0)  # jump ahead
    st.track(8.0, "loss", 4, 1, {"s": "t"}, 2.0)  # below the counter
    st.track(math.nan, "acc", None, None, None, 2.0)
    st.finish(ev.STATUS_FINISHED, 3.0)
    snapshot = {k: list(v) for k, v in st.sequences.items()}
    replayed = _round_trip(st, h)
    assert replayed.sequences.keys() == snapshot.keys()
    loss = replayed.sequences[_key("loss", {"s": "t"})]
    assert loss[:3] == snapshot[_key("loss", {"s": "t"})][:3] == [11, 6, 7.0]
    assert math.isnan(replayed.sequences[_key("acc")][2])
    assert replayed.params == st.summary.params == {"hp": {"lr": 0.1}}
    assert replayed.tags == ["x"] and replayed.name == "n" and replayed.experiment == "exp"
    assert replayed.status == ev.STATUS_FINISHED and replayed.end_time == 3.0
    assert replayed.last_seq == st.next_seq - 1 == 11


def test_seq_is_contiguous_and_steps_are_per_name_and_context():
    h = "b" * 24
    st = RunState(RunSummary(hash=h))
    st.track(1.0, "loss", None, None, {"subset": "train"}, 0.0)
    st.track(1.0, "loss", None, None, {"subset": "val"}, 0.0)
    st.track(1.0, "loss", None, None, {"subset": "train"}, 0.0)
    batch = st.take_batch()
    assert [e["seq"] for e in batch] == [0, 1, 2]
    assert [e["step"] for e in batch] == [0, 0, 1]
    assert st.take_batch() == []


def test_resumed_state_continues_seq_and_steps():
    h = "c" * 24
    st = RunState(RunSummary(hash=h))
    for _ in range(3):
        st.track(1.0, "m", None, None, None, 0.0)
    summary = _round_trip(st, h)
    st2 = RunState(summary)
    st2.track(1.0, "m", None, None, None, 0.0)
    (event,) = st2.take_batch()
    assert event["seq"] == 3 and event["step"] == 3


def test_lifecycle_table_refuses_writes_after_finish():
    st = RunState(RunSummary(hash="d" * 24))
    st.finish(ev.STATUS_FAILED, 1.0)
    with pytest.raises(RunClosedError):
        st.track(1.0, "m", None, None, None, 0.0)
    with pytest.raises(RunClosedError):
        st.record(ev.TAG_ADDED, 1.0, {"tag": "x"})
    with pytest.raises(RunClosedError):
        st.finish(ev.STATUS_FINISHED, 2.0)


def test_context_is_snapshotted_at_track_time():
    st = RunState(RunSummary(hash="e" * 24))
    ctx = {"subset": "train"}
    st.track(1.0, "m", None, None, ctx, 0.0)
    ctx["subset"] = "mutated"
    data = encode_events(st.take_batch())
    assert decode_event(data)["context"] == {"subset": "train"}


def test_projection_ignores_unknown_events_and_handles_delete_restore():
    s = replay("f" * 24, [
        {"seq": 0, "ts": 1, "type": ev.RUN_STARTED, "experiment": "x"},
        {"seq": 1, "ts": 2, "type": "some.future.event", "whatever": 1},
        {"seq": 2, "ts": 3, "type": ev.RUN_DELETED},
    ])
    assert s.deleted and s.last_seq == 2
    s2 = replay("f" * 24, [{"seq": 0, "type": ev.RUN_DELETED}, {"seq": 1, "type": ev.RUN_RESTORED}])
    assert not s2.deleted


def test_flush_policy():
    p = FlushPolicy(interval=1.0, batch_events=10, max_pending=20)
    assert not p.due(0, 0.0, 5.0)
    assert p.due(10, 0.0, 0.1)
    assert p.due(1, 0.0, 1.0)
    assert not p.due(1, 0.0, 0.5)
    assert p.wait_time(0.0, 0.25) == 0.75
    with pytest.raises(ValueError):
        FlushPolicy(batch_events=30, max_pending=20)


def test_sequence_lookup_follows_the_context_not_the_dict_object():
    # The per-name cache compares contexts by value: one dict mutated between calls, and a name
    # tracked under two contexts in turn, each land in their own sequence with their own steps.
    st = RunState(RunSummary(hash="1" * 24))
    ctx = {"subset": "train"}
    st.track(1.0, "loss", None, None, ctx, 0.0)
    ctx["subset"] = "val"
    st.track(2.0, "loss", None, None, ctx, 0.0)
    for subset in ("train", "val", "train", "val"):
        st.track(3.0, "loss", None, None, {"subset": subset}, 0.0)
    st.track(4.0, "loss", None, None, None, 0.0)
    st.track(4.0, "loss", None, None, {}, 0.0)  # the same sequence as None
    batch = [decode_event(line) for line in encode_events(st.take_batch()).splitlines()]
    assert [(e["context"], e["step"]) for e in batch] == [
        ({"subset": "train"}, 0), ({"subset": "val"}, 0), ({"subset": "train"}, 1),
        ({"subset": "val"}, 1), ({"subset": "train"}, 2), ({"subset": "val"}, 2), ({}, 0), ({}, 1)]


def test_bad_names_and_contexts_raise_and_record_nothing():
    st = RunState(RunSummary(hash="2" * 24))
    st.track(1.0, "ok", None, None, None, 0.0)
    for name, ctx, exc in ((["x"], None, MetricValueError), ("", None, MetricValueError),
                           (None, None, MetricValueError), ("m", ["a"], TypeError),
                           ("m", {"a": object()}, TypeError)):
        with pytest.raises(exc):
            st.track(1.0, name, None, None, ctx, 0.0)
    assert [e["name"] for e in st.take_batch()] == ["ok"] and st.next_seq == 1


def test_batches_are_encoded_where_signalled_and_written_in_order():
    # track says True at the batch size; the shell then encodes that batch (encode_batch) and
    # the writer takes encoded batches first, then (on the age trigger) raw ones, oldest first.
    st = RunState(RunSummary(hash="3" * 24), FlushPolicy(batch_events=3, max_pending=5))
    told = [st.track(float(i), "m", None, None, None, 0.0) for i in range(3)]
    assert told == [False, False, True] and not st.full
    st.encode_batch()
    assert st.buffered == 3 and not st.pending
    told = [st.track(float(i), "m", None, None, None, 0.0) for i in range(3, 5)]
    assert told == [False, False] and st.full and st.buffered == 5  # the shell waits for room
    first, second = st.take_for_writer(), st.take_for_writer()
    assert st.take_for_writer() is None and st.buffered == 0
    assert isinstance(first[0], bytes) and first[1] == 2
    assert isinstance(second[0], list) and second[1] == 4
    lines = first[0] + encode_events(second[0])
    assert [decode_event(line)["value"] for line in lines.splitlines()] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_track_many_takes_nonfinite_values_and_refuses_all_on_one_bad_entry():
    st = RunState(RunSummary(hash="4" * 24))
    st.track({"loss": math.inf, "acc": math.nan, "n": 3}, None, 5, None, {"s": "t"}, 0.0)
    with pytest.raises(MetricValueError):
        st.track({"ok": 1.0, "bad": "x"}, None, None, None, None, 0.0)
    batch = [decode_event(line) for line in encode_events(st.take_batch()).splitlines()]
    assert [(e["name"], e["step"]) for e in batch] == [("loss", 5), ("acc", 5), ("n", 5)]
    assert batch[0]["value"] == math.inf and math.isnan(batch[1]["value"]) and batch[2]["value"] == 3
