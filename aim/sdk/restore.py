"""Download from S3 what a repository is missing (``aim runs download``): a restore that plans
first (litestream's shape), from a manifest (``snapshot``) or from the bucket listing; each
missing file is fetched into ``tmp/``, checked against its SHA-256 and renamed into place, a
run's blobs before its segments (a segment that arrives never names a blob that is not there);
then the index is rebuilt. Existing local files are never overwritten: identical ones are
skipped, different ones are reported as conflicts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aim.errors import RemoteConflictError, RemoteError
from aim.remote import keys
from aim.remote.s3 import sha256_hex
from aim.remote.store import ObjectStore
from aim.sdk import indexer
from aim.sdk.backup import Progress, in_parallel, in_rounds, require_bucket
from aim.sdk.store import RepoStore
from aim.storage.hashes import validate_run_hash
from aim.storage.layout import RepoLayout, run_file_stream
from aim.storage.lock import is_locked, read_holder_pid


@dataclass
class DownloadReport:
    """What a download did."""

    bucket: str
    prefix: str
    snapshot: str | None = None
    runs: int = 0
    segments: int = 0
    new_segments: int = 0
    new_blobs: int = 0
    new_bytes: int = 0
    already_here: int = 0
    conflicts: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def list_snapshots(store: ObjectStore, prefix: str = "") -> list[str]:
    """Snapshot ids in the bucket, oldest first."""
    prefix = keys.normalize_prefix(prefix)
    snaps = (keys.parse_manifest_key(prefix, k) for k, _ in store.list_objects(keys.manifests_prefix(prefix)))
    return sorted(s for s in snaps if s)


Fetch = tuple[str, str, int, str | None]  # (run hash, run file name, size, sha256 or None)


def plan_download(layout: RepoLayout, store: ObjectStore, prefix: str = "", snapshot: str | None = None,
                  run_hashes: Iterable[str] | None = None, *, check_present: bool = True,
                  ) -> tuple[DownloadReport, list[Fetch]]:
    """What a download would fetch into the repository at ``layout`` (which need not exist),
    and the report of what it found: reads the bucket, writes nothing. ``download`` applies it;
    ``aim runs download --dry-run`` shows it. A file already here is compared with the
    bucket's by SHA-256 (``check_present``), or by size only: what a follower or a bucket's
    view does each round, since every file it has came through a download that checked it,
    and a key names one content forever."""
    prefix = keys.normalize_prefix(prefix)
    wanted = None if run_hashes is None else {validate_run_hash(h) for h in run_hashes}
    require_bucket(store)
    plan: list[tuple[str, str, int, str | None]] = []  # (hash, segment, size, sha256 or None)
    if snapshot is not None:
        key = keys.manifest_key(prefix, snapshot)
        try:
            data, _ = store.get_bytes(key)
        except RemoteError as exc:
            if getattr(exc, "code", None) in ("NoSuchKey", "404"):
                raise RemoteError(f"no snapshot {snapshot} under {store.where}/{prefix}",
                                  hint="aim runs download BUCKET --list-snapshots") from None
            raise
        try:
            manifest = orjson.loads(data)
            for h, segs in manifest.get("runs", {}).items():
                for name, size, sha in segs:
                    if _valid(h, name):
                        plan.append((h, name, int(size), sha))
        except (ValueError, TypeError, AttributeError):
            raise RemoteError(f"snapshot {snapshot} in {store.where}: its manifest is not one this "
                              "aim reads (damaged, or written by something else)") from None
    else:
        for key, size in store.list_objects(keys.runs_prefix(prefix)):
            parsed = keys.parse_run_file_key(prefix, key)
            if parsed is not None:
                plan.append((parsed[0], parsed[1], size, None))
    if wanted is not None:
        plan = [p for p in plan if p[0] in wanted]
    report = DownloadReport(store.bucket, prefix, snapshot, runs=len({p[0] for p in plan}), segments=len(plan))
    todo: list[Fetch] = []
    live: dict[tuple[str, str], str] = {}
    for h, name, size, sha in plan:
        local = _local_path(layout, h, name)
        if not local.exists():
            stream = run_file_stream(name)
            if stream is not None and ((h, stream) in live or (
                    layout.run_dir(h).is_dir() and is_locked(layout.lock_file(h, stream)))):
                # A live writer of that stream here (even one that has not written yet) picks
                # its next segment number from what is on disk: a segment placed under it would
                # mix two histories. Other streams of the run (another machine's ranks) and
                # blobs (named by their content) arrive as usual.
                if (h, stream) not in live:
                    pid = read_holder_pid(layout.lock_file(h, stream))
                    live[h, stream] = f"process {pid}" if pid else "another process"
                    which = f"stream {stream} of run {h}" if stream else f"run {h}"
                    report.conflicts.append(f"{which} is open for writing here by {live[h, stream]}: "
                                            "its missing segments were not downloaded")
                continue
            todo.append((h, name, size, sha))
            continue
        key = keys.run_file_key(prefix, h, name)
        if local.stat().st_size == size and (not check_present or sha256_hex(local.read_bytes()) == (
                sha or store.remote_sha256(key))):
            report.already_here += 1
        else:
            report.conflicts.append(f"{h}/{name}: the local segment differs from {key} (kept as is)")
    report.new_blobs = sum(1 for t in todo if t[1].startswith(keys.BLOBS))
    report.new_segments = len(todo) - report.new_blobs
    report.new_bytes = sum(t[2] for t in todo)
    return report, todo


def download(
    repo: RepoStore,
    store: ObjectStore,
    prefix: str = "",
    snapshot: str | None = None,
    run_hashes: Iterable[str] | None = None,
    *,
    progress: Progress | None = None,
    on_plan: Callable[[int, int], None] | None = None,
    check_present: bool = True,
) -> DownloadReport:
    """Fetch the segments missing here (all of the bucket's, or one snapshot's); see the module
    doc (``check_present``: see ``plan_download``)."""
    layout = repo.layout
    prefix = keys.normalize_prefix(prefix)
    report, todo = plan_download(layout, store, prefix, snapshot, run_hashes, check_present=check_present)
    report.new_segments = report.new_blobs = report.new_bytes = 0  # counted again as they arrive
    if on_plan is not None:
        on_plan(sum(p[2] for p in todo), len(todo))
    layout.tmp.mkdir(parents=True, exist_ok=True)

    def fetch(item: tuple[str, str, int, str | None]) -> bool:
        h, name, _size, sha = item
        key = keys.run_file_key(prefix, h, name)
        tmp = layout.tmp / f"download-{h}-{name.replace('/', '-')}-{secrets.token_hex(4)}"
        try:
            with open(tmp, "wb") as f:
                got, recorded = store.download_to(key, f)
                f.flush()
                os.fsync(f.fileno())
            expected = sha or recorded
            if expected is not None and got != expected:
                raise RemoteError(f"{key}: downloaded bytes have sha256 {got[:16]}..., expected "
                                  f"{expected[:16]}...; nothing was written")
            target = _local_path(layout, h, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # appeared meanwhile: never overwrite
                return False
            os.replace(tmp, target)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    # Blobs first: a segment that arrives names only blobs that are already here.
    phases = [[t for t in todo if t[1].startswith(keys.BLOBS)],
              [t for t in todo if not t[1].startswith(keys.BLOBS)]]
    try:
        for (h, name, size, _sha), outcome in (r for phase in phases for r in in_parallel(
                lambda *item: fetch(item), phase)):
            if isinstance(outcome, BaseException):
                raise outcome
            if not outcome:
                report.conflicts.append(f"{h}/{name}: appeared locally during the download (kept)")
                continue
            if name.startswith(keys.BLOBS):
                report.new_blobs += 1
            else:
                report.new_segments += 1
            report.new_bytes += size
            if progress is not None:
                progress(size, 1)
    finally:
        touched = {h for h, name, _, _ in todo if not name.startswith(keys.BLOBS)}
        if touched:
            indexer.refresh(layout, repo.index, sorted(touched))
    if report.conflicts:
        conflict = RemoteConflictError(
            f"{len(report.conflicts)} conflict(s) with what is here, which was kept as it is: "
            + "; ".join(report.conflicts[:3]) + (" ..." if len(report.conflicts) > 3 else "")
        )
        conflict.report = report  # type: ignore[attr-defined]
        raise conflict
    return report


def follow_download(repo: RepoStore, store: ObjectStore, prefix: str = "",
                    run_hashes: Iterable[str] | None = None, interval: float = 10.0,
                    on_round: Callable[[DownloadReport], None] | None = None,
                    rounds: int | None = None) -> None:
    """Download now, then every ``interval`` seconds (what other machines shipped since), until
    interrupted (or for ``rounds`` rounds): a reader's merged view of runs written elsewhere.
    A conflict is reported in its round and the next round goes on; a bucket that does not
    exist yet (the writers' first upload creates it) is an empty round."""
    def one() -> DownloadReport:
        if not store.bucket_exists():
            return DownloadReport(store.bucket, keys.normalize_prefix(prefix))
        try:
            return download(repo, store, prefix, None, run_hashes, check_present=False)
        except RemoteConflictError as exc:
            return exc.report  # type: ignore[attr-defined]

    in_rounds(one, interval, on_round, rounds)


def _valid(run_hash: str, name: str) -> bool:
    try:
        validate_run_hash(run_hash)
    except ValueError:
        return False
    return keys.valid_run_file(name)


def _local_path(layout: Any, run_hash: str, name: str) -> Path:
    """Where a run file (as the manifest names it) lives here."""
    return Path(layout.run_file_path(run_hash, name))
