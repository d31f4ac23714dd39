"""A writer failure is never silent (issue 14).

Faults are injected into the real writer of a real process (``writer_failure_child.py``): an
event the encoder cannot serialize, and EIO from the segment writes (once, and for good). Every
event before the fault stays on disk and readable, the next flush/track/close raises an error
naming the cause, and the run is recorded as failed in its log and in the index; ``aim storage
verify`` flags an index that disagrees with the log.
"""

from __future__ import annotations

import orjson
import pytest

from aim import Repo, Run
from aim.core import events as ev
from aim.sdk.log import iter_events
from tests.conftest import run_child, run_cli


def _fail(repo_path, mode: str) -> tuple[str, dict[str, str]]:
    proc = run_child("writer_failure_child.py", str(repo_path), mode)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    said = dict(line.split(" ", 1) for line in lines[1:])
    return lines[0], said


def _events(repo_path, run_hash: str) -> list[dict]:
    return list(iter_events(Repo(repo_path).layout.segment_paths(run_hash)))


@pytest.mark.parametrize("mode,cause", [("encode", "cannot encode metric 'loss' step 5"),
                                        ("io-once", "Input/output error")])
def test_the_next_calls_raise_naming_the_cause_and_the_run_is_failed(repo_path, mode, cause):
    run_hash, said = _fail(repo_path, mode)
    for call in ("flush", "track", "close"):
        assert said[call].startswith("RunWriteError: "), said
        assert cause in said[call]
    assert said["close-again"] == "ok"  # closed once; later closes are no-ops
    assert said["status"] == "failed"

    events = _events(repo_path, run_hash)
    assert [e["seq"] for e in events] == list(range(len(events)))  # contiguous: verify is clean
    end = events[-1]
    assert end["type"] == ev.RUN_FINISHED and end["status"] == "failed" and cause in end["error"]
    back = Run(run_hash, repo=repo_path, read_only=True)
    assert back.status == "failed"
    steps = back.get_metric("loss").steps
    assert steps[:5] == [0, 1, 2, 3, 4]  # everything before the fault is on disk
    if mode == "encode":
        # The one event that could not be encoded is replaced, in place, by what was lost.
        lost = [e for e in events if e["type"] == ev.EVENT_LOST]
        assert len(lost) == 1 and lost[0]["lost"] == "metric" and "Unencodable" in lost[0]["error"]
        assert steps == [0, 1, 2, 3, 4, 6, 7]
    else:
        assert steps == [0, 1, 2, 3, 4, 5, 6, 7]  # the failed write was retried and landed
    assert [r["status"] for r in Repo(repo_path).list_runs()] == ["failed"]
    verify = run_cli("storage", "verify", "--repo", str(repo_path))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_device_that_keeps_failing_leaves_what_was_flushed_and_a_failed_index_row(repo_path):
    run_hash, said = _fail(repo_path, "io-always")
    assert "Input/output error" in said["close"] and said["close"].startswith("RunWriteError: ")
    assert said["track"].startswith("RunWriteError: ")
    events = _events(repo_path, run_hash)
    assert [e.get("step") for e in events if e["type"] == ev.METRIC] == [0, 1, 2, 3, 4]
    row = Repo(repo_path).list_runs()[0]
    assert row["status"] == "failed"  # the index says what happened ...
    verify = run_cli("storage", "verify", "--repo", str(repo_path))
    # ... and verify says that the log could not record it.
    assert verify.returncode == 1 and run_hash in verify.stdout and "status" in verify.stdout


def test_a_failure_while_encoding_on_the_tracking_thread_fails_the_run_too(repo_path):
    # Batches past the size trigger are encoded by the thread that tracks (RunState.encode_batch).
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False,
              max_buffered_events=8, flush_interval=30)
    for step in range(4):  # with run.started: 5 events pending
        run.track(float(step), name="m", step=step)
    with run._lock:
        run._state.pending[-1]["value"] = object()  # stands in for a bug past validation
    for step in range(4, 7):  # the 8th event makes a batch: encoded here, on this thread
        run.track(float(step), name="m", step=step)
    with pytest.raises(Exception, match="cannot encode metric 'm' step 3") as raised:
        run.track(7.0, name="m", step=7)  # the next call says so
    assert type(raised.value).__name__ == "RunWriteError"
    with pytest.raises(Exception, match="closed as failed"):
        run.close()
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.status == "failed"
    assert back.get_metric("m").steps == [0, 1, 2, 4, 5, 6]
    row = Repo(repo_path).list_runs()[0]
    assert row["status"] == "failed"
    lost = [e for e in _events(repo_path, run.hash) if e["type"] == ev.EVENT_LOST]
    assert orjson.loads(orjson.dumps(lost))[0]["seq"] == 4
