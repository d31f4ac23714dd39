"""SIGKILL while a real process tracks images: a blob is durable before the frame whose event
refers to it, so no kill ever leaves a reference to a missing blob; what a kill can leave (a
blob whose event never reached the log) is reported by verify and removed by --repair."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from aim import Repo, Run

CHILD = """
import sys
import numpy as np
from aim import Run
from aim.sdk.objects import Image, Text
run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False,
          flush_interval=0.02)
print(run.hash, flush=True)
rng = np.random.default_rng(int(sys.argv[2]))
step = 0
while True:
    run.track([Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(3)],
              name="imgs", step=step)
    run.track(Text("x" * int(rng.integers(1, 2000))), name="txt", step=step)
    step += 1
"""


def test_sigkill_while_tracking_images_never_loses_a_referenced_blob(tmp_path: Path) -> None:
    rng = random.Random(7)
    for trial in range(4):
        repo = tmp_path / f"r{trial}"
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(repo), str(trial)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        h = child.stdout.readline().strip()
        assert len(h) == 24, child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.3, 1.2))
        child.send_signal(signal.SIGKILL)
        child.wait()
        problems = Repo(repo).verify(repair=True)
        assert not [p for p in problems if p.kind in ("blob_missing", "blob_damaged")], problems
        assert {p.kind for p in problems} <= {"torn_tail", "blob_unreferenced", "index_drift"}
        assert Repo(repo).verify() == []  # repaired: clean
        run = Run(h, repo=repo, read_only=True)
        images = run.get_image_sequence("imgs")
        assert images is not None and len(images) > 0
        # Every referenced blob reads back and matches its SHA-256 (read() checks it).
        assert all(len(v) == 3 and v[0].width == 16 for v in images.values)
        assert len(run.get_text_sequence("txt").values) >= len(images) - 1
