"""``Run(..., sync="s3://bucket/prefix")``: a writer ships its own stream's sealed segments (and
the run's blobs) to object storage as they seal, off the training thread (docs/distributed.md).

One thread per writer, holding the repository, the run's hash and the stream, never the run.
Every ``interval`` seconds it uploads what sealed since its last round (``backup.upload``,
restricted to this writer's stream: two ranks on one machine never ship each other's files),
and once more when the run closes, after the last segment is sealed. A failure is never silent:
it is printed and warned once, kept in ``error``, and the next round tries again. The run's
events are on the local disk whatever the network does.
"""

from __future__ import annotations

import sys
import threading
import warnings

from aim.sdk import backup
from aim.sdk.store import RepoStore

DEFAULT_SYNC_INTERVAL = 10.0  # seconds between rounds


def check_sync(location: str | None, interval: float) -> tuple[str, str] | None:
    """``(bucket, prefix)`` of a ``sync=`` location, refused at the call when it is not one
    (``InvalidRemoteNameError``); None when there is none."""
    if location is None:
        return None
    if not isinstance(location, str) or not location.startswith(("s3://", "file://")):
        raise ValueError(f"sync must be an s3://bucket/prefix or file:///path URI, got {location!r}")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
        raise ValueError(f"sync_interval must be a positive number of seconds, got {interval!r}")
    bucket, prefix = backup.split_location(location)
    return bucket, backup.check_location(bucket, prefix)


class RunSync(threading.Thread):
    """Ships one writer's sealed segments every ``interval`` seconds, and at ``finish``."""

    def __init__(self, repo: RepoStore, bucket: str, prefix: str, run_hash: str, stream: str,
                 interval: float) -> None:
        super().__init__(name=f"aim-sync-{run_hash[:8]}", daemon=True)
        self.repo, self.bucket, self.prefix = repo, bucket, prefix
        self.run_hash, self.stream, self.interval = run_hash, stream, interval
        self.error: BaseException | None = None
        self.shipped = 0  # segments and blobs put so far
        self._finishing = threading.Event()
        self._store: object | None = None
        self._warned = False

    def run(self) -> None:
        while not self._finishing.wait(self.interval):
            self.ship()

    def ship(self) -> None:
        """One round: upload what this stream sealed since the last (errors kept and said)."""
        try:
            if self._store is None:
                self._store = backup.open_store(self.bucket)  # endpoint: $AIM_S3_ENDPOINT_URL
            report = backup.upload(self.repo, self._store, self.prefix, [self.run_hash],  # type: ignore[arg-type]
                                   streams=[self.stream])
            self.shipped += report.new_segments + report.new_blobs
            self.error = None
        except Exception as exc:  # a background thread: said here, never lost
            self.error = exc
            if not self._warned:
                self._warned = True
                message = (f"aim: run {self.run_hash}: sync to {self.bucket} failed ({exc}); the "
                           "run is safe on the local disk, and the next round tries again")
                warnings.warn(message, RuntimeWarning, stacklevel=1)
                print(message, file=sys.stderr)

    def finish(self) -> None:
        """Stop the rounds, then ship what the close sealed."""
        self._finishing.set()
        if self.is_alive():
            self.join()
        self.ship()
