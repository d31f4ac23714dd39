"""A run's tracked objects for the run page: the sequences, each one's steps, and blobs.

Texts and distributions are small: they come inline (a text's string, a histogram's weights
and range). Images, audio and figures come as references the page fetches one by one from
``/api/runs/{hash}/blobs/{sha256}`` (each blob checked against its SHA-256 when read, served
with the content type its bytes say), so a page of 100 steps does not move every image at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import orjson

from aim.core.values import plain_context
from aim.errors import RunNotFoundError
from aim.storage.blobs import BlobError, RunBlobs, blob_name
from aim.storage.hashes import validate_run_hash

if TYPE_CHECKING:
    from aim.sdk.repo import Repo

MAX_STEPS = 1_000  # steps sent per sequence: the last ones
_INLINE = ("text", "distribution")


class ObjectsError(ValueError):
    """A request for objects that cannot be answered; the message says why."""


def object_sequences(repo: Repo, run_hash: str) -> list[dict[str, Any]]:
    """Every object sequence of a run, from the index: kind, name, context, points, last step."""
    return [{"kind": kind, "name": name, "context": orjson.loads(context), "points": points, "last_step": last}
            for name, context, kind, points, last in repo.index.object_rows(validate_run_hash(run_hash))]


def object_steps(repo: Repo, run_hash: str, kind: str, name: str, context: Any) -> dict[str, Any]:
    """One sequence's last ``MAX_STEPS`` steps: each step's items with their metadata (and, for
    texts and distributions, their content)."""
    run = repo.get_run(validate_run_hash(run_hash))
    if run is None:
        raise RunNotFoundError(f"no run {run_hash}")
    try:
        ctx = plain_context(context)
    except (TypeError, ValueError) as exc:
        raise ObjectsError(f"bad context: {exc}") from None
    seq = run._object_sequence(kind, name, ctx)
    if seq is None:
        raise ObjectsError(f"run {run_hash} has no {kind} sequence {name!r} with context {json.dumps(ctx)}")
    blobs = run._run_blobs()
    steps = []
    for step, items in seq.metadata()[-MAX_STEPS:]:
        if kind in _INLINE:
            for item in items:
                item["content"] = _inline(kind, blobs, item)
        steps.append({"step": step, "items": items})
    return {"kind": kind, "name": name, "context": ctx, "steps": steps, "total_steps": len(seq)}


def _inline(kind: str, blobs: RunBlobs, item: dict[str, Any]) -> Any:
    data = blobs.read(item["sha256"], bool(item.get("zst")))
    if kind == "text":
        return data.decode("utf-8", "replace")
    # A distribution's blob is its weights; its range and bin count are in the metadata.
    return {"weights": orjson.loads(data), "range": item.get("range"), "bin_count": item.get("bin_count")}


def blob(repo: Repo, run_hash: str, sha256: str, compressed: bool | None = None) -> tuple[bytes, str]:
    """A blob's bytes as tracked, and their content type; ``compressed`` None: whichever of the
    two forms the run holds (a SHA-256 names one content, stored one way)."""
    blobs = RunBlobs(repo.layout.blobs_dir(validate_run_hash(run_hash)))
    try:
        if compressed is None:
            compressed = not (blobs.path / blob_name(sha256, False)).exists()
        data = blobs.read(sha256, compressed)
    except ValueError as exc:  # not a SHA-256
        raise ObjectsError(str(exc)) from None
    except BlobError as exc:
        raise RunNotFoundError(str(exc)) from None
    return data, content_type(data)


def content_type(data: bytes) -> str:
    """What the bytes are, from their first bytes (never from the request)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if data[:1] in (b"{", b"["):
        return "application/json"
    return "application/octet-stream"
