"""A write that fails part-way leaves no half frame before the retry's whole one."""

from __future__ import annotations

import errno
import os

from aim.storage.segment_reader import SegmentScan, iter_payloads
from aim.storage.segment_writer import SegmentWriter


def test_a_write_failing_part_way_is_cut_back_so_the_retry_leaves_a_clean_segment(tmp_path, monkeypatch):
    writer = SegmentWriter(tmp_path, fsync=False)
    writer.write(b'{"seq":0}\n')
    real_write, calls = os.write, []

    def half_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:5]))  # a full disk takes what fits ...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... then refuses

    monkeypatch.setattr(os, "write", half_then_full)
    try:
        writer.write(b'{"seq":1}\n')
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        raise AssertionError("the write should have failed")
    monkeypatch.setattr(os, "write", real_write)
    writer.write(b'{"seq":1}\n')  # the flusher's retry
    writer.seal()
    path = writer.sealed[0]
    scan = SegmentScan(path)
    payloads = list(iter_payloads(path.read_bytes(), scan))
    assert len(calls) == 2
    assert scan.clean, scan  # without the cut: a damaged stretch in the middle of the segment
    assert payloads == [b'{"seq":0}\n', b'{"seq":1}\n']
