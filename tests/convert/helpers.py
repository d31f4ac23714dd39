"""What the importers' tests share: a digest of a source (it must not change), and an import
killed mid-way (a rerun must give the same runs)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def digest(folder: Path) -> str:
    """Every path under ``folder`` (folders too: a folder made beside the source shows), every
    file's bytes, and every symlink's target."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        if p.is_symlink():
            h.update(b"->" + os.readlink(p).encode())
        elif p.is_file():
            h.update(p.read_bytes())
        else:
            h.update(b"/")
    return h.hexdigest()


def kill_mid_import(source: str, src: Path, repo: Path, *, watch: str = "tmp", then: float = 0.0) -> bool:
    """Run ``aim convert SOURCE SRC --repo REPO``, wait until ``.aim/<watch>`` under REPO holds
    something (``tmp``: a run is being built; ``runs``: one is placed), wait ``then`` seconds
    more, and SIGKILL it. True when it was still running when killed."""
    proc = subprocess.Popen([sys.executable, "-m", "aim", "convert", source, str(src), "--repo", str(repo)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = repo / ".aim" / watch
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if watched.is_dir() and any(watched.iterdir()):
            break
        time.sleep(0.002)
    time.sleep(then)
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return alive
