"""Byte-level fault injection on the last segment of a real run, and the promises each fault
must keep. Shared by ``test_byte_faults.py`` and ``tools/crashtest.py`` (only ``aim``, orjson
and the standard library here, no pytest).

``FaultBench`` builds one real run with the SDK (a first session, then a resumed one whose
segment, the run's last, holds at least three frames: the last with a few dozen metrics and
``run.finished``), records the decoded events of every frame, and then checks each fault on a
scratch copy of that repository (only the last segment and the index are rewritten between
cases, so a case costs a few milliseconds):

* **truncation** at every offset inside the last frame (a crash mid-write): the scan keeps the
  earlier frames and reports exactly the cut bytes as a torn tail; the library reader returns
  exactly the events of the earlier frames; ``verify`` reports that torn tail (none when the
  cut is on the frame boundary) and the index drift that the lost events legitimately cause,
  nothing else; ``verify(repair=True)`` fixes both and truncates the segment to the frame
  boundary, after which ``verify`` is clean; the run resumes with contiguous ``seq``.
* **appended zeros or garbage** after the last frame: every event is still read; ``verify``
  reports the torn tail (and the index's stale log size); the repair (by ``verify`` for even
  cases, by the resuming writer taking the lock for odd ones) restores the original segment
  byte for byte; the run resumes.
* **a flipped byte** (xor 0xFF) in the middle frame (damage followed by a valid frame): the
  reader never returns a wrong event, skips exactly that frame and returns every other one;
  nothing raises; ``verify`` names the damaged bytes of that segment and the missing ``seq``
  range; ``verify(repair=True)`` never truncates valid frames away.

Failures raise ``FaultCheckFailure`` (an ``AssertionError``) with a message that names the case
and what was expected; it does not rely on ``assert`` statements, so it also works under
``python -O``.
"""

from __future__ import annotations

import random
import shutil
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from aim import Repo, Run
from aim.sdk.log import iter_events
from aim.storage.frames import ZSTD_MAGIC
from aim.storage.layout import parse_segment_name, segment_name
from aim.storage.segment_reader import SegmentScan, iter_payloads, scan_segment

T = TypeVar("T")

TRAIN = {"subset": "train"}
VAL = {"subset": "val"}
# The last frame must hold at least this many metric events (before run.finished).
MIN_LAST_FRAME_METRICS = 24
ZERO_LENGTHS = (1, 7, 512, 4096)
GARBAGE_LENGTHS = (1, 13, 1000)  # plus one false frame start (see garbage_tails)
FALSE_FRAME_BODY = 60
# Event types whose loss changes the index's ``runs`` row (params, status, metadata, tags).
RUN_ROW_TYPES = frozenset({
    "run.started", "run.resumed", "run.finished", "param.set", "param.deleted", "meta.set",
    "tag.added", "tag.removed", "run.deleted", "run.restored",
})
PARAM_TYPES = frozenset({"param.set", "param.deleted"})


class FaultCheckFailure(AssertionError):
    """A promise about damaged segments did not hold."""


def expect(cond: object, message: str) -> None:
    if not cond:
        raise FaultCheckFailure(message)


def _guard(what: str, fn: Callable[[], T]) -> T:
    """Call ``fn``; an exception escaping it is itself a broken promise."""
    try:
        return fn()
    except FaultCheckFailure:
        raise
    except Exception as exc:
        raise FaultCheckFailure(f"{what} raised {exc!r}") from exc


def loss_value(step: int) -> float:
    return step * 0.25 + ((step * 7919) % 10007) / 1024.0


def acc_value(step: int) -> float:
    return ((step * 104729) % 1000) / 1000.0


# --- offsets -----------------------------------------------------------------------------------
def truncation_offsets(start: int, end: int, stride: int) -> list[int]:
    """Every ``stride``-th offset of ``start..end-1``, always with ``start``, ``start+1`` and
    ``end-1`` (the frame boundary, a one-byte tail, and the frame missing only its last byte)."""
    return sorted(set(range(start, end, stride)) | {start, start + 1, end - 1})


def flip_offsets(start: int, end: int, stride: int) -> list[int]:
    """Every ``stride``-th offset of ``start..end-1``, always with the frame's first byte (its
    magic), its header descriptor (byte 4) and its last byte (its checksum)."""
    return sorted(set(range(start, end, stride)) | {start, start + 4, end - 1})


# --- the base run ------------------------------------------------------------------------------
@dataclass
class Frame:
    """One frame of the base run's last segment."""

    start: int
    end: int
    events: list[dict[str, Any]]


def _decode_frames(data: bytes, path: Path) -> tuple[list[Frame], SegmentScan]:
    scan = SegmentScan(path)
    frames: list[Frame] = []
    start = 0
    for payload in iter_payloads(data, scan):
        # The format is the contract: verified frames of whole JSON lines, decoded with orjson.
        events = [orjson.loads(line) for line in payload.splitlines() if line]
        frames.append(Frame(start, scan.good_end, events))
        start = scan.good_end
    return frames, scan


def _drift_parts(lost: list[dict[str, Any]], size_changed: bool) -> list[str]:
    """What ``verify`` must find different between the index (built from the whole log) and a
    log that lost ``lost`` (and changed size or not), in ``verify``'s order."""
    parts = []
    if size_changed or any(e["type"] in RUN_ROW_TYPES for e in lost):
        parts.append("run row")
    if any(e["type"] == "metric" for e in lost):
        parts.append("sequences")
    if any(e["type"] in PARAM_TYPES for e in lost):
        parts.append("param keys")
    return parts


def _problems(found: Iterable[Any]) -> list[tuple[str, str, str, bool]]:
    return [(p.kind, p.where, p.detail, p.fixed) for p in found]


class FaultBench:
    """A real run in ``workdir/base`` and a scratch copy in ``workdir/scratch`` to damage."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.base = workdir / "base"
        self.scratch = workdir / "scratch"
        self.run_hash = self._build()
        base_layout = Repo(self.base).layout
        self.base_paths = base_layout.segment_paths(self.run_hash)
        expect(len(self.base_paths) == 2,
               f"base run has segments {[p.name for p in self.base_paths]}, expected 2")
        self.earlier_events: list[dict[str, Any]] = []
        self.earlier_bytes: dict[str, bytes] = {}
        for path in self.base_paths[:-1]:
            data = path.read_bytes()
            frames, scan = _decode_frames(data, path)
            expect(scan.clean and scan.good_end == len(data), f"base segment {path.name} is not clean: {scan}")
            self.earlier_bytes[path.name] = data
            self.earlier_events += [e for f in frames for e in f.events]
        last = self.base_paths[-1]
        self.last_name = last.name
        number = parse_segment_name(last.name)
        expect(number is not None, f"{last.name} is not a segment name")
        self.next_segment = segment_name(int(number or 0) + 1)
        self.last_bytes = last.read_bytes()
        self.frames, scan = _decode_frames(self.last_bytes, last)
        expect(scan.clean and scan.good_end == len(self.last_bytes),
               f"base segment {last.name} is not clean: {scan}")
        self.events = self.earlier_events + [e for f in self.frames for e in f.events]
        self.by_seq = {e["seq"]: e for e in self.events}
        expect([e["seq"] for e in self.events] == list(range(len(self.events))),
               "base run's seq is not contiguous from 0")
        expect(len(self.frames) >= 3, f"base run's last segment has {len(self.frames)} frames, expected >= 3")
        tail_types = [e["type"] for e in self.frames[-1].events]
        expect(tail_types[-1:] == ["run.finished"] and tail_types.count("metric") >= MIN_LAST_FRAME_METRICS,
               f"base run's last frame holds {tail_types}, expected >= {MIN_LAST_FRAME_METRICS} metrics "
               "and run.finished")
        self.middle = len(self.frames) // 2
        expect(all(e["type"] == "metric" for e in self.frames[self.middle].events),
               "base run's middle frame holds events other than metrics")
        self.where_segment = f"runs/{self.run_hash}/events/{self.last_name}"
        self.where_run = f"runs/{self.run_hash}"
        self.where_index = f"index:{self.run_hash}"
        opened = Repo(self.base)
        try:
            found = _problems(opened.verify())
            expect(not found, f"the base repository does not verify clean: {found}")
        finally:
            opened.close()
        if self.scratch.exists():
            shutil.rmtree(self.scratch)
        shutil.copytree(self.base, self.scratch)
        self.layout = Repo(self.scratch).layout
        self.segment = self.layout.events_dir(self.run_hash) / self.last_name

    def _build(self) -> str:
        repo = Repo(self.base, init=True)
        kw: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False,
                              "flush_interval": 3600.0}  # only explicit flushes make frames
        try:
            run = Run(repo=repo, **kw)
            try:
                run["hparams"] = {"lr": 0.01, "batch": 32, "name": "faults"}
                for step in range(10):
                    run.track(loss_value(step), name="loss", context=TRAIN)
            finally:
                run.close()
            run_hash = run.hash
            run = Run(run_hash=run_hash, repo=repo, **kw)
            step = 10
            try:
                for group in (12, 12, 36):  # three frames; close() writes the last with run.finished
                    for _ in range(group):
                        run.track(loss_value(step), name="loss", context=TRAIN)
                        if step % 4 == 0:
                            run.track(acc_value(step), name="acc", context=VAL, step=step)
                        step += 1
                    if group != 36:
                        run.flush()
            finally:
                run.close()
            return run_hash
        finally:
            repo.close()

    # --- the scratch copy ------------------------------------------------------------------
    def _reset(self, data: bytes) -> Path:
        """Put the base state back in the scratch copy, with ``data`` as the last segment."""
        events_dir = self.layout.events_dir(self.run_hash)
        base_names = {p.name for p in self.base_paths}
        for path in self.layout.segment_paths(self.run_hash):
            if path.name not in base_names:
                path.unlink()
        self.segment.write_bytes(data)
        expect(sorted(p.name for p in events_dir.iterdir()) == sorted(base_names),
               f"scratch events folder holds {sorted(p.name for p in events_dir.iterdir())} after reset")
        shutil.rmtree(self.layout.index_dir)
        shutil.copytree(self.base / ".aim" / "index", self.layout.index_dir)
        return self.segment

    def _open(self, label: str) -> Repo:
        def opened() -> Repo:
            repo = Repo(self.scratch)
            repo.list_runs()  # opens and heals the index
            return repo

        return _guard(f"{label}: opening the repository", opened)

    def _read(self, label: str, repo: Repo) -> list[dict[str, Any]]:
        paths = repo.layout.segment_paths(self.run_hash)
        return _guard(f"{label}: the library reader", lambda: list(iter_events(paths)))

    def _verify(self, label: str, repo: Repo, repair: bool = False) -> list[tuple[str, str, str, bool]]:
        return _problems(_guard(f"{label}: verify(repair={repair})", lambda: repo.verify(repair=repair)))

    def _expect_events(self, label: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
        if got == want:
            return
        bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        got_bad = got[bad] if bad < len(got) else None
        want_bad = want[bad] if bad < len(want) else None
        raise FaultCheckFailure(
            f"{label}: the reader returned {len(got)} events, expected {len(want)}; first difference "
            f"at #{bad}: got {got_bad}, expected {want_bad}"
        )

    def _expect_problems(
        self, label: str, found: list[tuple[str, str, str, bool]], want: list[tuple[str, str, str]],
        fixed: bool | None = None,
    ) -> None:
        """``found`` holds exactly the problems ``want`` (kind, where, a fragment of the detail)."""
        ok = len(found) == len(want) and all(
            k == wk and w == ww and frag in d and (fixed is None or f == fixed)
            for (k, w, d, f), (wk, ww, frag) in zip(found, want)
        )
        expect(ok, f"{label}: verify reported {found}, expected exactly {want}"
                   + ("" if fixed is None else f" with fixed={fixed}"))

    def _drift(self, lost: list[dict[str, Any]], size_changed: bool) -> list[tuple[str, str, str]]:
        parts = _drift_parts(lost, size_changed)
        if not parts:
            return []
        return [("index_drift", self.where_index, "index differs from the log in: " + ", ".join(parts))]

    def _expect_files(self, label: str, last: bytes) -> None:
        for name, data in self.earlier_bytes.items():
            got = (self.layout.events_dir(self.run_hash) / name).read_bytes()
            expect(got == data, f"{label}: earlier segment {name} changed ({len(got)} bytes, was {len(data)})")
        got = self.segment.read_bytes()
        if got != last:
            diff = next((i for i, (a, b) in enumerate(zip(got, last)) if a != b), min(len(got), len(last)))
            raise FaultCheckFailure(f"{label}: {self.last_name} is {len(got)} bytes, expected {len(last)} "
                                    f"identical to the base's; first difference at byte {diff}")

    def _resume(self, label: str, repo: Repo, kept: list[dict[str, Any]], last: bytes) -> None:
        """Resume the run, track one metric, close; check the new events and files."""
        loss_steps = [e["step"] for e in kept if e["type"] == "metric" and e["name"] == "loss"]
        step = max(loss_steps) + 1 if loss_steps else 0
        k = len(kept)

        def resume() -> None:
            run = Run(run_hash=self.run_hash, repo=repo, system_tracking_interval=None,
                      capture_terminal_logs=False)
            try:
                run.track(loss_value(step), name="loss", context=TRAIN)
            finally:
                run.close()

        _guard(f"{label}: resuming the run", resume)
        self._expect_files(f"{label}, after resume", last)
        names = [p.name for p in repo.layout.segment_paths(self.run_hash)]
        want_names = [p.name for p in self.base_paths] + [self.next_segment]
        expect(names == want_names, f"{label}: segments after resume are {names}, expected {want_names}")
        got = self._read(f"{label}, after resume", repo)
        self._expect_events(f"{label}, after resume", got[:k], kept)
        new = got[k:]
        shape = [(e.get("seq"), e.get("type")) for e in new]
        want_shape = [(k, "run.resumed"), (k + 1, "metric"), (k + 2, "run.finished")]
        expect(shape == want_shape, f"{label}: events after resume are {shape}, expected {want_shape}")
        expect(new[0].get("hash") == self.run_hash, f"{label}: run.resumed names {new[0].get('hash')}")
        metric = {x: new[1].get(x) for x in ("name", "context", "step", "value")}
        want_metric = {"name": "loss", "context": TRAIN, "step": step, "value": loss_value(step)}
        expect(metric == want_metric, f"{label}: metric after resume is {metric}, expected {want_metric}")
        expect(new[2].get("status") == "finished", f"{label}: run.finished after resume is {new[2]}")
        self._expect_problems(f"{label}, after resume", self._verify(f"{label}, after resume", repo), [])

    # --- the cases -------------------------------------------------------------------------
    def truncation(self, offset: int) -> None:
        """The last segment cut at ``offset``, inside its last frame."""
        last = self.frames[-1]
        expect(last.start <= offset < last.end, f"offset {offset} is not inside the last frame")
        torn = offset - last.start
        label = f"truncated at byte {offset} (last frame {last.start}..{last.end}, torn tail {torn})"
        path = self._reset(self.last_bytes[:offset])
        kept = self.events[: len(self.events) - len(last.events)]
        scan = _guard(f"{label}: scan_segment", lambda: scan_segment(path))
        expect(scan.frames == len(self.frames) - 1 and scan.good_end == last.start and scan.torn_tail == torn
               and not scan.damaged,
               f"{label}: scan found {scan.frames} frames, good_end {scan.good_end}, torn {scan.torn_tail}, "
               f"damaged {scan.damaged}; expected {len(self.frames) - 1} frames, good_end {last.start}, "
               f"torn {torn}, no damage")
        repo = self._open(label)
        try:
            self._expect_events(label, self._read(label, repo), kept)
            want = [("torn_tail", self.where_segment, f"{torn} bytes")] if torn else []
            want += self._drift(last.events, size_changed=True)
            self._expect_problems(label, self._verify(label, repo), want, fixed=False)
            self._expect_problems(f"{label}, repair", self._verify(label, repo, repair=True), want, fixed=True)
            self._expect_problems(f"{label}, after repair", self._verify(label, repo), [])
            self._expect_files(f"{label}, after repair", self.last_bytes[: last.start])
            self._expect_events(f"{label}, after repair", self._read(label, repo), kept)
            self._resume(label, repo, kept, self.last_bytes[: last.start])
        finally:
            repo.close()

    def appended(self, tail: bytes, label: str, repair_by_resume: bool) -> None:
        """``tail`` appended after the last frame; repaired by ``verify(repair=True)`` or, with
        ``repair_by_resume``, by the resuming writer (the next lock holder)."""
        label = f"{label} ({len(tail)} bytes) after the last frame, repaired by " + (
            "the resuming writer" if repair_by_resume else "verify")
        path = self._reset(self.last_bytes + tail)
        scan = _guard(f"{label}: scan_segment", lambda: scan_segment(path))
        expect(scan.frames == len(self.frames) and scan.good_end == len(self.last_bytes)
               and scan.torn_tail == len(tail) and not scan.damaged,
               f"{label}: scan found {scan.frames} frames, good_end {scan.good_end}, torn {scan.torn_tail}, "
               f"damaged {scan.damaged}; expected {len(self.frames)} frames, good_end {len(self.last_bytes)}, "
               f"torn {len(tail)}, no damage")
        repo = self._open(label)
        try:
            self._expect_events(label, self._read(label, repo), self.events)
            want = [("torn_tail", self.where_segment, f"{len(tail)} bytes"),
                    *self._drift([], size_changed=True)]
            self._expect_problems(label, self._verify(label, repo), want, fixed=False)
            if not repair_by_resume:
                # The tail is cut first; the index then matches the log again: no drift left.
                self._expect_problems(f"{label}, repair", self._verify(label, repo, repair=True), want[:1],
                                      fixed=True)
                self._expect_files(f"{label}, after repair", self.last_bytes)
                self._expect_problems(f"{label}, after repair", self._verify(label, repo), [])
            self._resume(label, repo, self.events, self.last_bytes)
        finally:
            repo.close()

    def flip(self, offset: int) -> None:
        """One byte of the middle frame xor-ed with 0xFF."""
        mid = self.frames[self.middle]
        expect(mid.start <= offset < mid.end, f"offset {offset} is not inside the middle frame")
        data = bytearray(self.last_bytes)
        data[offset] ^= 0xFF
        self.damaged(bytes(data), f"byte {offset} flipped (middle frame {mid.start}..{mid.end})")

    def damaged(self, data: bytes, label: str) -> None:
        """``data`` (the last segment with its middle frame's bytes altered) must read as the
        base run without that frame, and be reported, never truncated."""
        mid = self.frames[self.middle]
        path = self._reset(data)
        repo = self._open(label)
        try:
            got = self._read(label, repo)
            # Never a wrong event: each returned event is the original event with its seq.
            seqs = []
            for e in got:
                seq = e.get("seq")
                original = self.by_seq.get(seq) if isinstance(seq, int) else None
                expect(original is not None and e == original,
                       f"{label}: the reader returned a wrong event {e}; the original is {original}")
                seqs.append(seq)
            expect(seqs == sorted(set(seqs)), f"{label}: the reader returned seqs out of order or twice")
            missing = set(self.by_seq) - set(seqs)
            lost_seqs = {e["seq"] for e in mid.events}
            expect(missing <= lost_seqs,
                   f"{label}: events of undamaged frames are missing: seq {sorted(missing - lost_seqs)[:10]}")
            kept = [e for e in self.events if e["seq"] not in lost_seqs]
            self._expect_events(label, got, kept)  # the damaged frame is skipped as a whole
            scan = _guard(f"{label}: scan_segment", lambda: scan_segment(path))
            expect(scan.frames == len(self.frames) - 1 and scan.torn_tail == 0
                   and scan.damaged == [(mid.start, mid.end)] and scan.good_end == len(data),
                   f"{label}: scan found {scan.frames} frames, torn {scan.torn_tail}, damaged {scan.damaged}, "
                   f"good_end {scan.good_end}; expected {len(self.frames) - 1} frames, no torn tail, damaged "
                   f"[({mid.start}, {mid.end})], good_end {len(data)}")
            lo, hi = min(lost_seqs), max(lost_seqs)
            want = [
                ("damaged", self.where_segment, f"{mid.start}..{mid.end}"),
                ("seq_gap", self.where_run, f"missing seq {lo}..{hi}" if lo != hi else f"missing seq {lo}"),
                *self._drift(mid.events, size_changed=False),
            ]
            self._expect_problems(label, self._verify(label, repo), want, fixed=False)
            repaired = self._verify(label, repo, repair=True)
            # Repair never cuts valid frames away: the damage stays (and is reported); only the
            # index is brought in line with what the log now says.
            self._expect_problems(f"{label}, repair", repaired[:2], want[:2], fixed=False)
            self._expect_problems(f"{label}, repair", repaired[2:], want[2:], fixed=True)
            expect(path.read_bytes() == data, f"{label}: verify(repair=True) changed {self.last_name}")
            self._expect_problems(f"{label}, after repair", self._verify(label, repo), want[:2], fixed=False)
        finally:
            repo.close()

    def cleanup(self) -> None:
        """Remove the scratch copy (the base stays)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def garbage_tails(seed: int, header: bytes) -> list[tuple[str, bytes]]:
    """Seeded random tails, and a false frame start: ``header`` (a real frame's magic and header
    descriptor, which asks for a checksum) followed by random bytes."""
    expect(header[:4] == ZSTD_MAGIC and len(header) == 5 and header[4] & 4,
           f"{header!r} is not a zstd magic and a header descriptor with the checksum flag")
    rng = random.Random(seed)
    tails = [(f"random garbage #{i}", rng.randbytes(n)) for i, n in enumerate(GARBAGE_LENGTHS)]
    tails.append(("a false frame start", header + rng.randbytes(FALSE_FRAME_BODY)))
    # A zstd skippable frame: valid zstd without a checksum, which aim never writes (readers
    # used to accept it as a good frame, so verify left it in place).
    tails.append(("a skippable frame", struct.pack("<II", 0x184D2A50, 4) + rng.randbytes(4)))
    return tails


def run_byte_faults(workdir: Path, *, stride: int = 1, seed: int = 0) -> dict[str, int]:
    """Build a run in ``workdir/base`` and check every fault (see the module docstring).

    ``stride``: take every ``stride``-th offset of the frames (see ``truncation_offsets`` and
    ``flip_offsets``). Raises ``FaultCheckFailure`` on the first broken promise (the scratch copy
    ``workdir/scratch`` is then kept for inspection); returns how many cases of each kind ran.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    bench = FaultBench(workdir)
    counts = {"truncations": 0, "zeros": 0, "garbage": 0, "flips": 0, "resumes": 0}
    last = bench.frames[-1]
    for offset in truncation_offsets(last.start, last.end, stride):
        bench.truncation(offset)
        counts["truncations"] += 1
        counts["resumes"] += 1
    for i, n in enumerate(ZERO_LENGTHS):
        bench.appended(b"\0" * n, "zeros", repair_by_resume=bool(i % 2))
        counts["zeros"] += 1
        counts["resumes"] += 1
    header = bench.last_bytes[last.start : last.start + 5]
    for i, (label, tail) in enumerate(garbage_tails(seed, header)):
        bench.appended(tail, label, repair_by_resume=bool(i % 2))
        counts["garbage"] += 1
        counts["resumes"] += 1
    mid = bench.frames[bench.middle]
    for offset in flip_offsets(mid.start, mid.end, stride):
        bench.flip(offset)
        counts["flips"] += 1
    bench.cleanup()
    return counts
