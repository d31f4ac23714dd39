"""SIGKILL while the series store is being written: the next read detects what the kill left
(a missing or partial manifest, a file cut mid-chunk, chunks beyond what the manifest vouches
for) and gives exactly what the log holds."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aim import Run
from aim.sdk import series
from aim.storage.layout import RepoLayout, resolve_aim_dir
from tests.conftest import CHILDREN
from tests.sdk.test_series_store import QUIET, from_log, from_store, same

KILLS = 3


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("series-kill")
    with Run(repo=root, segment_max_bytes=256 << 10, **QUIET) as run:  # several segments
        for i in range(60_000):
            run.track(i * 0.25, name="loss", step=i, context={"subset": "train"})
            if i % 3 == 0:
                run.track(i, name="count", step=i // 3)
    return root, run.hash


@pytest.mark.parametrize("no", range(KILLS))
def test_a_kill_while_the_store_is_written_is_repaired_by_the_next_read(
        big_run: tuple[Path, str], no: int) -> None:
    root, h = big_run
    layout = RepoLayout(resolve_aim_dir(root))
    child = subprocess.Popen([sys.executable, str(CHILDREN / "series_child.py"), str(root), h],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ROUND"
        started = time.monotonic()
        assert child.stdout.readline().strip() == "ROUND"  # one whole round: its duration
        round_time = time.monotonic() - started
        time.sleep((no + 0.5) / KILLS * round_time)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    state = sorted(p.name for p in (series.series_root(layout) / h).iterdir())
    run = Run(h, repo=root, read_only=True)
    for name, ctx in (("loss", {"subset": "train"}), ("count", {})):
        assert same(from_store(run, name, ctx), from_log(layout, h, name, ctx)), (state, name)
    print(f"[kill #{no}] {round_time * 1000:.0f} ms per round; left on disk: {state}")


@pytest.mark.parametrize("point", ["mid-chunk", "after-chunks", "mid-manifest"])
@pytest.mark.parametrize("incremental", [False, True], ids=["fresh", "incremental"])
def test_a_kill_inside_the_stores_writes_is_repaired_by_the_next_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str, incremental: bool) -> None:
    from aim.sdk import run_base

    with Run(repo=tmp_path, **QUIET) as run:
        for i in range(500):
            run.track(i * 0.25, name="loss", step=i, context={"subset": "train"})
    h = run.hash
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    if incremental:
        # The store is whole (close made it); the kill lands in the catch-up of what a resumed
        # writer added, which closes without catching up.
        assert (series.series_root(layout) / h / "manifest.json").exists()
        monkeypatch.setattr(run_base, "CLOSE_CATCH_UP_BYTES", 0)
        with Run(h, repo=tmp_path, **QUIET) as more:
            for i in (10, 600, 601):  # step 10 again: a rewrite, not only an append
                more.track(-1.0, name="loss", step=i, context={"subset": "train"})
            more.track(5, name="new", step=0)
    else:
        series.drop(layout, h)
    done = subprocess.run([sys.executable, str(CHILDREN / "series_child.py"), str(tmp_path), h, point])
    assert done.returncode == -signal.SIGKILL, "the child must die at the injected point"
    state = sorted(p.name for p in (series.series_root(layout) / h).iterdir())
    run = Run(h, repo=tmp_path, read_only=True)
    for name, ctx in (("loss", {"subset": "train"}), ("new", {})):
        if not incremental and name == "new":
            continue
        assert same(from_store(run, name, ctx), from_log(layout, h, name, ctx)), (state, name)
