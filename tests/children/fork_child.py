"""A process forking or rewinding runs, meant to be SIGKILLed: ``fork_child.py OP REPO FILE``.

``OP`` is ``fork`` or ``rewind``; ``FILE`` holds one ``<hash> <step>`` a line. For each line in
order: ``fork_run(repo, hash, step, finished=True)`` (the printed child is the fork's hash) or
``rewind_run(repo, hash, step)``.

Protocol on stdout (each line flushed at once): ``START`` when the repository is open and the
work is about to begin, ``DONE <hash> <child or ->`` after each call returns, ``END <seconds>``.
It imports nothing but ``aim`` and the standard library.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from aim import Repo
from aim.sdk.fork import fork_run, rewind_run


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    op, root, todo = sys.argv[1], sys.argv[2], Path(sys.argv[3]).read_text().split("\n")
    repo = Repo(root)
    repo.index.run_rows()  # opened and healed before START
    t0 = time.monotonic()
    say("START")
    for line in filter(None, todo):
        h, step = line.split()
        if op == "fork":
            child, _ = fork_run(repo, h, int(step), finished=True)
            say(f"DONE {h} {child}")
        else:
            rewind_run(repo, h, int(step))
            say(f"DONE {h} -")
    say(f"END {time.monotonic() - t0:.6f}")


if __name__ == "__main__":
    main()
