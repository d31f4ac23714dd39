"""Repo: the front door of a repository (Aim's ``Repo``): runs, queries, management, object
storage, over the ``RepoStore`` below it (layout, index, listing).

Nothing under ``sdk`` imports this module: runs, maintenance, backup, verify and export work on a
``RepoStore``. The modules it calls are imported where they are used, for weight only
(``aim runs ls`` must not load zstandard, boto3 or the writer).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aim.sdk.repo_read import RepoReadMixin
from aim.sdk.store import RepoStore, find_repo_dir, is_remote
from aim.storage.hashes import validate_run_hash

if TYPE_CHECKING:
    from aim.sdk.backup import UploadReport
    from aim.sdk.maintenance import PruneReport
    from aim.sdk.query import QueryReportMode, QueryRunCollection
    from aim.sdk.restore import DownloadReport
    from aim.sdk.run import Run
    from aim.sdk.sequence_query import QueryMetricCollection
    from aim.sdk.verify import Problem


class Repo(RepoStore, RepoReadMixin):
    """An aim repository: the ``.aim`` folder holding run logs and the index (Aim's front door).

    ``Repo(path)`` opens an existing repository; ``path`` may name the folder that holds
    ``.aim`` or ``.aim`` itself. ``Repo.from_path(path, init=True)`` creates it when missing.
    """

    def __init__(self, path: str | os.PathLike[str], *, init: bool = False) -> None:
        if is_remote(path):
            # Imported here: boto3 and the download only for a repository in object storage.
            from aim.sdk.remote_view import sync_view

            super().__init__(sync_view(str(path)))
            self.remote = str(path)
        else:
            super().__init__(path, init=init)

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

    def __repr__(self) -> str:
        return f"<Repo {self.layout.root}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Repo) and other.layout.root == self.layout.root

    def __hash__(self) -> int:
        return hash(self.layout.root)

    def iter_runs(self) -> Iterator[Run]:
        """Every (not deleted) run, oldest first, opened read-only."""
        from aim.sdk.run import Run

        # Built from the index rows (healed when the index was opened): params, tags and times
        # with no log read; sequences on first use. 500 runs in a few ms (tools/bench.py).
        from_row = Run._from_index_row
        for values in self.index.run_tuples():
            yield from_row(self, values)

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
        the index's last values. SQLite selects the candidates (what it can decide of the
        query), Python evaluates the rest. A bad query raises ``QueryError`` naming the column.
        Aim's ``paginated``/``offset``: with ``offset`` (a run hash), only the runs after it.
        """
        from aim.sdk.query import QueryReportMode, QueryRunCollection, query_run_rows

        mode = QueryReportMode.PROGRESS_BAR if report_mode is None else report_mode
        return QueryRunCollection(self, query_run_rows(self, query, mode, offset))

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

    def prune(self) -> PruneReport:
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

    def verify(self, repair: bool = False) -> list[Problem]:
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
        client: object = None,
        legacy_checksums: bool | None = None,
    ) -> UploadReport:
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
        client: object = None,
        legacy_checksums: bool | None = None,
    ) -> DownloadReport:
        """Fetch the segments of ``bucket`` (or of one ``snapshot``) missing here, verify each
        SHA-256, never overwrite a local segment, then rebuild the index; returns a
        ``DownloadReport``."""
        from aim.sdk import backup, restore

        store = backup.open_store(bucket, endpoint_url, legacy_checksums, client)
        return restore.download(self, store, prefix, snapshot, runs)

