"""One rank of a simulated distributed job: ``rank_child.py REPO STATE_DIR SECONDS [SEGMENT_AGE]``.

The parent sets the launcher's variables (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``TORCHELASTIC_RUN_ID``) as ``torchrun`` does; ``Run()`` finds the job's
run from them. The rank then:

* sets ``hparams.lr`` (every rank a different value: rank 0's must win the merge) and
  ``ranks.r<k>`` (every rank its own key: all must be in the merge);
* tracks ``loss`` (context ``{"subset": "train"}``, automatic steps) with the value
  ``rank * 1e6 + step``, in bursts; after each burst ``run.flush()``, then appends the number
  of loss steps now durable to ``STATE_DIR/rank-<k>.flushed``: they must survive a SIGKILL;
* after SECONDS closes the run and appends ``DONE``.

A restarted rank resumes its stream: its steps carry on from what its stream holds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from aim import Run

TRAIN = {"subset": "train"}


def main() -> None:
    repo, state_dir, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    age = {"segment_max_age": float(sys.argv[4])} if len(sys.argv) > 4 else {}
    rank = int(os.environ["RANK"])
    run = Run(repo=repo, experiment="dist", flush_interval=0.2, system_tracking_interval=None,
              capture_terminal_logs=False, **age)
    run["hparams"] = {"lr": 0.001 * (rank + 1), "batch": 32}
    run["ranks", f"r{rank}"] = rank
    flushed = os.open(state_dir / f"rank-{rank}.flushed", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # What a restart continues from: the steps this rank's stream holds (get_metric on rank
    # k reads its own sequence, {"rank": k} added as track adds it).
    loss = run.get_metric("loss", TRAIN)
    step = loss.steps[-1] + 1 if loss is not None and len(loss) else 0
    print(run.hash, step, flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(25):
            run.track(float(rank * 1_000_000 + step), name="loss", context=TRAIN)
            step += 1
        run.flush()
        os.write(flushed, f"{step}\n".encode())
        time.sleep(0.02)
    run.close()
    os.write(flushed, b"DONE\n")


if __name__ == "__main__":
    main()
