"""Repo: open or create a repository; list and read runs through the materialized index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from aim.core import events as ev
from aim.errors import RunNotFoundError
from aim.sdk import indexer
from aim.sdk.repo_read import RepoReadMixin
from aim.storage.hashes import validate_run_hash
from aim.storage.index import Index
from aim.storage.layout import AIM_DIR, RepoLayout, resolve_aim_dir
from aim.storage.lock import is_locked

if TYPE_CHECKING:
    from aim.sdk.query import QueryReportMode, QueryRunCollection
    from aim.sdk.run import Run
    from aim.sdk.sequence_query import QueryMetricCollection


class Repo(RepoReadMixin):
    """An aim repository: the ``.aim`` folder holding run logs and the index.

    ``Repo(path)`` opens an existing repository; ``path`` may name the folder that holds
    ``.aim`` or ``.aim`` itself. ``Repo.from_path(path, init=True)`` creates it when missing.
    """

    def __init__(self, path: str | os.PathLike[str], *, init: bool = False) -> None:
        self.layout = RepoLayout(resolve_aim_dir(path))
        if init:
            self.layout.init()
        else:
            self.layout.check()
        self._index: Index | None = None

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str | os.PathLike[str], init: bool = False) -> Repo:
        """Open the repository at ``path`` (create it when ``init`` is true)."""
        return cls(path, init=init)

    @classmethod
    def default_repo(cls, init: bool = True) -> Repo:
        """The nearest ``.aim`` in the working directory or its parents, else a new one here."""
        found = find_repo_dir(Path.cwd())
        if found is not None:
            return cls(found)
        return cls(Path.cwd(), init=init)

    @property
    def path(self) -> Path:
        """The ``.aim`` directory."""
        return self.layout.root

    @property
    def root_path(self) -> Path:
        """The folder holding ``.aim``."""
        return self.layout.root.parent

    def __repr__(self) -> str:
        return f"<Repo {self.layout.root}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Repo) and other.layout.root == self.layout.root

    def __hash__(self) -> int:
        return hash(self.layout.root)

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
            row["tags"] = orjson.loads(row["tags"])
            row["params"] = indexer.params_from_row(row)
            del row["params_marks"]
            row["archived"] = bool(row["archived"])
            row["deleted"] = bool(row["deleted"])
            row["status"] = self._live_status(row["hash"], row["status"])
            row["active"] = row["status"] == ev.STATUS_RUNNING
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
            lock = self.layout.lock_file(h)
            if h in known or not is_locked(lock):
                continue
            try:
                # The writer writes its pid into LOCK when it takes it, at the run's creation.
                created: float | None = round(lock.stat().st_mtime, 3)
            except OSError:
                created = None
            rows.append({"hash": h, "experiment": None, "name": None, "description": None,
                         "archived": False, "deleted": False, "status": ev.STATUS_RUNNING,
                         "creation_time": created, "end_time": None, "last_seq": -1, "tags": [],
                         "params": {}, "log_size": indexer.log_size(self.layout, h), "active": True})
        return rows

    def _live_status(self, run_hash: str, recorded: str) -> str:
        if recorded not in (ev.STATUS_RUNNING, ev.STATUS_CRASHED):
            return recorded
        return ev.STATUS_RUNNING if is_locked(self.layout.lock_file(run_hash)) else ev.STATUS_CRASHED

    def run_status(self, run_hash: str) -> str:
        """The derived status of one run (see ``list_runs``)."""
        row = self.index.run_row(validate_run_hash(run_hash))
        if row is None:
            raise RunNotFoundError(f"no run {run_hash} in {self.layout.root}")
        return self._live_status(run_hash, row["status"])

    def has_run(self, run_hash: str) -> bool:
        """True when a run directory with this hash exists (deleted or not)."""
        return self.layout.run_dir(run_hash).is_dir()

    def iter_runs(self) -> Iterator[Run]:
        """Every (not deleted) run, oldest first, opened read-only."""
        from aim.sdk.run import Run

        for run_hash in self.list_all_runs():
            if self.has_run(run_hash):
                yield Run(run_hash, repo=self, read_only=True)

    def get_run(self, run_hash: str) -> Run | None:
        """The run with this hash opened read-only, or None when there is none (or deleted)."""
        from aim.sdk.run import Run

        validate_run_hash(run_hash)
        if not self.has_run(run_hash):
            return None
        run = Run(run_hash, repo=self, read_only=True)
        return None if run._summary.deleted else run

    def query_runs(self, query: str = "", paginated: bool = False, offset: str | None = None,
                   report_mode: QueryReportMode | None = None) -> QueryRunCollection:
        """The runs for which the AimQL ``query`` holds (``docs/query.md``), oldest first.

        ``run.hparams.lr > 0.01 and run.experiment == "cifar"``: attributes, params, tags and
        status are read from the index, never from the logs; ``run.metrics["loss"].last`` reads
        the index's last values. A bad query raises ``QueryError`` naming the column. Aim's
        ``paginated``/``offset``: with ``offset`` (a run hash), only the runs after it.
        """
        from aim.sdk.query import QueryReportMode, QueryRunCollection, matching_rows

        rows = self.list_runs()
        if offset is not None:
            hashes = [row["hash"] for row in rows]
            rows = rows[hashes.index(offset) + 1:] if offset in hashes else []
        mode = QueryReportMode.PROGRESS_BAR if report_mode is None else report_mode
        return QueryRunCollection(self, matching_rows(self, query, rows, mode))

    def query_metrics(self, query: str = "",
                      report_mode: QueryReportMode | None = None) -> QueryMetricCollection:
        """The metric sequences for which the AimQL ``query`` holds (``metric.name == "loss"
        and run.hparams.lr > 0.01``), grouped by run: ``iter()`` yields ``Metric`` objects,
        ``iter_runs()`` one collection per run, ``dataframe()`` a pandas frame."""
        from aim.sdk.query import QueryReportMode
        from aim.sdk.sequence_query import query_metrics

        mode = QueryReportMode.PROGRESS_BAR if report_mode is None else report_mode
        return query_metrics(self, query, mode)

    # --- management (tombstones, compaction, transfer) ---------------------------------------
    def delete_run(self, run_hash: str) -> bool:
        """Tombstone one run (undo with ``restore_run`` until ``prune``); False on failure.

        A missing run or one held by a live writer is a failure (False), not a silent success.
        """
        from aim.sdk import maintenance

        return maintenance.delete(self, [validate_run_hash(run_hash)])[0].ok

    def delete_runs(self, run_hashes: list[str]) -> tuple[bool, list[str]]:
        """Tombstone several runs; return (all succeeded, hashes that could not be deleted)."""
        from aim.sdk import maintenance

        outcomes = maintenance.delete(self, [validate_run_hash(h) for h in run_hashes])
        remaining = [o.hash for o in outcomes if not o.ok]
        return not remaining, remaining

    def restore_run(self, run_hash: str) -> bool:
        """Undo a delete (possible until ``prune``); False on failure."""
        from aim.sdk import maintenance

        return maintenance.restore(self, [validate_run_hash(run_hash)])[0].ok

    def restore_runs(self, run_hashes: list[str]) -> tuple[bool, list[str]]:
        """Undo several deletes; return (all succeeded, hashes that could not be restored)."""
        from aim.sdk import maintenance

        outcomes = maintenance.restore(self, [validate_run_hash(h) for h in run_hashes])
        remaining = [o.hash for o in outcomes if not o.ok]
        return not remaining, remaining

    def close_runs(self, run_hashes: list[str]) -> tuple[bool, list[str]]:
        """Finish runs left open by a dead process; return (all succeeded, the others)."""
        from aim.sdk import maintenance

        outcomes = maintenance.close(self, [validate_run_hash(h) for h in run_hashes])
        remaining = [o.hash for o in outcomes if not o.ok]
        return not remaining, remaining

    def prune(self) -> Any:
        """Compact: remove tombstoned runs and the names, contexts and param keys only they used.

        Returns a ``PruneReport`` (runs, bytes, names, contexts, param_keys freed).
        """
        from aim.sdk import maintenance

        return maintenance.prune(self)

    def copy_runs(self, run_hashes: list[str], dest: Repo | str | os.PathLike[str]) -> tuple[bool, list[str]]:
        """Copy runs into another repository; return (all succeeded, hashes that failed)."""
        from aim.sdk import maintenance

        target = dest if isinstance(dest, Repo) else Repo(dest)
        outcomes = maintenance.copy(self, [validate_run_hash(h) for h in run_hashes], target)
        remaining = [o.hash for o in outcomes if not o.ok]
        return not remaining, remaining

    def move_runs(self, run_hashes: list[str], dest: Repo | str | os.PathLike[str]) -> tuple[bool, list[str]]:
        """Move runs into another repository (source removed only once the copy is complete)."""
        from aim.sdk import maintenance

        target = dest if isinstance(dest, Repo) else Repo(dest)
        outcomes = maintenance.copy(self, [validate_run_hash(h) for h in run_hashes], target, move=True)
        remaining = [o.hash for o in outcomes if not o.ok]
        return not remaining, remaining

    def verify(self, repair: bool = False) -> list[Any]:
        """Check every segment, ``seq`` order and the index; list the problems (``Problem``)."""
        from aim.sdk import verify

        return verify.verify(self, repair=repair)

    # --- registry (autocomplete) -----------------------------------------------------------
    # --- object storage --------------------------------------------------------------------
    def upload(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        runs: list[str] | None = None,
        dry_run: bool = False,
        client: Any = None,
        legacy_checksums: bool | None = None,
    ) -> Any:
        """Ship every sealed segment not yet in ``bucket`` (created when missing), then a
        snapshot manifest; returns an ``UploadReport``. Needs the ``s3`` extra (boto3);
        credentials come from boto3's standard chain. See docs/remote.md."""
        from aim.sdk import backup

        store = backup.open_store(bucket, endpoint_url, legacy_checksums, client)
        return backup.upload(self, store, prefix, runs, dry_run=dry_run)

    def download(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        snapshot: str | None = None,
        runs: list[str] | None = None,
        client: Any = None,
        legacy_checksums: bool | None = None,
    ) -> Any:
        """Fetch the segments of ``bucket`` (or of one ``snapshot``) missing here, verify each
        SHA-256, never overwrite a local segment, then rebuild the index; returns a
        ``DownloadReport``."""
        from aim.sdk import backup

        store = backup.open_store(bucket, endpoint_url, legacy_checksums, client)
        return backup.download(self, store, prefix, snapshot, runs)

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


_open_repos: dict[Path, Repo] = {}


def resolve_repo(repo: Repo | str | os.PathLike[str] | None, *, create: bool) -> Repo:
    """The Repo a Run should use: an instance, a path (created when ``create``), or the default."""
    if isinstance(repo, Repo):
        return repo
    if repo is None:
        return Repo.default_repo(init=create)
    key = resolve_aim_dir(repo)
    found = _open_repos.get(key)
    if found is not None and found.layout.version_file.exists():
        return found
    opened = Repo(repo, init=create)
    _open_repos[key] = opened
    return opened
