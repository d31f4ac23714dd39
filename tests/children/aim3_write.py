"""Run by Aim 3.29 (its own venv): write a real Aim 3 repository for
``tests/convert/test_aim3.py``. ``aim3_write.py REPO`` writes every run; ``aim3_write.py REPO
crash`` writes one run and is killed (SIGKILL by itself) before it closes, as a crashed
training script is."""

import os
import signal
import sys

import numpy as np
import plotly.graph_objects as go

from aim import Audio, Distribution, Figure, Image, Run, Text

repo = sys.argv[1]
QUIET = {"log_system_params": False, "system_tracking_interval": None}

if sys.argv[2:] == ["crash"]:
    run = Run(repo=repo, experiment="crashes", capture_terminal_logs=False, **QUIET)
    run["hparams"] = {"seed": 3}
    for i in range(50):
        run.track(i * 0.25, name="loss", step=i)
    os.kill(os.getpid(), signal.SIGKILL)

rng = np.random.default_rng(3)

run = Run(repo=repo, experiment="exp-a", capture_terminal_logs=True, **QUIET)
run.name = "everything"
run.description = "one of each kind"
run.add_tag("baseline")
run.add_tag("v2")
run.props.add_note("a note from the UI")  # what Aim's UI does with a run's notes
run.props.add_note("and a second one")
run["hparams"] = {"lr": 0.001, "layers": [64, 32, {"dropout": None}], "flag": True, "name": "adam",
                  "big": 2**40, "neg": -7, "tiny": 1e-300, "empty": {}, "blob": b"\x00\xff"}
run["dataset"] = "cifar10"
for i in range(30):
    run.track(1 / 3 + i * 1e-12, name="loss", step=i, epoch=i // 10, context={"subset": "train"})
    run.track(float(rng.normal()), name="loss", step=i * 2, context={"subset": "val", "fold": 1})
    run.track(i * 7, name="count", step=i)  # an int sequence
print("hello from stdout")
print("a second line")
run.log_info("an info record", batch=3)
run.log_warning("a warning")
run.log_error("an error")
for step in range(3):
    run.track(Image(rng.integers(0, 255, (6, 5, 3), dtype=np.uint8), caption=f"sample {step}"), name="samples",
              step=step, context={"subset": "train"})
    run.track(Text(f"text at step {step}"), name="notes", step=step)
    run.track(Distribution(rng.normal(size=200), bin_count=16), name="weights", step=step, epoch=step)
run.track([Image(np.full((4, 4), k * 40, dtype=np.uint8), caption=f"grid {k}") for k in range(3)], name="grid",
          step=0)
wav = Audio(np.sin(np.linspace(0, 60, 800)).astype(np.float32), rate=8000, caption="tone")
run.track(wav, name="sound", step=0)
run.track(Figure(go.Figure(data=[go.Scatter(x=[1, 2, 3], y=[3, 1, 2])])), name="curve", step=0)
run.close()

archived = Run(repo=repo, experiment="exp-b", capture_terminal_logs=False, **QUIET)
archived.name = "old"
archived.add_tag("baseline")
archived["config"] = {"optimizer": {"name": "sgd", "momentum": 0.9}, "epochs": 3}
for i in range(5):
    archived.track(0.5**i, name="acc", step=i)
archived.archived = True
archived.close()

for k in range(6):  # bulk runs: enough that a kill lands mid-import
    bulk = Run(repo=repo, experiment="bulk", capture_terminal_logs=False, **QUIET)
    bulk["trial"] = k
    for i in range(1500):
        bulk.track(float(np.float64(i) / 7 + k), name="loss", step=i, context={"subset": "train"})
        bulk.track(float(i % 13), name="lr", step=i)
    bulk.close()
