"""One run for the run page, and the edits the UI makes to runs.

Edits are the SDK's and the CLI's events, never a side channel: rename, describe, archive and
tag append ``meta.set`` / ``tag.*`` events (``maintenance.edit``), delete appends a tombstone
and restore takes it back (``maintenance.delete`` / ``restore``). A run a live writer holds is
edited by that writer only: the UI gets a 409 saying so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from aim.core import events as ev
from aim.core.values import to_json_form
from aim.errors import RunNotFoundError
from aim.sdk import maintenance
from aim.storage.hashes import validate_run_hash
from aim.web.runs_page import run_attrs

if TYPE_CHECKING:
    from aim.sdk.repo import Repo

MAX_TEXT = 10_000
MAX_LOG_LINES = 20_000


class EditError(ValueError):
    """An edit the UI asked for that is malformed; the message says which field."""


def run_detail(repo: Repo, run_hash: str) -> dict[str, Any]:
    """Everything the run page shows but charts and logs: attributes, params (JSON form),
    and every sequence with its last value. ``RunNotFoundError`` when there is no such run."""
    row = repo.index.run_row(validate_run_hash(run_hash))
    if row is None:
        raise RunNotFoundError(f"no run {run_hash}")
    from aim.sdk.indexer import params_from_row

    detail = run_attrs(repo, row, time.time())
    detail["deleted"] = bool(row["deleted"])
    detail["forked_from"] = orjson.loads(row["forked_from"]) if row.get("forked_from") else None
    detail["params"] = to_json_form(params_from_row(row))
    detail["sequences"] = [
        {"name": name, "context": orjson.loads(context), "points": points, "last_step": last_step,
         "last": None if last is None else orjson.loads(last)}
        for name, context, points, last_step, last in repo.index.sequence_rows(run_hash)]
    return detail


def run_logs(repo: Repo, run_hash: str, after: int = 0) -> dict[str, Any]:
    """Terminal lines past the first ``after`` (with their ANSI codes: the page colours them;
    progress-bar redraws collapsed to their last state) and every log record."""
    run = repo.get_run(validate_run_hash(run_hash))
    if run is None:
        raise RunNotFoundError(f"no run {run_hash}")
    logs = run.get_terminal_logs()
    lines = [] if logs is None else [str(line) for line in logs.values]
    records = run.get_log_records()
    return {
        "lines": lines[after:after + MAX_LOG_LINES], "next": min(len(lines), after + MAX_LOG_LINES),
        "total": len(lines),
        "records": [] if records is None else [
            {"message": r.message, "level": r.level_name, "timestamp": r.timestamp}
            for r in records.values],
    }


def edit_events(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """The events an edit request asks for: ``{"name", "description", "archived",
    "add_tags", "remove_tags"}``, each optional. ``EditError`` for anything else."""
    if not isinstance(body, dict) or not body:
        raise EditError("an edit is a JSON object: name, description, archived, add_tags, remove_tags")
    unknown = set(body) - {"name", "description", "archived", "add_tags", "remove_tags"}
    if unknown:
        raise EditError(f"cannot edit {sorted(unknown)}: name, description, archived, add_tags, remove_tags")
    events: list[tuple[str, dict[str, Any]]] = []
    for field in ("name", "description"):
        if field in body:
            value = body[field]
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise EditError(f"{field} must be a string (at most {MAX_TEXT:,} characters) or null")
            events.append((ev.META_SET, {"field": field, "value": value or None}))
    if "archived" in body:
        if not isinstance(body["archived"], bool):
            raise EditError("archived must be true or false")
        events.append((ev.META_SET, {"field": "archived", "value": body["archived"]}))
    for field, etype in (("add_tags", ev.TAG_ADDED), ("remove_tags", ev.TAG_REMOVED)):
        tags = body.get(field, [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t and len(t) <= 1_000 for t in tags):
            raise EditError(f"{field} must be a list of non-empty strings")
        events += [(etype, {"tag": t}) for t in tags]
    return events


def edit_run(repo: Repo, run_hash: str, body: Any) -> dict[str, Any]:
    """Apply an edit (see ``edit_events``) and return the run as the page shows it."""
    events = edit_events(body)
    maintenance.edit(repo, validate_run_hash(run_hash), events)
    return run_detail(repo, run_hash)


def delete_or_restore(repo: Repo, run_hash: str, restore: bool) -> dict[str, Any]:
    """Tombstone a run, or take its tombstone back; what happened, in words."""
    op = maintenance.restore_one if restore else maintenance.delete_one
    return {"hash": run_hash, "message": op(repo, validate_run_hash(run_hash)).message}
