"""RepoStore: one repository's layout and materialized index, and the run listing derived from
them; the bottom of ``sdk``.

What runs, maintenance, backup, verify and export need of a repository, and nothing of what
sits above them: ``Repo`` (``sdk/repo.py``), the public front door, is a ``RepoStore`` that adds
Aim's API (runs opened as ``Run`` objects, queries, management, object storage) on top. So
nothing below the front door imports it, and it imports them at module level.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from aim.core import events as ev
from aim.errors import RunNotFoundError
from aim.sdk import indexer
from aim.storage.hashes import validate_run_hash
from aim.storage.index import Index
from aim.storage.layout import AIM_DIR, RepoLayout, resolve_aim_dir

REMOTE_SCHEMES = ("s3://", "file://")  # a repository read from object storage (sdk/remote_view.py)


def is_remote(path: object) -> bool:
    """True for a repository given as an object-storage URI (``s3://``, or ``file://`` for a
    folder used as a bucket)."""
    return isinstance(path, str) and path.startswith(REMOTE_SCHEMES)


class RepoStore:
    """The ``.aim`` folder of one repository: its layout, its index (opened and healed on first
    use) and the listing of its runs with their derived status."""

    def __init__(self, path: str | os.PathLike[str], *, init: bool = False) -> None:
        self.layout = RepoLayout(resolve_aim_dir(path))
        if init:
            self.layout.init()
        else:
            self.layout.check()
        self._index: Index | None = None
        # The object-storage URI when this is a local view of one (``Repo("s3://...")``):
        # read-only, runs are changed where they are written.
        self.remote: str | None = None

    @property
    def path(self) -> Path:
        """The ``.aim`` directory."""
        return self.layout.root

    @property
    def root_path(self) -> Path:
        """The folder holding ``.aim``."""
        return self.layout.root.parent

    # --- the index -------------------------------------------------------------------------
    @property
    def index(self) -> Index:
        """The materialized index, opened (and healed) on first use."""
        if self._index is None:
            self._index = indexer.open_index(self.layout)
        return self._index

    def close(self) -> None:
        """Close the index connection."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def reindex(self) -> int:
        """Drop the index and rebuild it by replaying every run's log; return the run count."""
        self.close()
        return indexer.rebuild(self.layout)

    # --- listing ---------------------------------------------------------------------------
    def list_all_runs(self) -> list[str]:
        """Hashes of every (not deleted) run, oldest first."""
        return [r["hash"] for r in self.index.run_rows()]

    def list_runs(
        self, *, experiment: str | None = None, include_deleted: bool = False,
        only_deleted: bool = False, include_starting: bool = False,
    ) -> list[dict[str, Any]]:
        """Run summaries from the index, oldest first, with a derived ``status``.

        ``status`` is running, finished, failed, terminated, or crashed (started, never
        finished, and no live writer holds its lock).

        ``include_starting`` adds the runs a live writer has created but not yet indexed (its
        first flush has not happened): status running, experiment and name unknown (None),
        ``creation_time`` when its writer took the lock. No experiment matches them, and they
        are never deleted.
        """
        rows = self.index.run_rows(
            experiment=experiment, include_deleted=include_deleted, only_deleted=only_deleted
        )
        for row in rows:
            self._decode_row(row)
        if include_starting and experiment is None and not only_deleted:
            rows += self._starting_rows()
        return rows

    def starting_runs(self) -> list[str]:
        """Runs held by a live writer that are not in the index yet: created, first flush not
        yet done (nothing of them is on disk but their directory and lock)."""
        return [row["hash"] for row in self._starting_rows()]

    def _starting_rows(self) -> list[dict[str, Any]]:
        known = self.index.indexed()
        rows: list[dict[str, Any]] = []
        for h in indexer.run_hashes_on_disk(self.layout):
            if h in known or not self.layout.is_live(h):
                continue
            try:
                # The writer writes its pid into LOCK when it takes it, at the run's creation.
                created: float | None = round(self.layout.run_dir(h).stat().st_mtime, 3)
            except OSError:
                created = None
            rows.append({"hash": h, "experiment": None, "name": None, "description": None,
                         "archived": False, "deleted": False, "status": ev.STATUS_RUNNING,
                         "creation_time": created, "end_time": None, "last_seq": -1, "tags": [],
                         "params": {}, "log_size": indexer.log_size(self.layout, h), "active": True})
        return rows

    def live_status(self, run_hash: str, recorded: str) -> str:
        """The status readers show for a recorded one: "running" becomes "crashed" when no
        live writer holds the run's lock."""
        if recorded not in (ev.STATUS_RUNNING, ev.STATUS_CRASHED):
            return recorded
        return ev.STATUS_RUNNING if self.layout.is_live(run_hash) else ev.STATUS_CRASHED

    def _decode_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """An index row (``Index.run_rows``) as ``list_runs`` gives it, in place: tags and exact
        params decoded, flags as bools, the derived status and ``active``."""
        row["tags"] = orjson.loads(row["tags"])
        row["params"] = indexer.params_from_row(row)
        del row["params_marks"]
        row["archived"] = bool(row["archived"])
        row["deleted"] = bool(row["deleted"])
        row["status"] = self.live_status(row["hash"], row["status"])
        row["active"] = row["status"] == ev.STATUS_RUNNING
        return row

    def run_status(self, run_hash: str) -> str:
        """The derived status of one run (see ``list_runs``)."""
        row = self.index.run_row(validate_run_hash(run_hash))
        if row is None:
            raise RunNotFoundError(f"no run {run_hash} in {self.layout.root}")
        return self.live_status(run_hash, row["status"])

    def has_run(self, run_hash: str) -> bool:
        """True when a run directory with this hash exists (deleted or not)."""
        return self.layout.run_dir(run_hash).is_dir()

    def available_sequences(self) -> list[tuple[str, dict[str, Any]]]:
        """Distinct (metric name, context) pairs used by runs in the repo."""
        return [(n, orjson.loads(c)) for n, c in self.index.registry_sequences()]

    def available_params(self) -> list[str]:
        """Distinct dotted param keys used by runs in the repo."""
        return self.index.registry_params()


def find_repo_dir(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds a ``.aim`` directory."""
    for folder in (start, *start.parents):
        if (folder / AIM_DIR).is_dir():
            return folder
    return None


_open_stores: dict[Path, RepoStore] = {}


def resolve_store(repo: RepoStore | str | os.PathLike[str] | None, *, create: bool) -> RepoStore:
    """The store a Run should use: a store (a ``Repo`` is one), a path (created when
    ``create``), or the nearest ``.aim`` above the working directory (else a new one there)."""
    if isinstance(repo, RepoStore):
        if repo.remote is not None and create:
            raise ValueError(f"{repo.remote} is read here from a local view: a run writes to a local "
                             "repository, shipped with `aim runs upload` (docs/distributed.md)")
        return repo
    if is_remote(repo):
        raise ValueError(f"a run writes to a local repository, not {repo}: ship it there with "
                         "`aim runs upload` (docs/distributed.md)")
    if repo is None:
        found = find_repo_dir(Path.cwd())
        repo = found if found is not None else Path.cwd()
    key = resolve_aim_dir(repo)
    opened = _open_stores.get(key)
    if opened is not None and opened.layout.version_file.exists():
        return opened
    opened = RepoStore(repo, init=create)
    _open_stores[key] = opened
    return opened
