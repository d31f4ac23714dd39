"""Format conformance: hand-written segments (valid, torn, zero-filled and garbage tails,
damage in the middle, unknown event types, future fields) read by every reader we ship: the
library's full reader and replay, the live follower behind `aim runs tail`, and `aim runs tail`
itself. Each case states what a conforming reader must return (docs/format.md, "Rules for
readers")."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import zstandard

from aim.core.projection import replay
from aim.sdk.log import iter_events
from aim.storage.layout import RepoLayout, resolve_aim_dir
from aim.storage.segment_follower import SegmentFollower
from aim.storage.segment_reader import scan_segment

H = "c0ffee" * 4


def frame(*events: dict) -> bytes:
    lines = b"".join(orjson.dumps(e) + b"\n" for e in events)
    return zstandard.ZstdCompressor(write_checksum=True).compress(lines)


E0 = {"seq": 0, "ts": 1.0, "type": "run.started", "hash": H, "experiment": "conf", "name": None}
E1 = {"seq": 1, "ts": 1.5, "type": "param.set", "path": ["lr"], "value": 0.1}
E2 = {"seq": 2, "ts": 2.0, "type": "metric", "name": "loss", "context": {}, "step": 0, "value": 1.0}
E3 = {"seq": 3, "ts": 2.5, "type": "metric", "name": "loss", "context": {}, "step": 1, "value": 0.5}
FUTURE = {"seq": 4, "ts": 3.0, "type": "artifact.added", "uri": "s3://x/y", "sha256": "ab"}
EXTRA = {"seq": 5, "ts": 3.5, "type": "metric", "name": "loss", "context": {}, "step": 2,
         "value": 0.25, "unit": "nats", "x-vendor": {"any": ["thing"]}}

GOOD = frame(E0, E1) + frame(E2, E3)


def broken(kind: str) -> bytes:
    good2 = frame(E2, E3)
    bad = bytearray(good2)
    bad[len(bad) // 2] ^= 0xFF
    return {
        "torn": frame(E0, E1) + good2[: len(good2) - 7],
        "zeros": frame(E0, E1) + b"\0" * 4096,
        "garbage": frame(E0, E1) + os.urandom(1000).replace(b"\x28\xb5\x2f\xfd", b"xxxx"),
        "damaged-middle": frame(E0, E1) + bytes(bad) + frame(FUTURE),
        # A zstd skippable frame is valid zstd but has no checksum and aim never writes one:
        # after a crash it is garbage (found by tools/crashtest.py's byte faults).
        "skippable-tail": frame(E0, E1) + SKIPPABLE,
        "skippable-middle": frame(E0, E1) + SKIPPABLE + frame(FUTURE),
    }[kind]


SKIPPABLE = struct.pack("<II", 0x184D2A50, 4) + b"junk"


# (case, segment bytes, events a reader must return, does the scan report a torn tail, damage)
CASES = [
    ("valid", GOOD, [E0, E1, E2, E3], False, False),
    ("torn", None, [E0, E1], True, False),
    ("zeros", None, [E0, E1], True, False),
    ("garbage", None, [E0, E1], True, False),
    ("damaged-middle", None, [E0, E1, FUTURE], False, True),
    ("skippable-tail", None, [E0, E1], True, False),
    ("skippable-middle", None, [E0, E1, FUTURE], False, True),
    ("unknown-type-and-future-fields", frame(E0, E1) + frame(E2, E3, FUTURE, EXTRA),
     [E0, E1, E2, E3, FUTURE, EXTRA], False, False),
]


def _repo(tmp_path: Path, data: bytes) -> tuple[RepoLayout, Path]:
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    layout.init()
    events = layout.events_dir(H)
    events.mkdir(parents=True)
    (layout.run_dir(H) / "LOCK").touch()
    path = events / "00000000.jsonl.zst"
    path.write_bytes(data)
    return layout, path


@pytest.mark.parametrize("case,data,expected,torn,damaged", CASES, ids=[c[0] for c in CASES])
def test_every_reader_returns_exactly_the_valid_frames(tmp_path, case, data, expected, torn, damaged):
    data = data if data is not None else broken(case)
    layout, path = _repo(tmp_path, data)
    # The full reader.
    assert list(iter_events([path])) == expected
    scan = scan_segment(path)
    assert bool(scan.torn_tail) == torn and bool(scan.damaged) == damaged
    # The live follower (aim runs tail -f): the same events, never half a frame.
    follower = SegmentFollower(layout.events_dir(H))
    assert [orjson.loads(line) for line in follower.poll()] == expected
    assert follower.poll() == []
    # aim runs tail prints the stored lines exactly.
    proc = subprocess.run([sys.executable, "-m", "aim", "runs", "tail", H, "--repo", str(tmp_path)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"".join(orjson.dumps(e) + b"\n" for e in expected)


def test_replay_ignores_unknown_types_and_fields():
    summary = replay(H, [E0, E1, E2, E3, FUTURE, EXTRA])
    plain = replay(H, [E0, E1, E2, E3, {**EXTRA, "unit": None, "x-vendor": None}])
    assert summary.params == {"lr": 0.1} and summary.experiment == "conf"
    assert summary.last_seq == 5
    assert summary.sequences == plain.sequences


def test_the_follower_waits_for_a_frame_being_written(tmp_path):
    layout, path = _repo(tmp_path, frame(E0, E1))
    follower = SegmentFollower(layout.events_dir(H))
    assert len(follower.poll()) == 2
    second = frame(E2, E3)
    with open(path, "ab") as f:
        f.write(second[:10])  # a writer mid-frame
        f.flush()
        assert follower.poll() == []
        f.write(second[10:])
    assert [orjson.loads(line) for line in follower.poll()] == [E2, E3]
    # Rotation: a new segment is picked up, in number order.
    (layout.events_dir(H) / "00000001.jsonl.zst").write_bytes(frame(FUTURE))
    assert [orjson.loads(line) for line in follower.poll()] == [FUTURE]


def test_an_object_event_and_its_blobs_written_by_hand(tmp_path):
    # docs/format.md, "Blobs": an image stored as it is, a text as a zstd frame, each named by
    # the SHA-256 of the bytes as tracked; the event holds only their references and metadata.
    import hashlib
    import io

    from PIL import Image as PILImage

    from aim import Repo, Run

    png = io.BytesIO()
    PILImage.new("RGB", (3, 2), (255, 0, 0)).save(png, format="PNG")
    image, text = png.getvalue(), b"hello, blob"
    sha_i, sha_t = hashlib.sha256(image).hexdigest(), hashlib.sha256(text).hexdigest()
    obj_i = {"seq": 2, "ts": 2.0, "type": "object", "kind": "image", "name": "pics", "context": {"k": "v"},
             "step": 4, "items": [{"sha256": sha_i, "size": len(image),
                                   "meta": {"caption": "red"}}],  # the rest from the PNG
             "list": True}
    obj_t = {"seq": 3, "ts": 2.5, "type": "object", "kind": "text", "name": "notes", "context": {}, "step": 0,
             "items": [{"sha256": sha_t, "size": 0, "zst": True, "meta": {}}]}
    end = {"seq": 4, "ts": 3.0, "type": "run.finished", "status": "finished"}
    layout, _ = _repo(tmp_path, frame(E0, E1) + frame(obj_i, obj_t, end))
    blobs = layout.blobs_dir(H)
    blobs.mkdir()
    (blobs / sha_i).write_bytes(image)
    (blobs / f"{sha_t}.zst").write_bytes(zstandard.ZstdCompressor().compress(text))

    assert list(iter_events(layout.segment_paths(H)))[2:4] == [obj_i, obj_t]
    summary = replay(H, iter_events(layout.segment_paths(H)))
    assert summary.objects[("pics", b'{"k":"v"}')] == [5, 1, "image", {"k": "v"}]
    run = Run(H, repo=tmp_path, read_only=True)
    [[got]] = run.get_image_sequence("pics", {"k": "v"}).values
    assert got.caption == "red" and got.to_pil_image().getpixel((0, 0)) == (255, 0, 0)
    assert (got.width, got.height, got.format) == (3, 2, "png")
    assert run.get_text_sequence("notes").values[0].data == "hello, blob"
    assert Repo(tmp_path).verify() == []
    (blobs / sha_i).unlink()  # a reference to a missing blob: reported, never silently empty
    assert [p.kind for p in Repo(tmp_path).verify()] == ["blob_missing"]


def test_reading_one_type_skips_other_lines_on_their_bytes_but_never_misses_one(tmp_path):
    # iter_events_of (terminal output, log records, objects) decodes only the lines that can
    # hold the type; a type spelled with a JSON escape is still found.
    from aim.sdk.log import iter_events_of

    escaped = b'{"seq":4,"ts":3.0,"type":"log.\\u006cine","stream":"stdout","line":"hi"}\n'
    plain = {"seq": 5, "ts": 3.5, "type": "log.line", "stream": "stdout", "line": "there"}
    data = frame(E0, E1) + frame(E2, E3) + zstandard.ZstdCompressor(write_checksum=True).compress(
        escaped + orjson.dumps(plain) + b"\n")
    layout, _ = _repo(tmp_path, data)
    got = list(iter_events_of(layout.segment_paths(H), "log.line"))
    assert [e["line"] for e in got] == ["hi", "there"]
    assert list(iter_events_of(layout.segment_paths(H), "metric")) == [E2, E3]


# --- streams (docs/format.md, "Streams") ------------------------------------------------------
S0 = {"seq": 0, "ts": 0.5, "type": "stream.started", "hash": H, "stream": "rank-1", "experiment": "conf",
      "rank": 1, "world_size": 2}
S1 = {"seq": 1, "ts": 1.6, "type": "param.set", "path": ["lr"], "value": 0.9}
S2 = {"seq": 2, "ts": 1.7, "type": "param.set", "path": ["other"], "value": 1}
S3 = {"seq": 3, "ts": 2.2, "type": "metric", "name": "loss", "context": {"rank": 1}, "step": 0, "value": 7.0}
S4 = {"seq": 4, "ts": 9.0, "type": "run.finished", "status": "finished"}
END = {"seq": 4, "ts": 8.0, "type": "run.finished", "status": "finished"}


def test_a_run_of_two_streams_written_by_hand(tmp_path):
    from aim import Repo
    from aim.sdk import indexer

    layout, primary = _repo(tmp_path, frame(E0, E1) + frame(E2, E3, END))
    other = layout.events_dir(H, "rank-1")
    other.mkdir(parents=True)
    (other.parent / "LOCK").touch()
    (other / "00000000.jsonl.zst").write_bytes(frame(S0, S1, S2) + frame(S3, S4))
    assert layout.stream_ids(H) == ["", "rank-1"]
    # A reader that knows nothing of streams reads the primary as a whole, valid run.
    alone = replay(H, iter_events([primary]))
    assert alone.params == {"lr": 0.1} and alone.status == "finished" and alone.last_seq == 4
    # The merged run: rank 0 wins lr, rank 1 adds its key and its sequence; the earliest start,
    # the latest end, every event counted.
    summary = indexer.replay_run(layout, H)[0]
    assert summary.params == {"lr": 0.1, "other": 1}
    assert sorted(k[1] for k in summary.sequences) == [b'{"rank":1}', b"{}"]
    assert (summary.creation_time, summary.end_time, summary.status) == (0.5, 9.0, "finished")
    assert summary.last_seq == 9 and summary.experiment == "conf"
    repo = Repo(tmp_path)
    assert repo.get_run(H)["other"] == 1
    # aim runs tail prints every stream's lines, the primary's first, each stream in seq order.
    proc = subprocess.run([sys.executable, "-m", "aim", "runs", "tail", H, "--repo", str(tmp_path)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    printed = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert printed == [E0, E1, E2, E3, END, S0, S1, S2, S3, S4]


def test_a_single_writer_run_has_no_trace_of_streams(tmp_path):
    from aim import Run

    with Run(repo=tmp_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.track(1.0, name="loss")
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    assert sorted(p.name for p in layout.run_dir(run.hash).iterdir()) == ["LOCK", "events"]
    assert layout.stream_ids(run.hash) == [""]
    events = list(iter_events(layout.segment_paths(run.hash)))
    assert all(not {"rank", "world_size", "stream"} & e.keys() for e in events)
    assert all(e["type"] != "stream.started" for e in events)
