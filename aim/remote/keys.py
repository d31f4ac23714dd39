"""Object keys in the bucket.

``{prefix}runs/{hash}/events/{NNNNNNNN}.jsonl.zst``: one object per sealed segment, and
``{prefix}runs/{hash}/blobs/{sha256}[.zst]``: one per blob (a tracked object's bytes), and
``{prefix}runs/{hash}/streams/{id}/events/{NNNNNNNN}.jsonl.zst`` for the segments of a run's
other writers (docs/distributed.md). A run's
segment numbers never repeat, a sealed segment never changes and a blob is named by its
content, so a key names one immutable content forever: the same layout as a local ``.aim``, so
``aws s3 sync`` the other way works too. Within a run, a file is named as the manifest lists it:
a segment by its name (``00000003.jsonl.zst``), a blob by ``blobs/`` and its name.

``{prefix}manifests/{snapshot}.json``: one per upload that shipped something, written last.

Keys read back from a listing are validated (hash, segment name) before they become paths, with
the one definition of each that storage uses for local paths (``\\Z``-anchored: a name ending in a
newline is not a name). A bad prefix or snapshot id given by a user is an ``InvalidRemoteNameError``.
"""

from __future__ import annotations

import re

from aim.errors import RemoteError
from aim.storage.hashes import is_run_hash
from aim.storage.layout import valid_run_file_name

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


BLOBS = "blobs/"
STREAMS = "streams/"


def run_file_key(prefix: str, run_hash: str, name: str) -> str:
    """The key of one of a run's files, named as ``RepoLayout.run_file_name`` names it: a
    segment name, ``streams/<id>/`` and a segment name, or ``blobs/<blob name>``."""
    if name.startswith(BLOBS):
        return f"{prefix}runs/{run_hash}/{name}"
    if name.startswith(STREAMS):
        _, stream, segment = name.split("/")
        return f"{prefix}runs/{run_hash}/{STREAMS}{stream}/events/{segment}"
    return f"{prefix}runs/{run_hash}/events/{name}"


def runs_prefix(prefix: str) -> str:
    """Where the keys of runs' files start."""
    return f"{prefix}runs/"


def valid_run_file(name: str) -> bool:
    """True for a run file's name (storage's one definition: ``valid_run_file_name``)."""
    return valid_run_file_name(name)


def parse_run_file_key(prefix: str, key: str) -> tuple[str, str] | None:
    """``(hash, run file name)`` of a segment's or a blob's key, or None for anything else."""
    if not key.startswith(prefix + "runs/"):
        return None
    parts = key[len(prefix) + len("runs/"):].split("/")
    if not parts or not is_run_hash(parts[0]):
        return None
    if len(parts) == 3 and parts[1] in ("events", "blobs"):
        name = parts[2] if parts[1] == "events" else BLOBS + parts[2]
    elif len(parts) == 5 and parts[1] + "/" == STREAMS and parts[3] == "events":
        name = f"{STREAMS}{parts[2]}/{parts[4]}"
    else:
        return None
    return (parts[0], name) if valid_run_file(name) else None


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
