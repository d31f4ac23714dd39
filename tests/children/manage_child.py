"""A run-management process meant to be SIGKILLed: ``manage_child.py OP SRC [--dest DEST] [--hashes FILE]``.

``OP`` is one of:

* ``delete``: for each hash in order (one a line in ``FILE``), ``delete_runs([h])`` -- or
  ``restore_run(h)`` when the run is already deleted, so one pass exercises both tombstones;
* ``prune``: one ``prune()`` of the whole repository (the hashes are ignored);
* ``copy`` / ``move``: for each hash in order, ``copy_runs([h], DEST)`` / ``move_runs([h], DEST)``.

Protocol on stdout (each line flushed at once): ``START`` when the repository is open and the
operation is about to begin, ``DONE <hash> <ok>`` after each per-run call returns, ``END <seconds>``
when everything returned (the seconds from ``START`` to ``END``). A failed per-run call is reported
(``ok`` is 0) and the loop goes on; the parent decides whether a failure is legitimate.

It imports nothing but ``aim`` and the standard library.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import aim.sdk.maintenance  # noqa: F401  (imported before START, so the first run is not slower)
from aim import Repo


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("op", choices=["delete", "prune", "copy", "move"])
    p.add_argument("src")
    p.add_argument("--dest")
    p.add_argument("--hashes", help="a file with one run hash a line")
    args = p.parse_args(argv)
    hashes = Path(args.hashes).read_text().split() if args.hashes else []

    # Open (and heal) the indexes before START: the operation starts right after it.
    repo = Repo(args.src)
    deleted = {r["hash"] for r in repo.index.run_rows(only_deleted=True)}
    dest = Repo(args.dest) if args.dest else None
    if dest is not None:
        dest.index.run_rows()
    t0 = time.monotonic()
    say("START")
    if args.op == "prune":
        repo.prune()
    for h in hashes if args.op != "prune" else []:
        if args.op == "delete":
            ok = repo.restore_run(h) if h in deleted else repo.delete_runs([h])[0]
        elif args.op == "copy":
            ok = repo.copy_runs([h], dest)[0]
        else:
            ok = repo.move_runs([h], dest)[0]
        say(f"DONE {h} {int(ok)}")
    say(f"END {time.monotonic() - t0:.6f}")


if __name__ == "__main__":
    main()
