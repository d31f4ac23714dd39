"""Object keys in the bucket.

``{prefix}runs/{hash}/events/{NNNNNNNN}.jsonl.zst``: one object per sealed segment. A run's
segment numbers never repeat and a sealed segment never changes, so a key names one immutable
content forever: the same layout as a local ``.aim``, so ``aws s3 sync`` the other way works too.

``{prefix}manifests/{snapshot}.json``: one per upload that shipped something, written last.

Keys read back from a listing are validated (hash, segment name) before they become paths.
"""

from __future__ import annotations

import re

_HASH = re.compile(r"^[0-9a-f]{24}$")
_SEGMENT = re.compile(r"^[0-9]{8}\.jsonl\.zst$")
_SNAPSHOT = re.compile(r"^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{6}$")  # UTC to the ms, then random


def normalize_prefix(prefix: str) -> str:
    """``"a/b"`` → ``"a/b/"``; ``""`` stays ``""``. Refuses ``..`` and leading slashes."""
    prefix = prefix.strip()
    if not prefix:
        return ""
    parts = prefix.strip("/").split("/")
    if prefix.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad prefix {prefix!r}: use path segments like 'team/project'")
    return "/".join(parts) + "/"


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
    if len(parts) != 3 or parts[1] != "events" or not _HASH.match(parts[0]) or not _SEGMENT.match(parts[2]):
        return None
    return parts[0], parts[2]


def manifest_key(prefix: str, snapshot: str) -> str:
    """The key of one snapshot manifest."""
    if not _SNAPSHOT.match(snapshot):
        raise ValueError(f"bad snapshot id {snapshot!r} (expected like 20261126T104500123Z-1a2b3c)")
    return f"{prefix}manifests/{snapshot}.json"


def manifests_prefix(prefix: str) -> str:
    """Where manifest keys start."""
    return f"{prefix}manifests/"


def parse_manifest_key(prefix: str, key: str) -> str | None:
    """The snapshot id of a manifest key, or None."""
    base = manifests_prefix(prefix)
    if not key.startswith(base) or not key.endswith(".json"):
        return None
    snap = key[len(base):-len(".json")]
    return snap if _SNAPSHOT.match(snap) else None
