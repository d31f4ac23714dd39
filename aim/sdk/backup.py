"""Upload sealed segments and blobs to S3 (litestream's shape: immutable files, shipped
incrementally; ``sdk/restore.py`` brings them back). A run's blobs (its objects' bytes, named
by their SHA-256) are immutable as soon as they exist: they ship like sealed segments.

Upload: list the bucket once, ship every sealed local segment whose key is missing, then write
a manifest (the snapshot: every segment of this repository with its size and SHA-256) as the
commit point. A segment whose key exists is compared by SHA-256: from a local cache of what
this repository already confirmed there (no request at all), else from the object's metadata.
A second upload of an unchanged repository therefore sends no PUT and no manifest.

"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from aim.errors import RemoteConflictError, RemoteError, RunLockedError
from aim.remote import keys
from aim.remote.s3 import sha256_hex
from aim.remote.store import ObjectStore
from aim.sdk import indexer
from aim.sdk.store import RepoStore
from aim.storage.frames import FrameError, frame_length
from aim.storage.hashes import validate_run_hash
from aim.storage.layout import segment_name
from aim.storage.lock import RunLock, is_locked
from aim.storage.repair import repair_segments

Progress = Callable[[int, int], None]  # (bytes done, segments done) increments
_SETTLE_SECONDS = 5.0  # a torn tail younger than this is not repaired by an upload

_Report = TypeVar("_Report")


@dataclass
class LocalSegment:
    """One sealed segment on disk."""

    run_hash: str
    name: str
    path: Path
    size: int
    _sha256: str | None = None

    def read(self) -> bytes:
        data = self.path.read_bytes()
        self._sha256 = sha256_hex(data)
        return data

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self.read()
        return self._sha256  # type: ignore[return-value]


@dataclass
class UploadReport:
    """What an upload did (or, with ``dry_run``, would do)."""

    bucket: str
    prefix: str
    runs: int = 0
    segments: int = 0  # sealed local segments (and blobs) considered
    new_segments: int = 0
    new_blobs: int = 0  # blobs shipped (counted apart from segments)
    new_bytes: int = 0
    already_there: int = 0
    unsealed: int = 0  # live segments still being written: shipped once sealed
    snapshot: str | None = None
    dry_run: bool = False
    conflicts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


ENDPOINT_ENV = "AIM_S3_ENDPOINT_URL"  # an S3-compatible server, when no endpoint is given


def endpoint_from_env() -> str | None:
    """The S3 endpoint ``$AIM_S3_ENDPOINT_URL`` names, or None (AWS)."""
    return os.environ.get(ENDPOINT_ENV) or None


def open_store(bucket: str, endpoint_url: str | None = None, legacy_checksums: bool | None = None,
               client: Any = None) -> ObjectStore:
    """The bucket as a store: ``file:///path`` a folder (``LocalStore``), anything else an S3
    bucket (boto3 is imported here; ``MissingExtraError`` without it) at ``endpoint_url``, else
    ``$AIM_S3_ENDPOINT_URL``'s, else AWS."""
    if bucket.startswith("file://"):
        # A folder as the bucket (a shared filesystem between machines, a backup disk).
        from aim.remote.local import LocalStore

        return LocalStore(local_path(bucket))
    from aim.remote.s3 import S3Store

    return S3Store(bucket, endpoint_url=endpoint_url or endpoint_from_env(), client=client,
                   legacy_checksums=legacy_checksums)


def local_path(uri: str) -> str:
    """The folder of a ``file:///path`` store; ``InvalidRemoteNameError`` for anything else."""
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
        raise keys.InvalidRemoteNameError(f"bad store {uri!r}: a folder is file:///absolute/path")
    return parsed.path


def split_location(location: str, prefix: str = "") -> tuple[str, str]:
    """``s3://bucket/team/project`` as ``("bucket", "team/project")`` (a ``prefix`` given as
    well goes after the URI's); a bare bucket name or a ``file:///path`` store is kept as it is,
    with ``prefix``."""
    if not location.startswith("s3://"):
        return location, prefix
    bucket, _, path = location[len("s3://"):].partition("/")
    joined = "/".join(p for p in (path.strip("/"), prefix.strip("/")) if p)
    return bucket, joined


def check_location(bucket: str, prefix: str = "", snapshot: str | None = None) -> str:
    """Refuse a bad bucket name, prefix or snapshot id before anything is opened or created
    (``InvalidRemoteNameError``, one line); return the normalized prefix."""
    from aim.remote.s3 import validate_bucket

    if bucket.startswith("file://"):
        local_path(bucket)
    else:
        validate_bucket(bucket)
    if snapshot is not None:
        keys.validate_snapshot(snapshot)
    return keys.normalize_prefix(prefix)


def require_bucket(store: ObjectStore) -> None:
    """Raise ``RemoteError`` unless the bucket exists (a download never creates one)."""
    if not store.bucket_exists():
        raise RemoteError(f"no bucket {store.bucket!r} in {store.where}")


# --- local side ---------------------------------------------------------------------------------
def sealed_segments(repo: RepoStore, run_hashes: Iterable[str] | None = None,
                    streams: Iterable[str] | None = None) -> tuple[list[LocalSegment], int]:
    """Every sealed segment of the repository (or of ``run_hashes``), and how many were left
    out because a live writer is still appending to them.

    A run with a live writer: all its segments but the last. A run without one: all of them,
    once its last segment ends on a frame boundary; a torn tail (a crash) is first repaired
    under the run's lock, as any lock holder does. ``streams``: only these streams' segments
    (and the runs' blobs), what one writer of a run ships (``Run(sync=...)``).
    """
    only = None if streams is None else set(streams)
    layout = repo.layout
    hashes = list(run_hashes) if run_hashes is not None else indexer.run_hashes_on_disk(layout)
    out: list[LocalSegment] = []
    unsealed = 0
    for h in hashes:
        try:
            found = []
            for stream in layout.stream_ids(h):  # each writer's stream seals on its own
                if only is not None and stream not in only:
                    continue
                numbers = layout.segment_numbers(h, stream)
                if not numbers:
                    continue
                events = layout.events_dir(h, stream)
                last = events / segment_name(numbers[-1])
                live = is_locked(layout.lock_file(h, stream))
                if live or (not _ends_on_frame(last) and not _repair_if_crashed(repo, h, stream, last)):
                    numbers, unsealed = numbers[:-1], unsealed + 1
                for n in numbers:
                    path = events / segment_name(n)
                    found.append(LocalSegment(h, layout.run_file_name(h, path), path, path.stat().st_size))
            for path in layout.blob_paths(h):  # named by their content: final once they exist
                found.append(LocalSegment(h, layout.run_file_name(h, path), path, path.stat().st_size))
        except FileNotFoundError:  # pruned or moved away meanwhile: nothing to ship
            continue
        out.extend(found)
    return out, unsealed


def _ends_on_frame(path: Path) -> bool:
    # Frame headers carry sizes: walking them is cheap and finds a torn tail without
    # decompressing anything.
    data = path.read_bytes()
    pos = 0
    try:
        while pos < len(data):
            pos += frame_length(data, pos)
    except FrameError:
        return False
    return True


def _repair_if_crashed(repo: RepoStore, run_hash: str, stream: str, last: Path) -> bool:
    # A tail written moments ago is more likely a writer that just started or finished than a
    # crash: taking the run's lock to repair it would make that writer's next resume fail
    # (found by tools/loadtest.py). Such a segment waits for the next upload.
    if time.time() - last.stat().st_mtime < _SETTLE_SECONDS:
        return False
    return _repair(repo, run_hash, stream)


def _repair(repo: RepoStore, run_hash: str, stream: str) -> bool:
    lock = RunLock(repo.layout.lock_file(run_hash, stream))
    try:
        lock.acquire()
    except RunLockedError:  # a writer started meanwhile
        return False
    try:
        repair_segments(repo.layout.stream_segment_paths(run_hash, stream))
        return True
    finally:
        lock.release()


class _ConfirmedCache:
    """Segment keys this repository already saw in a bucket with a given SHA-256.

    Kept in ``index/`` (disposable like the rest of it): losing it costs one metadata request
    per segment at the next upload, never a wrong answer about what is in the bucket, because a
    key that is listed with a different size is re-checked.
    """

    def __init__(self, repo: RepoStore, store: ObjectStore, prefix: str) -> None:
        ident = hashlib.sha256(f"{store.where}|{store.bucket}|{prefix}".encode()).hexdigest()[:16]
        self.path = repo.layout.index_dir / f"uploaded-{ident}.json"
        try:
            self.known: dict[str, str] = orjson.loads(self.path.read_bytes())
        except (OSError, ValueError):
            self.known = {}
        self.dirty = False

    def add(self, key: str, sha256: str) -> None:
        if self.known.get(key) != sha256:
            self.known[key] = sha256
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(orjson.dumps(self.known))
        os.replace(tmp, self.path)
        self.dirty = False


# --- upload -----------------------------------------------------------------------------------------
Ship = tuple[str, LocalSegment]  # (key, the local file to put there)


UploadPlan = tuple[UploadReport, list[Ship], list[LocalSegment], _ConfirmedCache]


def plan_upload(repo: RepoStore, store: ObjectStore, prefix: str = "", run_hashes: Iterable[str] | None = None,
                *, dry_run: bool = False, streams: Iterable[str] | None = None) -> UploadPlan:
    """What an upload would ship (the report of what it found, the puts to make), read from
    the repository and the bucket; nothing is put (with ``dry_run`` not even the bucket is
    created). Also the sealed local files (the next manifest's) and the confirmed-keys cache."""
    prefix = keys.normalize_prefix(prefix)
    if run_hashes is not None:
        run_hashes = [validate_run_hash(h) for h in run_hashes]
    local, unsealed = sealed_segments(repo, run_hashes, streams)
    report = UploadReport(store.bucket, prefix, runs=len({s.run_hash for s in local}),
                          segments=len(local), unsealed=unsealed, dry_run=dry_run)
    exists = store.bucket_exists() if dry_run else (store.ensure_bucket() or True)
    remote = dict(store.list_objects(keys.runs_prefix(prefix))) if exists else {}
    cache = _ConfirmedCache(repo, store, prefix)
    todo: list[Ship] = []
    for seg in local:
        key = keys.run_file_key(prefix, seg.run_hash, seg.name)
        size = remote.get(key)
        try:
            if size is None:
                todo.append((key, seg))
            elif size != seg.size:
                report.conflicts.append(f"{key}: {size} bytes in the bucket, {seg.size} here")
            elif cache.known.get(key) == seg.sha256:
                report.already_there += 1
            elif store.remote_sha256(key) == seg.sha256:
                cache.add(key, seg.sha256)
                report.already_there += 1
            else:
                report.conflicts.append(f"{key}: different bytes in the bucket (same size)")
        except FileNotFoundError:  # pruned or moved away meanwhile: nothing to compare
            report.segments -= 1
    report.new_blobs = sum(1 for _, s in todo if s.name.startswith(keys.BLOBS))
    report.new_segments = len(todo) - report.new_blobs
    report.new_bytes = sum(s.size for _, s in todo)
    return report, todo, local, cache


def upload(
    repo: RepoStore,
    store: ObjectStore,
    prefix: str = "",
    run_hashes: Iterable[str] | None = None,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    streams: Iterable[str] | None = None,
) -> UploadReport:
    """Ship every sealed segment (and blob) not yet in the bucket, then a manifest: the plan
    of ``plan_upload``, applied; see the module doc."""
    prefix = keys.normalize_prefix(prefix)
    report, todo, local, cache = plan_upload(repo, store, prefix, run_hashes, dry_run=dry_run,
                                             streams=streams)
    if on_plan is not None:
        on_plan(report.new_bytes, len(todo))  # progress counts every put, blobs included
    if dry_run:
        return report

    def ship(key: str, seg: LocalSegment) -> bool | None:
        try:
            data = seg.read()
        except FileNotFoundError:  # pruned or moved away since the plan: nothing to ship
            return None
        return store.put_immutable(key, data, seg.sha256)

    try:
        shipped = blobs = 0
        for (key, seg), outcome in in_parallel(ship, todo):
            if isinstance(outcome, RemoteConflictError):
                report.conflicts.append(str(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome is None:
                report.segments -= 1
            else:
                shipped += 1 if outcome else 0
                blobs += 1 if outcome and seg.name.startswith(keys.BLOBS) else 0
                report.already_there += 0 if outcome else 1
                cache.add(key, seg.sha256)
            if progress is not None:
                progress(seg.size, 1)
        report.new_segments, report.new_blobs = shipped - blobs, blobs
        if shipped:
            report.snapshot = _write_manifest(store, prefix, [seg for seg in local if _exists(seg)])
    finally:
        cache.save()
    if report.conflicts:
        conflict = RemoteConflictError(
            f"{len(report.conflicts)} segment(s) conflict with different bytes in {store.where} "
            f"(nothing was overwritten): " + "; ".join(report.conflicts[:3])
            + (" ..." if len(report.conflicts) > 3 else "")
        )
        conflict.report = report  # type: ignore[attr-defined]
        raise conflict
    return report


def _exists(seg: LocalSegment) -> bool:
    """Still there (its SHA-256 known, or readable now): a pruned run leaves the manifest."""
    try:
        return bool(seg.sha256)
    except FileNotFoundError:
        return False


def _write_manifest(store: ObjectStore, prefix: str, local: list[LocalSegment]) -> str:
    # Sortable: UTC time to the millisecond, then a random part against a clash between hosts.
    now = time.time()
    snapshot = (time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}Z-"
                + secrets.token_hex(3))
    runs: dict[str, list[list[Any]]] = {}
    for seg in local:
        runs.setdefault(seg.run_hash, []).append([seg.name, seg.size, seg.sha256])
    body = orjson.dumps({"format": 1, "snapshot": snapshot, "created": time.time(),
                         "host": socket.gethostname(), "prefix": prefix, "runs": runs})
    store.put_immutable(keys.manifest_key(prefix, snapshot), body, sha256_hex(body))
    return snapshot


def follow_upload(repo: RepoStore, store: ObjectStore, prefix: str = "",
                  run_hashes: Iterable[str] | None = None,
                  interval: float = 10.0, on_round: Callable[[UploadReport], None] | None = None,
                  rounds: int | None = None) -> None:
    """Upload now, then every ``interval`` seconds (newly sealed segments), until interrupted
    (or for ``rounds`` rounds)."""
    in_rounds(lambda: upload(repo, store, prefix, run_hashes), interval, on_round, rounds)


def in_rounds(one: Callable[[], _Report], interval: float, on_round: Callable[[_Report], None] | None,
              rounds: int | None) -> None:
    """``one()`` now, then every ``interval`` seconds, each report to ``on_round``, until
    interrupted (or for ``rounds`` rounds): what ``--follow`` does, up and down."""
    n = 0
    while True:
        report = one()
        if on_round is not None:
            on_round(report)
        n += 1
        if rounds is not None and n >= rounds:
            return
        time.sleep(interval)


# --- download ---------------------------------------------------------------------------------------
def in_parallel(fn: Callable[..., Any], items: list[Any]) -> Iterator[tuple[Any, Any]]:
    """``(item, result or exception)`` as each call of ``fn(*item)`` finishes, a few at a time:
    requests to object storage are latency-bound, so several in flight multiply throughput. A
    failure stops new calls from starting (the ones in flight finish)."""
    workers = max(1, int(os.environ.get("AIM_S3_CONCURRENCY", "8")))
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="aim-s3") as pool:
        futures = {pool.submit(fn, *item): item for item in items}
        try:
            for fut in as_completed(futures):
                exc = fut.exception()
                yield futures[fut], exc if exc is not None else fut.result()
        finally:
            for fut in futures:
                fut.cancel()


