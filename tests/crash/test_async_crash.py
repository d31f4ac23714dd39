"""SIGKILL an async training process (AsyncRun on asyncio and on trio) at random moments.

The promise is the sync one (test_sigkill.py): every event tracked before an ``await
run.flush()`` returned survives a SIGKILL, in order, with contiguous ``seq``; the killed run is
listed as ``crashed``; and it resumes, in a new async child, in this process with the sync
``Run`` or with ``AsyncRun``, with ``seq`` and steps carrying on.

The child is ``tests/children/async_crash_child.py``: the async twin of ``crash_child.py``, with
the same metrics and side files, so the checks of ``tests/crash/checks.py`` apply unchanged.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from aim import AsyncRun, Repo, Run, RunLockedError
from aim.storage.segment_reader import scan_segment
from tests.crash.checks import (
    INJECT_KINDS,
    TRAIN,
    CrashCheckFailure,
    KillFacts,
    TrialConfig,
    _read_line,
    check_killed,
    check_loss_bound,
    check_metrics,
    check_resume,
    check_seqs,
    child_stderr,
    expect,
    inject_torn_tail,
    kill,
    loss_value,
    read_log,
    read_watermark,
)

ASYNC_CHILD = Path(__file__).resolve().parents[1] / "children" / "async_crash_child.py"
BACKENDS = ("asyncio", "trio")
TRIALS = 20
# As in test_sigkill.py: seconds a kill may lose beyond the flush interval.
LOSS_SLACK = 0.5


def start_async_child(
    repo: Path, state_dir: Path, cfg: TrialConfig, backend: str, round_no: int,
    run_hash: str | None = None, timeout: float = 30.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the async child and wait for its hash line (its run is durable on disk by then)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, str(ASYNC_CHILD), str(repo), *([run_hash] if run_hash else []),
        "--backend", backend,
        "--state-dir", str(state_dir),
        "--seed", str(cfg.seed * 100 + round_no),
        "--flush-interval", str(cfg.flush_interval),
        "--segment-max-bytes", str(cfg.segment_max_bytes),
        "--burst-max", str(cfg.burst_max),
        "--sleep-max", str(cfg.sleep_max),
    ]
    stderr = open(state_dir / f"child-{round_no}.stderr", "wb")  # noqa: SIM115
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr)
    finally:
        stderr.close()
    line = _read_line(proc, timeout)
    if not line:
        kill(proc)
        raise CrashCheckFailure(
            f"async child printed no run hash (rc={proc.returncode}): {child_stderr(state_dir, round_no)}"
        )
    run_hash_out = line.decode().strip()
    expect(run_hash is None or run_hash_out == run_hash,
           f"resumed child reports hash {run_hash_out}, expected {run_hash}")
    return proc, run_hash_out


def check_async_resume(repo: Path, run_hash: str, facts: KillFacts, backend: str) -> int:
    """Resume the killed run with AsyncRun in this process, track one step, close, read back.

    The twin of checks.check_resume for the async shell; returns the number of torn segments
    that were repaired or removed.
    """
    before = read_log(repo, run_hash)
    expect(len(before.events) - 1 == facts.last_seq, "the log changed between the checks")
    step = facts.durable

    async def resume() -> tuple[str, int]:
        # Capture off, like checks.check_resume: the checks count this session's events exactly
        # (a system sample is taken as soon as a run opens).
        async with AsyncRun(run_hash=run_hash, repo=repo, flush_interval=0.05, system_tracking_interval=None,
                            capture_terminal_logs=False) as run:
            status = run.status
            loss = await run.get_metric("loss", TRAIN)
            seen = len(loss) if loss is not None else 0
            await run.track(loss_value(step), name="loss", context=TRAIN)
            await run.flush()
        return status, seen

    try:
        status, seen = anyio.run(resume, backend=backend)
    except Exception as exc:
        raise CrashCheckFailure(f"AsyncRun(run_hash=...) failed on a killed run: {exc!r}") from exc
    expect(status == "running", f"resumed AsyncRun has status {status!r}")
    expect(seen == facts.durable, f"the resumed AsyncRun sees {seen} loss steps, {facts.durable} on disk")

    after = read_log(repo, run_hash)
    check_seqs(after)
    for scan in after.scans:
        expect(scan.clean and scan.good_end == scan.size, f"{scan.path.name} not clean after close: {scan}")
    repaired = 0
    for scan in before.scans:
        if scan.torn_tail and scan.good_end == 0:
            # Nothing valid in it: removed (the number may come back holding only new frames).
            repaired += 1
            continue
        size = scan_segment(scan.path).size
        expect(size == scan.good_end,
               f"{scan.path.name}: {size} bytes after the async resume, expected {scan.good_end} "
               f"(was {scan.size}, torn tail {scan.torn_tail}): not repaired, or appended to")
        repaired += bool(scan.torn_tail)
    last = facts.last_seq
    tail = after.events[last + 1:]
    expect([e["type"] for e in tail] == ["run.resumed", "metric", "run.finished"],
           f"events after the async resume: {tail}")
    expect([e["seq"] for e in tail] == [last + 1, last + 2, last + 3], f"seq after the async resume: {tail}")
    expect(tail[1]["step"] == step and tail[1]["value"] == loss_value(step),
           f"tracked after the async resume: {tail[1]}, expected step {step}")
    n, _ = check_metrics(after.events, acc_skipped=facts.durable)
    expect(n == facts.durable + 1, f"{n} loss steps after the async resume, expected {facts.durable + 1}")

    ro = Run(run_hash, repo=repo, read_only=True)
    metric = ro.get_metric("loss", TRAIN)
    expect(metric.steps == list(range(facts.durable + 1)),
           f"steps after the async resume are not 0..{facts.durable}: last {metric.steps[-3:]}")
    expect(metric.values == [loss_value(s) for s in metric.steps], "values after the async resume differ")
    expect(ro.status == "finished", f"status after the async resume is {ro.status!r}")
    opened = Repo(repo)
    try:
        row = next(r for r in opened.list_runs() if r["hash"] == run_hash)
        expect(row["status"] == "finished", f"list_runs status after close is {row['status']!r}")
    finally:
        opened.close()
    return repaired


@dataclass
class AsyncTrial:
    cfg: TrialConfig
    backend: str
    resume_with: str  # "sync" (checks.check_resume) or "async" (check_async_resume)
    inject_between: str | None  # a torn tail left for the async child's own resume
    inject_final: str | None  # a torn tail left for the final resume


def async_trial(i: int) -> AsyncTrial:
    """Trial ``i`` from a fixed seed; backends, resume shells and torn-tail kinds rotate so that
    every combination is covered."""
    rng = random.Random(2000 + i)
    rounds = 2 if i % 3 == 2 else 1
    cfg = TrialConfig(
        seed=2000 + i,
        flush_interval=rng.choice([0.02, 0.05, 0.1]),
        segment_max_bytes=rng.choice([16 * 1024, 64 * 1024, 1 << 20]),
        burst_max=rng.choice([50, 300]),
        sleep_max=rng.choice([0.01, 0.03]),
        flush_prob=1.0,  # the async child flushes after every burst
        kill_after=[rng.uniform(0.1, 0.6) for _ in range(rounds)],
        inject=None,
    )
    return AsyncTrial(
        cfg=cfg,
        backend=BACKENDS[i % 2],
        resume_with=("sync", "async")[(i // 2) % 2],
        inject_between=INJECT_KINDS[(i // 3) % len(INJECT_KINDS)] if rounds == 2 else None,
        inject_final=[None, *INJECT_KINDS][i % (len(INJECT_KINDS) + 1)],
    )


@pytest.mark.parametrize("i", range(TRIALS))
def test_sigkill_of_an_async_loop_loses_nothing_flushed_and_the_run_resumes(tmp_path: Path, i: int) -> None:
    trial = async_trial(i)
    cfg = trial.cfg
    repo, state = tmp_path / "repo", tmp_path / "state"
    rng = random.Random(cfg.seed)
    run_hash: str | None = None
    kills: list[KillFacts] = []
    for round_no, delay in enumerate(cfg.kill_after):
        if round_no and trial.inject_between:
            # The next async child resumes over a torn tail: AsyncRun.open must repair it.
            inject_torn_tail(repo, run_hash, trial.inject_between, rng, kills[-1].last_seq + 1)
        proc, run_hash = start_async_child(repo, state, cfg, trial.backend, round_no, run_hash)
        time.sleep(delay)
        kill_ts = kill(proc)
        assert proc.returncode == -signal.SIGKILL, (
            f"child exited with {proc.returncode} before the kill: {child_stderr(state, round_no)}")
        # Listed as crashed; segments intact but for a torn tail; seq contiguous; every event up
        # to the watermark (written after ``await run.flush()`` returned) present, in order.
        facts = check_killed(repo, state, run_hash, kill_ts, round_no)
        check_loss_bound(facts, cfg, LOSS_SLACK)
        assert facts.watermark > 0, "no burst was flushed before the kill: the trial tested nothing"
        assert facts.durable >= facts.watermark == read_watermark(state, run_hash)
        if round_no:
            assert facts.durable >= kills[-1].durable, "the resumed child lost what the first one wrote"
        kills.append(facts)
    assert run_hash is not None
    facts = kills[-1]
    if trial.inject_final:
        inject_torn_tail(repo, run_hash, trial.inject_final, rng, facts.last_seq + 1)
    if trial.resume_with == "sync":
        resumed = check_resume(repo, run_hash, facts)
        repaired = resumed.repaired + resumed.removed
    else:
        repaired = check_async_resume(repo, run_hash, facts, trial.backend)
    if trial.inject_final:
        assert repaired >= 1, "a torn tail was left but the resume repaired nothing"
    assert Run(run_hash, repo=repo, read_only=True)["hparams"]["backend"] == trial.backend


def test_the_async_resume_check_catches_lost_events(tmp_path: Path) -> None:
    # check_async_resume must be able to fail: remove a middle segment of a killed run.
    repo, state = tmp_path / "repo", tmp_path / "state"
    cfg = TrialConfig(seed=9, segment_max_bytes=16 * 1024, burst_max=300, sleep_max=0.0)
    proc, run_hash = start_async_child(repo, state, cfg, "asyncio", 0)
    time.sleep(0.5)
    kill_ts = kill(proc)
    facts = check_killed(repo, state, run_hash, kill_ts, 0)
    assert facts.segments >= 3, "expected rotation with 16 KiB segments"
    Repo(repo).layout.segment_paths(run_hash)[1].unlink()
    with pytest.raises(CrashCheckFailure):
        check_async_resume(repo, run_hash, facts, "asyncio")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_live_async_child_refuses_a_second_writer_and_its_lock_dies_with_it(
    tmp_path: Path, backend: str
) -> None:
    repo, state = tmp_path / "repo", tmp_path / "state"
    cfg = TrialConfig(seed=5, burst_max=50, sleep_max=0.01)
    proc, run_hash = start_async_child(repo, state, cfg, backend, 0)
    try:
        time.sleep(0.2)

        async def second_writer() -> None:
            async with AsyncRun(run_hash=run_hash, repo=repo):
                pass

        with pytest.raises(RunLockedError) as info:
            anyio.run(second_writer, backend=backend)
        assert info.value.pid == proc.pid
        with pytest.raises(RunLockedError):
            Run(run_hash=run_hash, repo=repo)
        assert Run(run_hash, repo=repo, read_only=True).status == "running"
        opened = Repo(repo)
        try:
            assert opened.run_status(run_hash) == "running"
        finally:
            opened.close()
        assert proc.poll() is None, "the refused second writer disturbed the live child"
    finally:
        kill_ts = kill(proc)
    assert proc.returncode == -signal.SIGKILL
    facts = check_killed(repo, state, run_hash, kill_ts, 0)
    # The kernel released the lock with the process: AsyncRun resumes at once, no force needed.
    check_async_resume(repo, run_hash, facts, backend)
