"""Segment writer, reader and repair against real files."""

from pathlib import Path

import orjson
import pytest

from aim.core.encoding import encode_events
from aim.sdk.log import iter_segment_events
from aim.storage.frames import ZSTD_MAGIC, frame_length, new_compressor
from aim.storage.repair import repair_segments
from aim.storage.segment_reader import scan_segment
from aim.storage.segment_writer import SegmentWriter


def _events(start, n):
    return [{"seq": i, "ts": 1.0, "type": "metric", "name": "m", "context": {}, "step": i,
             "epoch": None, "value": i * 0.5} for i in range(start, start + n)]


def _write_frames(path: Path, counts) -> list[int]:
    """Write one frame per count; return the frame end offsets."""
    c = new_compressor()
    ends, seq, data = [], 0, b""
    for n in counts:
        data += c.compress(encode_events(_events(seq, n)))
        seq += n
        ends.append(len(data))
    path.write_bytes(data)
    return ends


def _seqs(path):
    return [e["seq"] for e in iter_segment_events(path)]


def test_writer_one_frame_per_write_and_lazy_file(tmp_path):
    w = SegmentWriter(tmp_path / "events", fsync=False)
    assert not (tmp_path / "events").exists()  # nothing written, nothing created
    w.write(encode_events(_events(0, 5)))
    w.write(encode_events(_events(5, 5)))
    w.seal()
    (seg,) = sorted((tmp_path / "events").iterdir())
    assert seg.name == "00000000.jsonl.zst"
    scan = scan_segment(seg)
    assert scan.frames == 2 and scan.clean and scan.good_end == scan.size
    assert _seqs(seg) == list(range(10))


def test_writer_rotates_by_size_and_by_age(tmp_path):
    now = [0.0]
    w = SegmentWriter(tmp_path, max_bytes=10**9, max_age=60, fsync=False, clock=lambda: now[0])
    w.write(encode_events(_events(0, 3)))
    now[0] = 61.0
    w.write(encode_events(_events(3, 3)))  # age reached: sealed after this frame
    w.write(encode_events(_events(6, 3)))
    w.max_bytes = 1
    w.write(encode_events(_events(9, 3)))  # size reached
    assert [p.name for p in w.sealed] == ["00000000.jsonl.zst", "00000001.jsonl.zst"]
    w.seal()
    segs = sorted(tmp_path.glob("*.zst"))
    assert [len(_seqs(p)) for p in segs] == [6, 6]


def test_writer_never_reopens_an_existing_segment(tmp_path):
    (tmp_path / "00000003.jsonl.zst").write_bytes(b"")
    w = SegmentWriter(tmp_path, fsync=False)
    w.write(encode_events(_events(0, 1)))
    w.seal()
    assert w.sealed[0].name == "00000004.jsonl.zst"


def test_frame_length_matches_zstd_frames(tmp_path):
    p = tmp_path / "s.zst"
    ends = _write_frames(p, [1, 100, 5000])
    data = p.read_bytes()
    pos, found = 0, []
    while pos < len(data):
        pos += frame_length(data, pos)
        found.append(pos)
    assert found == ends


def test_torn_tail_at_every_offset_of_the_last_frame(tmp_path):
    p = tmp_path / "s.zst"
    ends = _write_frames(p, [10, 10, 7])
    full = p.read_bytes()
    for cut in range(ends[1], ends[2]):
        p.write_bytes(full[:cut])
        scan = scan_segment(p)
        assert scan.good_end == ends[1], cut
        assert scan.torn_tail == cut - ends[1]
        assert not scan.damaged
        assert _seqs(p) == list(range(20))


@pytest.mark.parametrize("tail", [b"\0" * 4096, b"garbage that is not zstd" * 10, ZSTD_MAGIC + b"\xff" * 40])
def test_zero_and_garbage_tails_are_torn_tails_and_repair_truncates_them_once(tmp_path, tail):
    p = tmp_path / "s.zst"
    ends = _write_frames(p, [10, 10])
    p.write_bytes(p.read_bytes() + tail)
    scan = scan_segment(p)
    assert scan.torn_tail == len(tail) and scan.good_end == ends[-1]
    assert _seqs(p) == list(range(20))
    report = repair_segments([p])
    assert report.truncated == [(p, len(tail))]
    assert p.stat().st_size == ends[-1]
    again = repair_segments([p])
    assert not again.changed  # idempotent
    assert scan_segment(p).clean


def test_flipped_byte_in_the_middle_is_damage_not_a_tail(tmp_path):
    p = tmp_path / "s.zst"
    ends = _write_frames(p, [50, 50, 50])
    data = bytearray(p.read_bytes())
    mid = (ends[0] + ends[1]) // 2
    data[mid] ^= 0xFF
    p.write_bytes(bytes(data))
    scan = scan_segment(p)
    assert scan.damaged and not scan.torn_tail
    assert scan.damaged[0][0] == ends[0]
    # Frames before and after the damaged one are still read.
    assert _seqs(p) == list(range(50)) + list(range(100, 150))
    size = p.stat().st_size
    report = repair_segments([p])
    assert not report.changed and report.damaged  # never cut valid frames away
    assert p.stat().st_size == size


def test_first_frame_torn_leaves_nothing_and_repair_removes_the_file(tmp_path):
    p = tmp_path / "s.zst"
    _write_frames(p, [10])
    p.write_bytes(p.read_bytes()[:7])
    assert _seqs(p) == []
    report = repair_segments([p])
    assert report.removed_empty == [p] and not p.exists()


def test_frame_without_trailing_newline_is_damage(tmp_path):
    p = tmp_path / "s.zst"
    c = new_compressor()
    good = c.compress(encode_events(_events(0, 2)))
    p.write_bytes(good + c.compress(orjson.dumps({"seq": 2})) + good)
    scan = scan_segment(p)
    assert scan.frames == 2 and len(scan.damaged) == 1
