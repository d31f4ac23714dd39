"""The format promise: the real `zstd -dcq` and `jq` read a run, even while it is open."""

from __future__ import annotations

import math
import random
import shutil
import subprocess

import orjson
import pytest

from aim import Run

pytestmark = pytest.mark.skipif(
    shutil.which("zstd") is None or shutil.which("jq") is None,
    reason="needs the zstd and jq commands (make test installs them: tools/ensure_cli_tools.sh)",
)


def _shell(cmd: str, cwd) -> str:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_zstd_and_jq_read_exactly_what_was_tracked_including_the_live_segment(repo_path):
    rng = random.Random(7)
    # several sealed segments
    closed = Run(repo=repo_path, segment_max_bytes=2048, system_tracking_interval=None)
    expected_closed = [rng.random() for _ in range(3000)]
    for i, v in enumerate(expected_closed):
        closed.track(v, name="loss", context={"subset": "train"})
        if i % 500 == 499:
            closed.flush()  # one frame per flush; each frame past 2 KiB seals a segment
    closed.close()
    assert len(closed.repo.layout.segment_paths(closed.hash)) > 1

    live = Run(closed.hash, repo=repo_path, system_tracking_interval=None)  # resumed: a new, open segment
    tail = [rng.random() for _ in range(500)] + [math.nan, math.inf]
    for v in tail:
        live.track(v, name="loss", context={"subset": "train"})
    live["hparams"] = {"lr": 0.5}
    live.flush()  # on disk, but the run is still open and holds its lock
    out = _shell(
        f"zstd -dcq .aim/runs/{live.hash}/events/*.zst "
        "| jq -c 'select(.type==\"metric\") | [.seq, .step, .context.subset, .value]'",
        cwd=repo_path,
    )
    rows = [orjson.loads(line) for line in out.splitlines()]
    values = [r[3] for r in rows]
    assert values[:-2] == expected_closed + tail[:-2]
    assert values[-2:] == ["NaN", "Infinity"]  # stored form of non-finite floats
    assert [r[1] for r in rows] == list(range(len(expected_closed) + len(tail)))
    assert {r[2] for r in rows} == {"train"}
    seqs = [r[0] for r in rows]
    assert seqs == sorted(seqs)
    every = _shell(f"zstd -dcq .aim/runs/{live.hash}/events/*.zst | jq -c .seq", cwd=repo_path)
    assert [int(x) for x in every.split()] == list(range(live._state.next_seq))
    params = _shell(
        f"zstd -dcq .aim/runs/{live.hash}/events/*.zst | jq -c 'select(.type==\"param.set\") | .value'",
        cwd=repo_path,
    )
    assert params.strip() == '{"lr":0.5}'
    live.close()
