"""Load and race regressions (issue 8): the load harness at a reduced size, and the defects it
found, each pinned by a deterministic test named after it."""

from __future__ import annotations

import json
import subprocess
import sys

from aim import Repo, Run
from aim.sdk import indexer
from tests.conftest import ROOT

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def test_loadtest_at_reduced_size_loses_and_duplicates_nothing(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "loadtest.py"), "--procs", "6",
                           "--seconds", "6", "--repo-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and report["failures"] == 0, report
    assert report["ops"]["create"] > 0 and report["ops"]["resume"] > 0 and report["ops"]["delete"] > 0


def test_heal_with_a_stale_listing_keeps_a_run_created_meanwhile(tmp_path, monkeypatch):
    # The race the load test found: a heal listed runs/, another process created and closed a
    # run, then the heal read the index, saw the new row, found it missing from its (stale)
    # listing and removed it. A run that closed cleanly then vanished from `ls`.
    repo = tmp_path / "repo"
    Run(repo=repo, **QUIET).close()
    real = indexer.run_hashes_on_disk
    created: list[str] = []

    def listing_then_a_new_run(layout):
        hashes = real(layout)
        if not created:
            created.append("busy")
            run = Run(repo=repo, **QUIET)  # appears right after the listing
            run.close()
            created[0] = run.hash
        return hashes

    monkeypatch.setattr(indexer, "run_hashes_on_disk", listing_then_a_new_run)
    r = Repo(repo)
    r.index  # noqa: B018 - opening heals
    monkeypatch.setattr(indexer, "run_hashes_on_disk", real)
    # Asked of the same index, before any other heal could put the row back.
    assert created[0] in {row["hash"] for row in r.index.run_rows()}
