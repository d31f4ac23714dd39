"""Hold a run open for writing: ``hold_run_child.py REPO [EXPERIMENT] [--before-first-write]``.

Creates a run, sets a param, tracks ``loss`` (context ``{"subset": "train"}``) at steps 0..4 with
value ``step * 0.5``, makes it durable with ``run.flush()``, prints the run hash on stdout line 1,
then sleeps (keeping the writer lock) until it is killed. The parent either kills it with
SIGKILL (a crashed run) or uses it as a live writer that management commands must refuse.

``--before-first-write``: print the hash as soon as the run is created and write nothing (the
flush interval is 300 s): a kill leaves the run directory without a segment.
"""

import sys
import time

from aim import Run

args = [a for a in sys.argv[1:] if not a.startswith("--")]
repo = args[0]
experiment = args[1] if len(args) > 1 else "held"

if "--before-first-write" in sys.argv:  # nothing may write: no capture, no system samples
    run = Run(repo=repo, experiment=experiment, flush_interval=300, system_tracking_interval=None,
              capture_terminal_logs=False)
else:
    run = Run(repo=repo, experiment=experiment, flush_interval=30)
    run["hparams"] = {"batch": 32}
    for step in range(5):
        run.track(step * 0.5, name="loss", context={"subset": "train"})
    run.flush()
print(run.hash, flush=True)
time.sleep(300)
