"""Materialize a run's series store: ``series_child.py REPO RUN_HASH [POINT]``.

Without ``POINT``: each round drops the run's store and folds its whole log in again
(``series.catch_up``), printing ``ROUND`` first, until the parent SIGKILLs it.

With ``POINT``, the child SIGKILLs itself at that point of a catch-up's writes (the moments a
timed kill almost never hits, since decoding the log takes nearly all of a round):
``mid-chunk`` (half a chunk's bytes written), ``after-chunks`` (every chunk written, the
manifest not), ``mid-manifest`` (half of the new manifest's temporary file written).
"""

import os
import signal
import sys

from aim.sdk import series
from aim.storage import series_files
from aim.storage.layout import RepoLayout, resolve_aim_dir

layout = RepoLayout(resolve_aim_dir(sys.argv[1]))
run_hash = sys.argv[2]
point = sys.argv[3] if len(sys.argv) > 3 else None


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if point == "mid-chunk":
    def append(self, file_id, valid, cols):  # type: ignore[no-untyped-def]
        chunk = series_files.encode_chunk(cols)
        with open(self._file(file_id), "ab") as f:
            f.truncate(valid)
            f.write(chunk[: len(chunk) // 2])
        die()
    series_files.SeriesDir.append = append  # type: ignore[method-assign]
elif point == "after-chunks":
    series_files.SeriesDir.write_manifest = lambda self, manifest: die()  # type: ignore[method-assign]
elif point == "mid-manifest":
    def write_manifest(self, manifest):  # type: ignore[no-untyped-def]
        data = series_files.orjson.dumps(manifest)
        (self.path / f"{series_files.MANIFEST}.{os.getpid()}.tmp").write_bytes(data[: len(data) // 2])
        die()
    series_files.SeriesDir.write_manifest = write_manifest  # type: ignore[method-assign]

if point is not None:
    series.catch_up(layout, run_hash)
    sys.exit(3)  # not reached: the point was never hit
while True:
    print("ROUND", flush=True)
    series.drop(layout, run_hash)
    series.catch_up(layout, run_hash)
