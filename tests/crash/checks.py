"""SIGKILL crash trials and their checks, shared by ``test_sigkill.py`` and ``tools/crashtest.py``.

A trial: start ``tests/children/crash_child.py`` as a real process, let it track for a random
short while, ``SIGKILL`` it (optionally resume it in a new child and kill that one too), then:

* ``check_killed``: the repo opens, the run is listed as ``crashed``, every segment is intact
  except possibly a torn tail on the last one, ``seq`` runs 0..n-1 with no gap or duplicate,
  every metric value is the child's deterministic function of its step, and every loss step
  below the child's durable watermark (written after ``run.flush()`` returned) is there.
* ``check_resume``: ``Run(run_hash=h)`` repairs the torn tail (and only it), the new session
  writes a new segment, ``run.resumed`` takes ``last_seq + 1``, the next metric ``last_seq + 2``
  with the next step, and after ``close()`` the read-only run returns contiguous steps.

Failures raise ``CrashCheckFailure`` (an ``AssertionError``) with a message that says what was
expected; it does not rely on ``assert`` statements, so it also works under ``python -O``.
"""

from __future__ import annotations

import itertools
import os
import random
import selectors
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aim import Repo, Run
from aim.storage.frames import new_compressor
from aim.storage.layout import segment_name
from aim.storage.segment_reader import SegmentScan, iter_payloads, scan_segment

CHILD = Path(__file__).resolve().parents[1] / "children" / "crash_child.py"

# Mirrors of the child's constants (the child imports nothing but aim).
TRAIN = {"subset": "train"}
VAL = {"subset": "val"}
ACC_EVERY = 5
RING = 1 << 20
HEADER = struct.Struct("<q")
SLOT = struct.Struct("<d")
# log.line: the children run with terminal capture on (the default), and print.
KNOWN_TYPES = {"run.started", "run.resumed", "run.finished", "param.set", "metric", "log.line"}
INJECT_KINDS = ("partial-frame", "zeros", "new-segment")


def loss_value(step: int) -> float:
    return step * 0.25 + ((step * 7919) % 10007) / 1024.0


def acc_value(step: int) -> float:
    return ((step * 104729) % 1000) / 1000.0


class CrashCheckFailure(AssertionError):
    """A crash-safety promise did not hold."""


def expect(cond: object, message: str) -> None:
    if not cond:
        raise CrashCheckFailure(message)


# --- configuration -----------------------------------------------------------------------------
@dataclass
class TrialConfig:
    """Everything random about one trial, drawn from one seed."""

    seed: int
    flush_interval: float = 0.05
    segment_max_bytes: int = 64 * 1024
    burst_max: int = 300
    sleep_max: float = 0.01
    flush_prob: float = 0.5
    kill_after: list[float] = field(default_factory=lambda: [0.3])
    inject: str | None = None

    @classmethod
    def random(cls, seed: int, *, quick: bool = False) -> TrialConfig:
        """Draw a trial from ``seed``. ``quick``: no heavy trials and a lower event rate, so a
        trial's checks (several full passes over the log) stay well under a second."""
        rng = random.Random(seed)
        heavy = not quick and rng.random() < 0.15
        rounds = 2 if rng.random() < 0.25 else 1
        return cls(
            seed=seed,
            flush_interval=rng.choice([0.02, 0.05, 0.05, 0.1]),
            segment_max_bytes=rng.choice([16 * 1024, 64 * 1024, 64 * 1024, 1 << 20, 16 << 20]),
            # Heavy: big bursts, no pauses, few explicit flushes: big frames, size-triggered
            # background flushes, many rotations.
            burst_max=20_000 if heavy else rng.choice([50, 300] if quick else [50, 300, 1000]),
            sleep_max=0.0 if heavy else rng.choice([0.01, 0.03] if quick else [0.002, 0.01, 0.03]),
            flush_prob=0.2 if heavy else rng.choice([0.2, 0.5, 0.9]),
            kill_after=[rng.uniform(0.05, 0.6) for _ in range(rounds)],
            inject=rng.choice([None, None, *INJECT_KINDS]),
        )

    @property
    def rounds(self) -> int:
        return len(self.kill_after)


# --- the child process -------------------------------------------------------------------------
def child_command(repo: Path, state_dir: Path, cfg: TrialConfig, round_no: int,
                  run_hash: str | None = None) -> list[str]:
    return [
        sys.executable, str(CHILD), str(repo), *([run_hash] if run_hash else []),
        "--state-dir", str(state_dir),
        "--seed", str(cfg.seed * 100 + round_no),
        "--flush-interval", str(cfg.flush_interval),
        "--segment-max-bytes", str(cfg.segment_max_bytes),
        "--burst-max", str(cfg.burst_max),
        "--sleep-max", str(cfg.sleep_max),
        "--flush-prob", str(cfg.flush_prob),
    ]


def spawn_child(repo: Path, state_dir: Path, cfg: TrialConfig, round_no: int,
                run_hash: str | None = None) -> tuple[subprocess.Popen[bytes], Lines]:
    """Start the child; its stdout is read through the returned ``Lines``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stderr = open(state_dir / f"child-{round_no}.stderr", "wb")  # noqa: SIM115
    try:
        proc = subprocess.Popen(child_command(repo, state_dir, cfg, round_no, run_hash),
                                stdout=subprocess.PIPE, stderr=stderr)
    finally:
        stderr.close()
    return proc, Lines(proc)


def start_child(
    repo: Path, state_dir: Path, cfg: TrialConfig, round_no: int, run_hash: str | None = None,
    timeout: float = 30.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the child and wait for its hash line (its run is durable on disk by then)."""
    proc, out = spawn_child(repo, state_dir, cfg, round_no, run_hash)
    line = out.next_line(timeout)
    if line == b"OPENING":
        line = out.next_line(timeout)
    if not line:
        kill(proc)
        raise CrashCheckFailure(
            f"child printed no run hash (rc={proc.returncode}): {child_stderr(state_dir, round_no)}"
        )
    run_hash_out = line.decode().strip()
    expect(run_hash is None or run_hash_out == run_hash,
           f"resumed child reports hash {run_hash_out}, expected {run_hash}")
    return proc, run_hash_out


class Lines:
    """A child's stdout, read line by line without blocking past a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd, self.buf, self.taken = proc.stdout.fileno(), b"", 0

    def _fill(self, deadline: float, done: Callable[[], bool]) -> bool:
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while not done():
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return False
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return False
                self.buf += chunk
        return True

    def next_line(self, timeout: float) -> bytes:
        """The next complete line (without its newline), or ``b""`` at a timeout or EOF."""
        if not self._fill(time.monotonic() + timeout, lambda: len(self.lines()) > self.taken):
            return b""
        self.taken += 1
        return self.lines()[self.taken - 1]

    def wait_for(self, word: bytes, timeout: float) -> bool:
        """Read until a line whose first word is ``word``."""
        return self._fill(time.monotonic() + timeout,
                          lambda: any(line.split(b" ")[0] == word for line in self.lines()))

    def drain(self) -> None:
        """Read what is left (the child is dead: EOF comes at once)."""
        while chunk := os.read(self.fd, 65536):
            self.buf += chunk

    def lines(self) -> list[bytes]:
        return self.buf.split(b"\n")[:-1]  # a line cut by the kill has no newline


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    return Lines(proc).next_line(timeout)


def child_stderr(state_dir: Path, round_no: int) -> str:
    try:
        return (state_dir / f"child-{round_no}.stderr").read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def kill(proc: subprocess.Popen[bytes]) -> float:
    """SIGKILL the child, reap it, and return the wall time of the kill."""
    ts = time.time()
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return ts


# --- side files --------------------------------------------------------------------------------
def read_watermark(state_dir: Path, run_hash: str) -> int:
    """The last durable watermark: loss steps 0..n-1 were flushed before it was written."""
    text = (state_dir / f"{run_hash}.flushed").read_bytes()
    marks = []
    for line in text.split(b"\n")[:-1]:  # a line cut by the kill has no newline: ignore it
        word, _, n = line.partition(b" ")
        expect(word == b"FLUSHED" and n.isdigit(), f"bad watermark line {line!r}")
        marks.append(int(n))
    expect(marks, "the child wrote no watermark")
    expect(all(a <= b for a, b in itertools.pairwise(marks)), f"watermarks go backwards: {marks[-10:]}")
    return marks[-1]


def read_tracked(state_dir: Path, run_hash: str) -> tuple[int, bytes]:
    """(loss steps tracked, ring of track times) from the child's memory map.

    The count is the header or, when larger, the end of the run of non-zero ring slots after it:
    a slot is written before the header (a kill between the two leaves the header one behind),
    and in about 1 of 50 heavy trials the header page's first 8 bytes read back as zero after
    the kill while the ring (same page included) was current -- not understood; the ring is
    the more robust count.
    """
    data = (state_dir / f"{run_hash}.tracked").read_bytes()
    header = HEADER.unpack_from(data, 0)[0]
    ring = memoryview(data)[HEADER.size :].cast("d")
    n = max(0, header - 1)
    while n < RING and ring[n] != 0.0:
        n += 1
    return max(header, n) if header < RING else header, data


def tracked_at(ring: bytes, step: int) -> float:
    return SLOT.unpack_from(ring, HEADER.size + (step % RING) * SLOT.size)[0]


# --- reading the log ---------------------------------------------------------------------------
@dataclass
class Log:
    paths: list[Path]
    scans: list[SegmentScan]
    events: list[dict[str, Any]]
    where: list[int]  # segment index of each event

    @property
    def sizes(self) -> dict[Path, int]:
        return {s.path: s.size for s in self.scans}


def read_log(repo: Path, run_hash: str) -> Log:
    layout = Repo(repo).layout
    paths = layout.segment_paths(run_hash)
    scans, events, where = [], [], []
    for i, path in enumerate(paths):
        scan = SegmentScan(path)
        # The format is the contract: verified zstd frames (the library's frame walker) holding
        # whole JSON lines, decoded here with plain orjson.
        for payload in iter_payloads(path.read_bytes(), scan):
            for line in payload.splitlines():
                try:
                    events.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise CrashCheckFailure(f"{path.name}: a verified frame holds a bad line {line!r}") from exc
                where.append(i)
        scans.append(scan)
    return Log(paths, scans, events, where)


def check_seqs(log: Log) -> None:
    seqs = [e.get("seq") for e in log.events]
    if seqs != list(range(len(seqs))):
        bad = next(i for i, s in enumerate(seqs) if s != i)
        raise CrashCheckFailure(
            f"seq not contiguous from 0: event #{bad} has seq {seqs[bad]} "
            f"(around: {seqs[max(0, bad - 3) : bad + 3]}, {len(seqs)} events)"
        )


def check_metrics(events: list[dict[str, Any]], acc_skipped: int | None = None) -> tuple[int, list[int]]:
    """Check every metric event; return (loss steps on disk, acc steps on disk).

    ``acc_skipped``: a step whose acc was legitimately never tracked (the parent's own resume
    tracks only loss).
    """
    loss_steps: list[int] = []
    acc_steps: list[int] = []
    # Hot loop (hundreds of thousands of events): build a message only on failure.
    for e in events:
        if e["type"] != "metric":
            continue
        name, step, value, ctx = e.get("name"), e.get("step"), e.get("value"), e.get("context")
        if name.startswith("__system__"):  # system tracking is on by default in the children
            continue
        if name == "loss":
            if ctx != TRAIN or step != len(loss_steps) or value != loss_value(step):
                raise CrashCheckFailure(
                    f"bad loss event after {len(loss_steps)} loss steps: {e} "
                    f"(expected step {len(loss_steps)}, value {loss_value(len(loss_steps))!r}, "
                    f"context {TRAIN})"
                )
            loss_steps.append(step)
        elif name == "acc":
            if (ctx != VAL or not isinstance(step, int) or step % ACC_EVERY
                    or (acc_steps and step <= acc_steps[-1]) or value != acc_value(step)):
                raise CrashCheckFailure(
                    f"bad acc event after acc steps {acc_steps[-3:]}: {e} (expected a step that is a "
                    f"multiple of {ACC_EVERY}, increasing, value acc_value(step), context {VAL})"
                )
            acc_steps.append(step)
        else:
            raise CrashCheckFailure(f"unexpected metric {name!r}: {e}")
    n = len(loss_steps)
    want = [s for s in range(0, n, ACC_EVERY) if s != acc_skipped or s in acc_steps]
    if acc_steps[: len(want)] != want:
        bad = next((i for i, (a, b) in enumerate(zip(acc_steps, want)) if a != b), len(acc_steps))
        raise CrashCheckFailure(
            f"acc steps below loss step {n}: #{bad} is {acc_steps[bad : bad + 1]}, expected {want[bad]} "
            f"({len(acc_steps)} acc steps, {len(want)} expected)"
        )
    # acc(s) precedes loss(s): only acc(n) may have survived without its loss step.
    expect(acc_steps[len(want):] in ([], [n]), f"acc steps beyond loss step {n}: {acc_steps[len(want):]}")
    return n, acc_steps


# --- aim storage verify ------------------------------------------------------------------------
def aim_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``aim`` entry point (``python -m aim``) in a subprocess."""
    return subprocess.run([sys.executable, "-m", "aim", *args], capture_output=True, text=True,
                          timeout=timeout)


def verify_clean(root: Path, allowed: Callable[[dict[str, Any]], bool], what: str,
                 repair: bool = True) -> list[dict[str, Any]]:
    """``aim storage verify`` of ``root`` exits 0, or reports only problems ``allowed`` accepts
    and (with ``repair``) ``verify --repair`` fixes them all and a second verify exits 0.
    Returns the problems the first verify reported."""
    first = aim_cli("storage", "verify", "--json", "--repo", str(root))
    problems = [orjson.loads(line) for line in first.stdout.splitlines() if line.strip()]
    if first.returncode == 0:
        expect(not problems, f"verify exited 0 but reported {problems}")
        return []
    expect(first.returncode == 1 and problems, f"verify failed: {first.stdout}{first.stderr}")
    bad = [p for p in problems if not allowed(p)]
    expect(not bad, f"verify of {root.name} {what} found unexplained problems: {bad}")
    if repair:
        fixed = aim_cli("storage", "verify", "--repair", "--json", "--repo", str(root))
        expect(fixed.returncode == 0, f"verify --repair left problems: {fixed.stdout}{fixed.stderr}")
        again = aim_cli("storage", "verify", "--repo", str(root))
        expect(again.returncode == 0, f"verify after --repair: {again.stdout}{again.stderr}")
    return problems


def torn_tail_of(run_hash: str) -> Callable[[dict[str, Any]], bool]:
    """A verify problem a kill of ``run_hash``'s writer explains: its last segment's torn tail."""
    return lambda p: p["kind"] == "torn_tail" and p["where"].startswith(f"runs/{run_hash}/events/")


# --- checks after a kill -----------------------------------------------------------------------
@dataclass
class KillFacts:
    """What one SIGKILL left behind."""

    round_no: int
    watermark: int  # loss steps promised durable
    durable: int  # loss steps found on disk
    tracked: int  # loss steps the child had tracked when killed
    lost_events: int  # events tracked but not on disk
    lost_age_s: float  # age, at the kill, of the oldest loss event that was lost
    last_seq: int
    segments: int
    natural_torn: bool  # the kill itself left a torn tail


def check_killed(repo: Path, state_dir: Path, run_hash: str, kill_ts: float, round_no: int,
                 opening: bool = False) -> KillFacts:
    """Check the run right after its writer was SIGKILLed (nothing has resumed it yet).

    ``opening``: the kill landed while ``Run(run_hash=...)`` of round ``round_no`` was opening,
    before it said the run was open: its ``run.resumed`` may or may not be on disk."""
    try:
        opened = Repo(repo)
    except Exception as exc:
        raise CrashCheckFailure(f"the repo does not open after SIGKILL: {exc!r}") from exc
    try:
        rows = {r["hash"]: r for r in opened.list_runs()}
        expect(run_hash in rows, f"killed run {run_hash} is not listed (runs: {list(rows)})")
        expect(rows[run_hash]["status"] == "crashed",
               f"killed run listed as {rows[run_hash]['status']!r}, expected 'crashed'")
    finally:
        opened.close()
    status = Run(run_hash, repo=repo, read_only=True).status
    expect(status == "crashed", f"read-only Run.status of a killed run is {status!r}, expected 'crashed'")

    log = read_log(repo, run_hash)
    expect(log.paths, "the killed run has no segment, though its start was flushed")
    for i, scan in enumerate(log.scans):
        expect(not scan.damaged, f"{scan.path.name}: damaged frames {scan.damaged} after a SIGKILL")
        if i < len(log.scans) - 1:
            expect(not scan.torn_tail and scan.good_end == scan.size,
                   f"{scan.path.name} is not the last segment but has a torn tail of {scan.torn_tail} bytes")
    check_seqs(log)
    events = log.events
    types = [e.get("type") for e in events]
    expect(types and types[0] == "run.started" and events[0].get("hash") == run_hash,
           f"first event is {events[0] if events else None}, expected run.started of {run_hash}")
    expect(set(types) <= KNOWN_TYPES, f"unexpected event types {set(types) - KNOWN_TYPES}")
    resumes = (round_no - 1, round_no) if opening else (round_no,)
    expect(types.count("run.resumed") in resumes,
           f"{types.count('run.resumed')} run.resumed events after {round_no} resumes "
           f"{'(the last killed while opening)' if opening else ''}")
    expect("run.finished" not in types, "a killed run has a run.finished event")
    params = [e for e in events if e["type"] == "param.set" and e.get("path") == ["hparams"]]
    expect(len(params) == 1, f"expected the hparams param.set once, found {len(params)}")

    durable, _ = check_metrics(events)
    watermark = read_watermark(state_dir, run_hash)
    expect(durable >= watermark,
           f"lost flushed events: flush() had returned for loss steps 0..{watermark - 1}, "
           f"but only {durable} are on disk")
    tracked, ring = read_tracked(state_dir, run_hash)
    # The child bumps its counter after track() returns, so disk can be one step ahead.
    expect(durable <= tracked + 1, f"{durable} loss steps on disk but the child tracked only {tracked}")
    lost = max(0, tracked - durable)
    lost_events = lost + sum(1 for s in range(durable, tracked) if s % ACC_EVERY == 0)
    lost_age = kill_ts - tracked_at(ring, durable) if 0 < lost < RING else 0.0
    return KillFacts(
        round_no=round_no, watermark=watermark, durable=durable, tracked=tracked,
        lost_events=lost_events, lost_age_s=max(0.0, lost_age), last_seq=len(events) - 1,
        segments=len(log.paths), natural_torn=bool(log.scans[-1].torn_tail),
    )


# --- simulated torn writes ---------------------------------------------------------------------
def _frame(first_seq: int, count: int) -> bytes:
    lines = b"".join(
        orjson.dumps({"seq": first_seq + i, "ts": time.time(), "type": "metric", "name": "loss",
                      "context": TRAIN, "step": 10**9 + i, "epoch": None, "value": 1.0},
                     option=orjson.OPT_APPEND_NEWLINE)
        for i in range(count)
    )
    return new_compressor().compress(lines)


def inject_torn_tail(repo: Path, run_hash: str, kind: str, rng: random.Random, next_seq: int) -> Path:
    """Leave what a write cut short by the kill would leave; return the torn segment's path.

    ``partial-frame``: a prefix of a real frame appended to the last segment; ``zeros``: a run
    of zero bytes appended (a file extended but never written); ``new-segment``: a new segment
    whose first frame is cut short (the crash came right after a rotation).
    """
    layout = Repo(repo).layout
    paths = layout.segment_paths(run_hash)
    frame = _frame(next_seq, rng.randint(1, 500))
    if kind == "partial-frame":
        path, tail = paths[-1], frame[: rng.randint(1, len(frame) - 1)]
    elif kind == "zeros":
        path, tail = paths[-1], b"\0" * rng.randint(1, 8192)
    elif kind == "new-segment":
        number = int(paths[-1].name.split(".")[0]) + 1
        path, tail = paths[-1].with_name(segment_name(number)), frame[: rng.randint(1, len(frame) - 1)]
    else:
        raise ValueError(f"unknown torn-tail kind {kind!r}")
    with open(path, "ab") as fh:
        fh.write(tail)
    scan = scan_segment(path)
    expect(scan.torn_tail == len(tail), f"injected {len(tail)} torn bytes, scan sees {scan.torn_tail}")
    return path


# --- resume ------------------------------------------------------------------------------------
@dataclass
class ResumeFacts:
    repaired: int  # segments truncated
    removed: int  # segments removed (nothing valid in them)


def check_resume(repo: Path, run_hash: str, facts: KillFacts) -> ResumeFacts:
    """Resume the killed run in this process, track one step, close, and read it back."""
    before = read_log(repo, run_hash)
    expect(len(before.events) - 1 == facts.last_seq, "the log changed between the checks")
    torn = {s.path: s for s in before.scans if s.torn_tail}
    try:
        # Capture off: this check counts the events of its own session exactly, and a system
        # sample (on by default, the first after at most 1 s) would be one more.
        run = Run(run_hash=run_hash, repo=repo, flush_interval=0.05, system_tracking_interval=None,
                  capture_terminal_logs=False)
    except Exception as exc:
        raise CrashCheckFailure(f"Run(run_hash=...) failed on a killed run: {exc!r}") from exc
    repaired = removed = 0
    try:
        for scan in before.scans:
            path = scan.path
            if path in torn and scan.good_end == 0:
                # Nothing valid in it: repair removes it (the new session may reuse the number,
                # so if it exists again it must hold only new, valid frames).
                if path.exists():
                    again = scan_segment(path)
                    expect(again.clean, f"{path.name} held no valid frame and is still torn: {again}")
                removed += 1
                continue
            after = scan_segment(path)
            expect(after.size == scan.good_end,
                   f"{path.name}: size {after.size} after resume, expected {scan.good_end} "
                   f"(was {scan.size}, torn tail {scan.torn_tail})")
            expect(after.clean and after.good_end == after.size,
                   f"{path.name} after resume: torn {after.torn_tail}, damaged {after.damaged}")
            repaired += path in torn
        step = facts.durable
        run.track(loss_value(step), name="loss", context=TRAIN)
        run.flush()
        mid = read_log(repo, run_hash)
        check_seqs(mid)
        last = facts.last_seq
        tail = mid.events[last + 1 :]
        expect(len(tail) == 2, f"after resume + one track: {len(tail)} new events, expected 2: {tail}")
        expect(tail[0]["type"] == "run.resumed" and tail[0]["seq"] == last + 1,
               f"first event after resume is {tail[0]}, expected run.resumed with seq {last + 1}")
        expect(tail[1]["type"] == "metric" and tail[1]["seq"] == last + 2 and tail[1]["step"] == step,
               f"tracked after resume: {tail[1]}, expected seq {last + 2} step {step}")
        expect(tail[1]["value"] == loss_value(step), f"value after resume {tail[1]['value']}")
        # A new session writes a new segment; only the number of a removed (all-torn) one may
        # come back.
        new_paths = {mid.paths[mid.where[i]] for i in range(last + 1, len(mid.events))}
        reusable = {p for p, s in torn.items() if s.good_end == 0}
        expect(not new_paths & (set(before.paths) - reusable),
               f"the resumed session appended to an older segment: {sorted(p.name for p in new_paths)}")
    finally:
        run.close()
    after = read_log(repo, run_hash)
    check_seqs(after)
    for scan in after.scans:
        expect(scan.clean and scan.good_end == scan.size, f"{scan.path.name} not clean after close: {scan}")
    expect(after.events[-1]["type"] == "run.finished" and after.events[-1]["seq"] == facts.last_seq + 3,
           f"last event after close is {after.events[-1]}, expected run.finished seq {facts.last_seq + 3}")
    n, _ = check_metrics(after.events, acc_skipped=facts.durable)
    expect(n == facts.durable + 1, f"{n} loss steps after resume, expected {facts.durable + 1}")

    ro = Run(run_hash, repo=repo, read_only=True)
    metric = ro.get_metric("loss", TRAIN)
    expect(metric.steps == list(range(facts.durable + 1)),
           f"get_metric steps are not 0..{facts.durable}: {len(metric.steps)} steps, "
           f"last {metric.steps[-3:]}")
    expect(metric.values == [loss_value(s) for s in metric.steps], "get_metric values differ")
    expect(ro.status == "finished", f"status after close is {ro.status!r}")
    opened = Repo(repo)
    try:
        row = next(r for r in opened.list_runs() if r["hash"] == run_hash)
        expect(row["status"] == "finished", f"list_runs status after close is {row['status']!r}")
    finally:
        opened.close()
    return ResumeFacts(repaired=repaired, removed=removed)


# --- a whole trial -----------------------------------------------------------------------------
@dataclass
class TrialResult:
    config: TrialConfig
    run_hash: str
    kills: list[KillFacts]
    resume: ResumeFacts
    injected: bool
    verify_repaired: int = 0  # kills whose torn tail ``verify --repair`` fixed before the resume


def check_loss_bound(facts: KillFacts, cfg: TrialConfig, slack: float) -> None:
    """The promise: a SIGKILL loses at most the last flush interval (plus ``slack`` seconds for
    encoding, writing and scheduling)."""
    expect(facts.lost_age_s <= cfg.flush_interval + slack,
           f"the kill lost {facts.lost_events} events, the oldest tracked {facts.lost_age_s:.3f} s "
           f"before the kill; flush interval {cfg.flush_interval} s (+{slack} s slack)")


def run_trial(cfg: TrialConfig, workdir: Path, loss_slack: float | None = None,
              verify: bool = True) -> TrialResult:
    """Start, kill (and resume-kill) a child as ``cfg`` says, then check everything.

    ``loss_slack``: also check the loss bound (see ``check_loss_bound``) with this slack.
    ``verify``: after each kill, ``aim storage verify`` reports nothing but the run's torn tail;
    a seeded half of the trials repair it with ``verify --repair`` (the others leave it to the
    resume).
    """
    repo, state = workdir / "repo", workdir / "state"
    rng = random.Random(cfg.seed)
    run_hash: str | None = None
    kills: list[KillFacts] = []
    verify_repaired = 0
    for round_no, delay in enumerate(cfg.kill_after):
        proc, run_hash = start_child(repo, state, cfg, round_no, run_hash)
        time.sleep(delay)
        kill_ts = kill(proc)
        expect(proc.returncode == -signal.SIGKILL,
               f"child exited with {proc.returncode} before the kill: {child_stderr(state, round_no)}")
        kills.append(check_killed(repo, state, run_hash, kill_ts, round_no))
        if loss_slack is not None:
            check_loss_bound(kills[-1], cfg, loss_slack)
        if verify:
            repair = rng.random() < 0.5
            found = verify_clean(repo, torn_tail_of(run_hash), f"after kill {round_no}", repair=repair)
            verify_repaired += bool(found) and repair
    assert run_hash is not None
    facts = kills[-1]
    if cfg.inject:
        inject_torn_tail(repo, run_hash, cfg.inject, rng, facts.last_seq + 1)
    resume = check_resume(repo, run_hash, facts)
    if cfg.inject or (facts.natural_torn and not verify_repaired):
        expect(resume.repaired + resume.removed >= 1, "a torn tail was there but nothing was repaired")
    return TrialResult(cfg, run_hash, kills, resume, injected=bool(cfg.inject),
                       verify_repaired=verify_repaired)


# --- kills while a run opens: create and resume --------------------------------------------------
@dataclass
class OpenKillResult:
    run_hash: str | None  # the run the killed child created or resumed (None: none on disk)
    opened: bool  # the child had said the run was open (its hash line) before the kill
    verify_problems: list[str]  # kinds verify reported after the kill (all repaired)
    resume: ResumeFacts | None


def _kill_opening(repo: Path, state: Path, cfg: TrialConfig, round_no: int, run_hash: str | None,
                  delay: float) -> tuple[float, list[bytes], int]:
    """Start a child and SIGKILL it ``delay`` seconds after it said ``OPENING``; return the kill
    time, the lines it printed and its pid."""
    proc, out = spawn_child(repo, state, cfg, round_no, run_hash)
    try:
        expect(out.next_line(30) == b"OPENING", f"child did not start: {child_stderr(state, round_no)}")
        time.sleep(delay)
        kill_ts = time.time()
        os.kill(proc.pid, signal.SIGKILL)  # not reaped yet: the pid cannot have been reused
        proc.wait()
        out.drain()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    expect(proc.returncode == -signal.SIGKILL,
           f"child exited with {proc.returncode} before the kill: {child_stderr(state, round_no)}")
    return kill_ts, out.lines(), proc.pid


def measure_open(workdir: Path, cfg: TrialConfig, resume: bool) -> float:
    """Seconds from a child's ``OPENING`` to its hash line (creating, or resuming a killed run):
    the window the open-kill trials aim at."""
    repo, state = workdir / "repo", workdir / "state"
    run_hash = None
    if resume:
        proc, run_hash = start_child(repo, state, cfg, 0)
        time.sleep(0.2)
        kill(proc)
    proc, out = spawn_child(repo, state, cfg, int(resume), run_hash)
    try:
        expect(out.next_line(30) == b"OPENING", f"child did not start: {child_stderr(state, int(resume))}")
        t0 = time.monotonic()
        expect(out.next_line(30), f"child did not open: {child_stderr(state, int(resume))}")
        return time.monotonic() - t0
    finally:
        kill(proc)


def run_open_kill_trial(cfg: TrialConfig, workdir: Path, *, resume: bool, delay: float,
                        existing: bool = False) -> OpenKillResult:
    """SIGKILL a child ``delay`` seconds into opening its run: creating one (``resume`` False;
    ``existing``: the repository already holds a finished run, else the child creates the
    repository too) or resuming one killed while tracking (``resume`` True). Then:

    * the repository opens; a run that existed before is untouched, event for event;
    * at most one new run directory; once the child had printed the hash, ``check_killed``
      holds in full; before that, what is on disk is a valid prefix: ``run.started`` (or the
      earlier session's durable events) first, contiguous ``seq``;
    * ``aim storage verify`` reports nothing but what this kill explains (the run's torn tail,
      a run directory the kill left without a segment) and ``--repair`` fixes it;
    * the run resumes (``check_resume``) and a new run can be created in the repository.
    """
    repo, state = workdir / "repo", workdir / "state"
    run_hash: str | None = None
    before: dict[str, list[dict[str, Any]]] = {}
    facts: KillFacts | None = None
    if resume:
        proc, run_hash = start_child(repo, state, cfg, 0)
        time.sleep(cfg.kill_after[0])
        kill_ts = kill(proc)
        facts = check_killed(repo, state, run_hash, kill_ts, 0)
    elif existing:
        run = Run(repo=repo, experiment="before", system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {"before": True}
        run.track(1.0, name="m")
        run.close()
        before[run.hash] = read_log(repo, run.hash).events
    round_no = int(resume)
    kill_ts, lines, pid = _kill_opening(repo, state, cfg, round_no, run_hash, delay)
    printed = [line.decode() for line in lines if line != b"OPENING"]
    opened = bool(printed)
    runs_dir = repo / ".aim" / "runs"
    if not resume:
        new = sorted({p.name for p in runs_dir.iterdir()} - set(before)) if runs_dir.is_dir() else []
        expect(len(new) <= 1, f"one create left {len(new)} run directories: {new}")
        expect(not opened or new == printed[:1], f"the child printed {printed} but runs/ holds {new}")
        run_hash = new[0] if new else None
    for h, events in before.items():
        expect(read_log(repo, h).events == events, f"the run that existed before ({h}) changed")
    # A create killed before its first frame leaves a run without events (no segment, an
    # empty one, or part of the first frame): verify reports it and --repair removes it.
    empty = run_hash is not None and not read_log(repo, run_hash).events
    expect(not (empty and (opened or resume)), f"run {run_hash} holds no event after the kill, "
           f"though {'its hash was printed' if opened else 'it was resumed'}")
    if run_hash is not None and not empty:
        if opened:
            facts = check_killed(repo, state, run_hash, kill_ts, round_no)
        else:
            log = read_log(repo, run_hash)
            check_seqs(log)
            expect(log.events[0]["type"] == "run.started",
                   f"the killed create left {log.events[:1]}, expected run.started first")
            if facts is not None:  # a resume: the earlier durable events are all there
                n, _ = check_metrics(log.events)
                expect(n >= facts.watermark,
                       f"a resume killed while opening lost flushed steps: {n} < {facts.watermark}")

    def explained(p: dict[str, Any]) -> bool:
        # A new run's directory is built as tmp/<hash>.<pid>, locked, then renamed into runs/:
        # a kill before the rename leaves it there (verify --repair sweeps a dead pid's).
        if p["kind"] == "leftover" and p["where"].startswith("tmp/") and p["where"].endswith(f".{pid}"):
            return not resume
        return run_hash is not None and (
            torn_tail_of(run_hash)(p) or (p["kind"] == "orphan" and p["where"] == f"runs/{run_hash}"))

    problems = verify_clean(repo, explained, f"after a kill {delay * 1000:.1f} ms into opening") \
        if (repo / ".aim").exists() else []
    kinds = sorted({p["kind"] for p in problems})
    tmp_left = sorted(p.name for p in (repo / ".aim" / "tmp").glob("*"))
    expect(not tmp_left, f"tmp/ still holds {tmp_left} after verify --repair")
    result = OpenKillResult(run_hash, opened, kinds, None)
    if empty:
        expect(not (repo / ".aim" / "runs" / str(run_hash)).exists(),
               f"verify --repair left run {run_hash}, which holds no event")
    elif run_hash is not None:
        # Re-read what is on disk now (verify --repair may have cut a torn tail), then resume.
        if opened or resume:
            facts = check_killed(repo, state, run_hash, kill_ts, round_no, opening=not opened)
        else:  # a create killed before its hash line: no watermark, no params promised yet
            log = read_log(repo, run_hash)
            facts = KillFacts(round_no=0, watermark=0, durable=check_metrics(log.events)[0], tracked=0,
                              lost_events=0, lost_age_s=0.0, last_seq=len(log.events) - 1,
                              segments=len(log.paths), natural_torn=False)
        result.resume = check_resume(repo, run_hash, facts)
    for h, events in before.items():
        expect(read_log(repo, h).events == events, f"the run that existed before ({h}) changed after repair")
    run = Run(repo=repo, experiment="after", system_tracking_interval=None, capture_terminal_logs=False)
    run.track(2.0, name="m")
    run.close()
    # A repository created by the next run sweeps what a killed init left beside it.
    leftovers = sorted(p.name for p in repo.glob(".aim.init.*"))
    expect(not leftovers, f"a killed repository init left {leftovers} after the next init")
    expect(read_log(repo, run.hash).events[-1]["type"] == "run.finished",
           "a new run created after the kill did not close")
    return result
