"""A child process that writes a run the way a training script does, for the UI's live tests.

    python writer.py REPO live SECONDS   # a new run tracking "loss" (subset=train) every 0.1 s,
                                         # printing a yellow line and tracking a Text every 10 steps
    python writer.py REPO logs           # a finished run with coloured terminal output, log
                                         # records and system metrics (captured for real)

Prints the run's hash on its first line (flushed), so the test can wait for it.
"""

from __future__ import annotations

import sys
import time

from aim import Run, Text


def live(repo: str, seconds: float) -> None:
    with Run(repo=repo, experiment="live", system_tracking_interval=None) as run:
        run["hparams"] = {"lr": 0.5}
        sys.__stdout__.write(run.hash + "\n")
        sys.__stdout__.flush()
        step = 0
        end = time.time() + seconds
        while time.time() < end:
            run.track(1.0 / (step + 1), name="loss", step=step, context={"subset": "train"})
            if step % 10 == 0:
                print(f"\x1b[33mstep {step}\x1b[0m", flush=True)
                run.track(Text(f"note at step {step}"), name="notes", step=step)
            step += 1
            time.sleep(0.1)


def logs(repo: str) -> None:
    with Run(repo=repo, experiment="logs", system_tracking_interval=0.2) as run:
        run["hparams"] = {"lr": 0.3, "opt": {"name": "adam"}}
        sys.__stdout__.write(run.hash + "\n")
        sys.__stdout__.flush()
        print("\x1b[31mred alert\x1b[0m then plain <b>not bold</b>", flush=True)
        print("\x1b[1;32mbold green\x1b[0m", flush=True)
        run.log_info("an info record")
        run.log_warning("a warning record")
        for step in range(20):
            run.track(step * 0.5, name="acc", step=step)
        time.sleep(1.0)  # a few system samples


if __name__ == "__main__":
    if sys.argv[2] == "live":
        live(sys.argv[1], float(sys.argv[3]))
    else:
        logs(sys.argv[1])
