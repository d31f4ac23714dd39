"""A repository read straight from object storage: ``Repo("s3://bucket/prefix")``,
``aim runs ls --repo s3://...``, ``aim up --repo s3://...`` (docs/distributed.md).

The bucket is the truth; what is read is a local cache of it: a repository under
``$AIM_CACHE_DIR`` (default ``~/.cache/aim/remote``), one per bucket, prefix and endpoint,
brought up to date by a download (only the files it lacks, each checked against its SHA-256)
each time the view is opened. The cache is read-only to aim: runs are written where they are
trained, and shipped with ``aim runs upload``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from aim.remote.keys import normalize_prefix
from aim.sdk import backup, restore
from aim.sdk.store import RepoStore


def cache_dir(uri: str, endpoint: str | None) -> Path:
    """The local cache of one remote repository: named by a digest of what identifies it."""
    root = Path(os.environ.get("AIM_CACHE_DIR") or Path.home() / ".cache" / "aim" / "remote")
    digest = hashlib.sha256(f"{uri}\0{endpoint or ''}".encode()).hexdigest()[:16]
    return root / digest


def sync_view(uri: str) -> Path:
    """Bring the cache of ``uri`` up to date from the bucket; return the folder holding its
    ``.aim``. ``RemoteError`` when the bucket does not exist or cannot be read."""
    bucket, prefix = backup.split_location(uri)
    prefix = backup.check_location(bucket, prefix)
    endpoint = backup.endpoint_from_env()
    store = backup.open_store(bucket, endpoint)
    backup.require_bucket(store)
    folder = cache_dir(f"{bucket}/{normalize_prefix(prefix)}", endpoint)
    cache = RepoStore(folder, init=True)
    try:
        restore.download(cache, store, prefix, check_present=False)
    finally:
        cache.close()
    return folder
