"""Truncate a torn tail back to the last good frame. Run under the run's lock; idempotent.

Only a torn tail is cut: bytes after the last valid frame with no valid frame after them.
Damage followed by valid frames is left alone (cutting would lose valid events) and reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aim.storage.segment_reader import SegmentScan, scan_segment


@dataclass
class RepairReport:
    """What a repair pass did to one run."""

    truncated: list[tuple[Path, int]]
    removed_empty: list[Path]
    damaged: list[SegmentScan]

    @property
    def changed(self) -> bool:
        """True when a file was modified or removed."""
        return bool(self.truncated or self.removed_empty)


def repair_segments(paths: list[Path]) -> RepairReport:
    """Scan ``paths`` and truncate their torn tails."""
    return repair_scans([scan_segment(p) for p in paths])


def repair_scans(scans: list[SegmentScan]) -> RepairReport:
    """Truncate the torn tails that ``scans`` found; drop segments with no valid frame at all."""
    report = RepairReport([], [], [])
    for scan in scans:
        path = scan.path
        if scan.damaged:
            report.damaged.append(scan)
        if not scan.torn_tail:
            continue
        if scan.good_end == 0 and not scan.damaged:
            # Nothing valid was ever written: the crash hit the first frame.
            path.unlink()
            report.removed_empty.append(path)
            continue
        with open(path, "r+b") as fh:
            fh.truncate(scan.good_end)
            fh.flush()
            os.fsync(fh.fileno())
        report.truncated.append((path, scan.torn_tail))
    return report
