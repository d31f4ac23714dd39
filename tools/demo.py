"""The Quickstart demo: a small real training loop that tracks, then lists its run.

Fits y = 3x - 2 with plain SGD (no ML framework needed), tracking train and validation loss
per step and the learning rate per epoch, then prints `aim runs ls` and `aim runs show`.

    python tools/demo.py [--repo PATH] [--epochs N]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys

from aim import Run


def train(repo: str, epochs: int) -> str:
    rng = random.Random(0)
    data = [(x, 3 * x - 2 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(256))]
    train_set, val_set = data[:200], data[200:]
    w, b, lr = 0.0, 0.0, 0.05
    with Run(repo=repo, experiment="quickstart") as run:
        run.name = "linear-regression"
        run["hparams"] = {"lr": lr, "epochs": epochs, "batch_size": 1, "optimizer": "sgd"}
        run.add_tag("demo")
        step = 0
        for epoch in range(epochs):
            rng.shuffle(train_set)
            for x, y in train_set:
                err = (w * x + b) - y
                w -= lr * err * x
                b -= lr * err
                if step % 20 == 0:
                    run.track(err * err, name="loss", step=step, epoch=epoch, context={"subset": "train"})
                step += 1
            val = sum(((w * x + b) - y) ** 2 for x, y in val_set) / len(val_set)
            run.track(val, name="loss", step=step, epoch=epoch, context={"subset": "val"})
            run.track(lr, name="lr", epoch=epoch)
            lr *= 0.8
        run["result"] = {"w": round(w, 4), "b": round(b, 4)}
        print(f"trained run {run.hash}: w={w:.3f} b={b:.3f} (true 3, -2), val loss {val:.4f}")
        return run.hash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default="build/demo", help="repository folder (default: build/demo)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    run_hash = train(args.repo, args.epochs)
    for cmd in (["runs", "ls"], ["runs", "show", run_hash]):
        print(f"\n$ aim {' '.join(cmd)} --repo {args.repo}", flush=True)
        subprocess.run([sys.executable, "-m", "aim", *cmd, "--repo", args.repo], check=True)


if __name__ == "__main__":
    main()
