"""Byte-level faults on a real run's last segment (``faults.py``): every truncation point of its
last frame, zeros and garbage after it, flipped bytes in its middle frame; and proof that the
checks fail when a promise is broken."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

import aim.sdk.maintenance
import aim.sdk.verify
from aim.storage.frames import new_compressor
from aim.storage.repair import RepairReport
from aim.storage.segment_reader import SegmentScan, iter_payloads
from tests.crash.faults import (
    GARBAGE_LENGTHS,
    ZERO_LENGTHS,
    FaultBench,
    FaultCheckFailure,
    run_byte_faults,
)


def frame_spans(path: Path) -> list[tuple[int, int]]:
    scan = SegmentScan(path)
    spans, start = [], 0
    for _ in iter_payloads(path.read_bytes(), scan):
        spans.append((start, scan.good_end))
        start = scan.good_end
    return spans


def test_every_byte_fault_at_stride_16_keeps_its_promises(tmp_path):
    stride = 16
    counts = run_byte_faults(tmp_path, stride=stride)
    # The cases the stride implies, from the base run's last segment as it is on disk.
    last = sorted((tmp_path / "base" / ".aim" / "runs").glob("*/events/*.jsonl.zst"))[-1]
    spans = frame_spans(last)
    assert len(spans) >= 3
    (ls, le), (ms, me) = spans[-1], spans[len(spans) // 2]
    assert le - ls >= 100 and me - ms >= 50  # the frames hold a few dozen events
    truncations = len(set(range(ls, le, stride)) | {ls, ls + 1, le - 1})
    flips = len(set(range(ms, me, stride)) | {ms, ms + 4, me - 1})
    zeros, garbage = len(ZERO_LENGTHS), len(GARBAGE_LENGTHS) + 2  # + a false frame start, a skippable frame
    assert counts == {
        "truncations": truncations, "zeros": zeros, "garbage": garbage, "flips": flips,
        "resumes": truncations + zeros + garbage,
    }
    assert not (tmp_path / "scratch").exists()


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> FaultBench:
    return FaultBench(tmp_path_factory.mktemp("bench"))


def test_a_forged_frame_with_a_valid_checksum_is_caught_as_a_wrong_event(bench):
    # The middle frame re-compressed with one value changed: its checksum verifies, so the
    # reader returns the changed event, and the check must say so.
    mid = bench.frames[bench.middle]
    events = [dict(e) for e in mid.events]
    events[len(events) // 2]["value"] += 1.0
    forged = new_compressor().compress(b"".join(orjson.dumps(e) + b"\n" for e in events))
    data = bench.last_bytes[: mid.start] + forged + bench.last_bytes[mid.end :]
    with pytest.raises(FaultCheckFailure, match="the reader returned a wrong event"):
        bench.damaged(data, "forged middle frame")


def test_a_repair_that_cuts_nothing_is_caught(bench, monkeypatch):
    # verify(repair=True) then claims the torn tail fixed, but the file keeps it.
    monkeypatch.setattr(aim.sdk.maintenance, "repair_scans", lambda scans: RepairReport([], [], []))
    last = bench.frames[-1]
    with pytest.raises(FaultCheckFailure, match=r"after repair: verify reported .*torn_tail"):
        bench.truncation(last.start + 10)


def test_a_verify_silent_about_index_drift_is_caught(bench, monkeypatch):
    monkeypatch.setattr(aim.sdk.verify, "_index_drift", lambda repo, h, repair: [])
    with pytest.raises(FaultCheckFailure, match=r"verify reported \[\], expected exactly \[\('index_drift'"):
        bench.truncation(bench.frames[-1].start)


def test_the_bench_passes_again_once_the_faults_are_gone(bench):
    # The failing cases above left the scratch copy dirty: each case resets it.
    last, mid = bench.frames[-1], bench.frames[bench.middle]
    bench.truncation(last.start + 1)
    bench.flip(mid.start + 7)
