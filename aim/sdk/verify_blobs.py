"""Verify's checks of a run's blobs: every blob an ``object`` event refers to is there and
matches its SHA-256; a blob no event refers to (a crash between writing it and its event's
frame, or a leftover temporary file) is reported, and removed by ``--repair``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aim.core import events as ev
from aim.sdk.verify import Problem
from aim.storage.blobs import blob_name, check_blob_file
from aim.storage.layout import RepoLayout


def referenced_blobs(events: Iterable[dict[str, Any]]) -> set[str]:
    """The blob file names the ``object`` events among ``events`` refer to."""
    names: set[str] = set()
    for event in events:
        if event.get("type") == ev.OBJECT:
            for item in event.get("items") or []:
                if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                    try:
                        names.add(blob_name(item["sha256"], bool(item.get("zst"))))
                    except ValueError:
                        continue
    return names


def check_blobs(layout: RepoLayout, run_hash: str, referenced: set[str], *, live: bool,
                repair: bool) -> list[Problem]:
    """Problems with a run's blobs (see the module docstring)."""
    folder = layout.blobs_dir(run_hash)
    where = f"runs/{run_hash}/blobs"
    try:
        present = {p.name: p for p in folder.iterdir()}
    except FileNotFoundError:
        present = {}
    found = []
    for name in sorted(referenced):
        path = present.get(name)
        if path is None:
            found.append(Problem("blob_missing", f"{where}/{name}",
                                 "an object event refers to it; it is not there"))
            continue
        wrong = check_blob_file(path)
        if wrong is not None:
            found.append(Problem("blob_damaged", f"{where}/{name}", wrong))
    if live:
        return found  # its writer may be between a blob and the event that refers to it
    for name, path in sorted(present.items()):
        if name in referenced:
            continue
        problem = Problem("blob_unreferenced", f"{where}/{name}",
                          f"no event refers to it ({path.stat().st_size:,} bytes): left by a crash")
        if repair:
            path.unlink(missing_ok=True)
            problem.fixed = True
        found.append(problem)
    return found
