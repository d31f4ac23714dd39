"""Track into a repository on a nearly full filesystem: ``disk_full_child.py REPO N``.

Prints ``tracked N``, then ``closed`` or ``close failed: MESSAGE``, then the run's hash.
"""

from __future__ import annotations

import random
import sys
import time

from aim import Run
from aim.errors import RunClosedError

repo, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
run = Run(repo=repo, flush_interval=0.05, max_buffered_events=5_000,
          system_tracking_interval=None, capture_terminal_logs=False)
t0 = time.monotonic()
for _ in range(n):
    run.track(rng.random(), name="loss")  # random doubles: about 9 bytes each on disk
print(f"tracked {n} in {time.monotonic() - t0:.1f}s", flush=True)
try:
    run.close()
    print("closed", flush=True)
except RunClosedError as exc:
    print(f"close failed: {exc}", flush=True)
print(run.hash, flush=True)
