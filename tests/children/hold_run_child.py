"""Hold a run open for writing: ``hold_run_child.py REPO [EXPERIMENT]``.

Creates a run, sets a param, tracks ``loss`` (context ``{"subset": "train"}``) at steps 0..4 with
value ``step * 0.5``, makes it durable with ``run.flush()``, prints the run hash on stdout line 1,
then sleeps (keeping the writer lock) until it is killed. The parent either kills it with
SIGKILL (a crashed run) or uses it as a live writer that management commands must refuse.
"""

import sys
import time

from aim import Run

repo = sys.argv[1]
experiment = sys.argv[2] if len(sys.argv) > 2 else "held"

run = Run(repo=repo, experiment=experiment, flush_interval=30)
run["hparams"] = {"batch": 32}
for step in range(5):
    run.track(step * 0.5, name="loss", context={"subset": "train"})
run.flush()
print(run.hash, flush=True)
time.sleep(300)
