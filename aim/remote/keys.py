"""Object keys in the bucket.

``{prefix}runs/{hash}/events/{NNNNNNNN}.jsonl.zst``: one object per sealed segment. A run's
segment numbers never repeat and a sealed segment never changes, so a key names one immutable
content forever: the same layout as a local ``.aim``, so ``aws s3 sync`` the other way works too.

``{prefix}manifests/{snapshot}.json``: one per upload that shipped something, written last.

Keys read back from a listing are validated (hash, segment name) before they become paths, with
the one definition of each that storage uses for local paths (``\\Z``-anchored: a name ending in a
newline is not a name). A bad prefix or snapshot id given by a user is an ``InvalidRemoteNameError``.
"""

from __future__ import annotations

import re

from aim.errors import RemoteError
from aim.storage.hashes import is_run_hash
from aim.storage.layout import parse_segment_name

_SNAPSHOT = re.compile(r"[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}")  # UTC to the ms, then random; fullmatch
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidRemoteNameError(RemoteError, ValueError):
    """A bucket name, key prefix or snapshot id that cannot be used, refused before any request
    (also a ``ValueError``, which these checks raised before)."""


def normalize_prefix(prefix: str) -> str:
    """``"a/b"`` → ``"a/b/"``; ``""`` stays ``""``. Refuses ``..``, ``.``, empty segments, a
    leading slash and control characters."""
    prefix = prefix.strip()
    if not prefix:
        return ""
    parts = prefix.strip("/").split("/")
    if prefix.startswith("/") or any(p in ("", ".", "..") for p in parts) or _CONTROL.search(prefix):
        raise InvalidRemoteNameError(
            f"bad prefix {prefix!r}: use path segments like 'team/project' (no '..', '.', "
            "empty segments, leading '/' or control characters)")
    return "/".join(parts) + "/"


def validate_snapshot(snapshot: str) -> str:
    """Return ``snapshot`` if it is a snapshot id, else raise ``InvalidRemoteNameError``."""
    if not isinstance(snapshot, str) or not _SNAPSHOT.fullmatch(snapshot):
        raise InvalidRemoteNameError(
            f"bad snapshot id {snapshot!r} (expected like 20261126T104500123Z-1a2b3c; "
            "see --list-snapshots)")
    return snapshot


def segment_key(prefix: str, run_hash: str, segment: str) -> str:
    """The key of one segment."""
    return f"{prefix}runs/{run_hash}/events/{segment}"


def runs_prefix(prefix: str) -> str:
    """Where segment keys start."""
    return f"{prefix}runs/"


def parse_segment_key(prefix: str, key: str) -> tuple[str, str] | None:
    """``(hash, segment name)`` of a segment key, or None for anything else."""
    if not key.startswith(prefix + "runs/"):
        return None
    parts = key[len(prefix) + len("runs/"):].split("/")
    if len(parts) != 3 or parts[1] != "events" or not is_run_hash(parts[0]):
        return None
    if parse_segment_name(parts[2]) is None:
        return None
    return parts[0], parts[2]


def manifest_key(prefix: str, snapshot: str) -> str:
    """The key of one snapshot manifest."""
    return f"{prefix}manifests/{validate_snapshot(snapshot)}.json"


def manifests_prefix(prefix: str) -> str:
    """Where manifest keys start."""
    return f"{prefix}manifests/"


def parse_manifest_key(prefix: str, key: str) -> str | None:
    """The snapshot id of a manifest key, or None."""
    base = manifests_prefix(prefix)
    if not key.startswith(base) or not key.endswith(".json"):
        return None
    snap = key[len(base):-len(".json")]
    return snap if _SNAPSHOT.fullmatch(snap) else None
