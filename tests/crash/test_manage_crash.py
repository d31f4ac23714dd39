"""SIGKILL run-management operations at random moments: delete/restore, prune, copy, move.

The trial and its checks live in ``manage_checks.py`` (``tools/crashtest.py`` runs the same at
scale). Here, per operation: ten kills at seeded, stratified fractions of the operation's
duration (calibrated once per operation, beside a writer too), and one targeted kill (the child
held at its first index write right after a step on disk). Each trial prints one line
(``pytest -s``): where the kill landed and what it left.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from tests.crash.manage_checks import (
    CHECKS,
    TARGETS,
    Template,
    Trial,
    _check_dest,
    _check_index_is_a_replay,
    _opened,
    _same_files,
    _segments,
    _toggled,
    _verify,
    build_template,
    calibrate,
    report,
    run_killed,
)

RANDOM_KILLS = 10
TRIALS = RANDOM_KILLS + 1  # the last trial is the targeted kill


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("template"))


def _kill_point(template: Template, op: str, no: int, work: Path) -> Trial:
    """Trial ``no`` of ``op``: a kill at a seeded fraction of the op's duration, stratified over
    the trials, or (the last trial) the moment ``TARGETS[op]`` holds the child at."""
    seconds = calibrate(template, op, work)
    if no < RANDOM_KILLS:
        rng = random.Random(f"{op}-{no}")
        return run_killed(template, op, no, work / "trial", (no + rng.random()) / RANDOM_KILLS * seconds)
    return run_killed(template, op, no, work / "trial", TARGETS[op](template))


@pytest.mark.parametrize("no", range(TRIALS))
@pytest.mark.parametrize("op", ["delete", "prune", "copy", "move"])
def test_killed_management_op_leaves_whole_states_and_a_rerun_finishes_it(
        template: Template, tmp_path: Path, op: str, no: int) -> None:
    """delete/restore: each run deleted or not, never half; prune beside a live writer: finished
    by the next prune; copy: whole runs or nothing in the destination; move: every run somewhere,
    and a re-run finishes it."""
    t = _kill_point(template, op, no, tmp_path)
    CHECKS[op](template, t)
    print(report(t))


# --- the checks can fail -----------------------------------------------------------------------
def test_the_checks_catch_half_done_states(template: Template, tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    shutil.copytree(template.src, src)
    shutil.copytree(template.dest, dest)
    t = Trial("copy", 0, src, dest, pid=4_000_000, how="synthetic", done=[], finished=False, end_s=None,
              writer="0" * 24, watermark=0)
    big = template.big[0]
    first = template.order.index(big)

    # A half copy in the destination's runs/ (segments missing), then a copy out of order.
    shutil.copytree(src / ".aim" / "runs" / template.order[0], dest / ".aim" / "runs" / template.order[0])
    assert _check_dest(template, t) == ([template.order[0]], None)
    half = dest / ".aim" / "runs" / big
    (half / "events").mkdir(parents=True)
    for name, data in template.files[big][:3]:
        (half / "events" / name).write_bytes(data)
    with pytest.raises(AssertionError, match="segments"):
        _check_dest(template, t)
    shutil.rmtree(half)
    assert first > 1
    shutil.copytree(src / ".aim" / "runs" / template.order[2], dest / ".aim" / "runs" / template.order[2])
    with pytest.raises(AssertionError, match="not a prefix"):
        _check_dest(template, t)
    shutil.rmtree(dest / ".aim" / "runs" / template.order[2])

    # A tmp/ entry of another process, or for a run the child is not at.
    (dest / ".aim" / "tmp" / f"{template.order[1]}.123").mkdir(parents=True)
    with pytest.raises(AssertionError, match="not the killed child's"):
        _check_dest(template, t)
    stray = dest / ".aim" / "tmp" / f"{template.order[1]}.123"
    stray.rename(stray.with_name(f"{template.order[5]}.{t.pid}"))
    with pytest.raises(AssertionError, match="not the run after"):
        _check_dest(template, t)
    shutil.rmtree(dest / ".aim" / "tmp")

    # A tombstone out of the child's order; a changed segment.
    h = template.order[1]
    with _opened(src) as repo:
        assert repo.restore_run(h) if h in template.deleted else repo.delete_run(h)
    with pytest.raises(AssertionError, match="not a prefix"):
        _toggled(template, Trial("delete", 0, src, dest, t.pid, "synthetic", [], False, None, t.writer, 0))
    seg = _segments(src, big)[2]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="changed"):
        _same_files(template, src, big)
    # verify reports the damage, which no kill explains.
    with pytest.raises(AssertionError, match="unexplained"):
        _verify(t, src, lambda p: p["kind"] == "index_drift")

    # An index row that differs from the log.
    with _opened(dest) as repo:
        repo.index.update_run(template.dest_own, deleted=1)
    with pytest.raises(AssertionError, match="differs from a reindex"):
        _check_index_is_a_replay(dest)
