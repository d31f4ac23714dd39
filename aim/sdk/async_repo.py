"""AsyncRepo: Repo's operations as awaitables, run in anyio worker threads (off the loop)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from aim.sdk.async_run import AsyncRun
from aim.sdk.repo import Repo
from aim.sdk.repo_read import SequenceInfo

if TYPE_CHECKING:
    from aim.sdk.object_query import QueryObjectCollection
    from aim.sdk.query import QueryReportMode, QueryRunCollection
    from aim.sdk.sequence_query import QueryMetricCollection


class AsyncRepo:
    """An aim repository for async code (sweep controllers, services).

    ``await AsyncRepo.from_path(path)``; then ``await repo.list_runs()``, ``get_run``,
    ``delete_run(s)``, ``restore_run(s)``, ``prune``, ``copy_runs``, ``move_runs``,
    ``verify``, ``reindex``, and Aim's read API (``exists``, ``run_exists``,
    ``total_runs_count``, ``list_active_runs``, ``collect_sequence_info``,
    ``collect_params_info``): each runs ``Repo``'s method in a worker thread.
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    @classmethod
    async def from_path(cls, path: str | os.PathLike[str], init: bool = False) -> AsyncRepo:
        """Open (or, with ``init``, create) the repository at ``path``."""
        return cls(await anyio.to_thread.run_sync(partial(Repo.from_path, path, init=init)))

    @classmethod
    async def default_repo(cls, init: bool = True) -> AsyncRepo:
        """The nearest ``.aim`` in the working directory or its parents, else a new one here."""
        return cls(await anyio.to_thread.run_sync(partial(Repo.default_repo, init=init)))

    @property
    def path(self) -> Any:
        """The ``.aim`` directory."""
        return self.repo.path

    async def close(self) -> None:
        """Close the index connection."""
        await self._call("close")

    async def has_run(self, run_hash: str) -> bool:
        """True when a run directory with this hash exists (deleted or not)."""
        return await self._call("has_run", run_hash)

    async def run_status(self, run_hash: str) -> str:
        """The derived status of one run (running, finished, failed, terminated, crashed)."""
        return await self._call("run_status", run_hash)

    async def live_status(self, run_hash: str, recorded: str) -> str:
        """The status readers show for a recorded one (a lock probe: see ``Repo.live_status``)."""
        return await self._call("live_status", run_hash, recorded)

    async def iter_runs(self) -> AsyncIterator[AsyncRun]:
        """Every (not deleted) run, oldest first, opened read-only: ``async for run in ...``."""
        for run_hash in await self.list_all_runs():
            if await self.has_run(run_hash):
                yield await AsyncRun(run_hash, repo=self.repo, read_only=True).open()

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(getattr(self.repo, name), *args, **kwargs))

    async def list_all_runs(self) -> list[str]:
        """Hashes of every (not deleted) run, oldest first."""
        return await self._call("list_all_runs")

    async def list_runs(
        self, *, experiment: str | None = None, include_deleted: bool = False,
        only_deleted: bool = False, include_starting: bool = False,
    ) -> list[dict[str, Any]]:
        """Run summaries with a derived status (see ``Repo.list_runs``)."""
        return await self._call("list_runs", experiment=experiment, include_deleted=include_deleted,
                                only_deleted=only_deleted, include_starting=include_starting)

    async def query_runs(self, query: str = "", paginated: bool = False, offset: str | None = None,
                         report_mode: QueryReportMode | None = None) -> QueryRunCollection:
        """The runs for which the AimQL ``query`` holds (see ``Repo.query_runs``), in a worker
        thread. The items' ``.run`` opens a read-only ``Run``: await ``get_run`` instead for an
        ``AsyncRun``."""
        return await self._call("query_runs", query, paginated=paginated, offset=offset,
                                report_mode=report_mode)

    async def query_metrics(self, query: str = "",
                            report_mode: QueryReportMode | None = None) -> QueryMetricCollection:
        """The metric sequences for which the AimQL ``query`` holds (see ``Repo.query_metrics``),
        in a worker thread. Their points load on first use, blocking: read them in a worker
        thread too (``anyio.to_thread.run_sync``)."""
        return await self._call("query_metrics", query, report_mode=report_mode)

    async def query_images(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """The image sequences for which ``query`` holds (see ``Repo.query_images``), in a worker
        thread; their objects load on first use, blocking (read them in a worker thread too)."""
        return await self._call("query_images", query, report_mode=report_mode)

    async def query_texts(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """``Repo.query_texts`` in a worker thread."""
        return await self._call("query_texts", query, report_mode=report_mode)

    async def query_distributions(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """``Repo.query_distributions`` in a worker thread."""
        return await self._call("query_distributions", query, report_mode=report_mode)

    async def query_audios(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """``Repo.query_audios`` in a worker thread."""
        return await self._call("query_audios", query, report_mode=report_mode)

    async def query_figure_objects(self, query: str = "", report_mode: Any = None) -> QueryObjectCollection:
        """``Repo.query_figure_objects`` in a worker thread."""
        return await self._call("query_figure_objects", query, report_mode=report_mode)

    async def starting_runs(self) -> list[str]:
        """Runs a live writer created but has not indexed yet (see ``Repo.starting_runs``)."""
        return await self._call("starting_runs")

    async def get_run(self, run_hash: str) -> AsyncRun | None:
        """The run opened read-only, or None when there is none (or it is deleted)."""
        if await self._call("get_run", run_hash) is None:
            return None
        return await AsyncRun(run_hash, repo=self.repo, read_only=True).open()

    async def delete_run(self, run_hash: str) -> bool:
        """Tombstone one run; False on failure."""
        return await self._call("delete_run", run_hash)

    async def delete_runs(self, run_hashes: list[str]) -> tuple[bool, list[str]]:
        """Tombstone several runs; (all succeeded, the others)."""
        return await self._call("delete_runs", run_hashes)

    async def restore_run(self, run_hash: str) -> bool:
        """Undo a delete (until prune)."""
        return await self._call("restore_run", run_hash)

    async def restore_runs(self, run_hashes: list[str]) -> tuple[bool, list[str]]:
        """Undo several deletes."""
        return await self._call("restore_runs", run_hashes)

    async def close_runs(self, run_hashes: list[str]) -> tuple[bool, list[str]]:
        """Finish runs whose writer died."""
        return await self._call("close_runs", run_hashes)

    async def prune(self) -> Any:
        """Remove deleted runs and what only they used from the registry."""
        return await self._call("prune")

    async def copy_runs(self, run_hashes: list[str], dest: Any) -> tuple[bool, list[str]]:
        """Copy runs into another repository."""
        return await self._call("copy_runs", run_hashes, dest.repo if isinstance(dest, AsyncRepo) else dest)

    async def move_runs(self, run_hashes: list[str], dest: Any) -> tuple[bool, list[str]]:
        """Move runs into another repository."""
        return await self._call("move_runs", run_hashes, dest.repo if isinstance(dest, AsyncRepo) else dest)

    async def verify(self, repair: bool = False) -> list[Any]:
        """Check segments, seq order and the index."""
        return await self._call("verify", repair=repair)

    async def reindex(self) -> int:
        """Rebuild the index from the logs."""
        return await self._call("reindex")

    async def available_sequences(self) -> list[tuple[str, dict[str, Any]]]:
        """Distinct (metric name, context) pairs in the repo."""
        return await self._call("available_sequences")

    async def available_params(self) -> list[str]:
        """Distinct param keys in the repo."""
        return await self._call("available_params")

    # --- Aim's read API (see Repo: aim/sdk/repo_read.py) ---------------------------------
    @classmethod
    async def exists(cls, path: str | os.PathLike[str]) -> bool:
        """True when there is a repository at ``path`` (see ``Repo.exists``)."""
        return await anyio.to_thread.run_sync(Repo.exists, path)

    async def run_exists(self, run_hash: str) -> bool:
        """True when the run is in the repository and not deleted."""
        return await self._call("run_exists", run_hash)

    async def total_runs_count(self) -> int:
        """How many (not deleted) runs the repository holds."""
        return await self._call("total_runs_count")

    async def list_active_runs(self) -> list[str]:
        """Hashes of the runs a live writer is recording, oldest first."""
        return await self._call("list_active_runs")

    async def collect_sequence_info(self, sequence_types: str | tuple[str, ...]) -> SequenceInfo:
        """Aim's ``{type: {name: [context dicts]}}`` over the repository."""
        return await self._call("collect_sequence_info", sequence_types)

    async def collect_params_info(self) -> dict[str, Any]:
        """Aim's param key tree with ``__example_type__`` leaves (see ``Repo.collect_params_info``)."""
        return await self._call("collect_params_info")

    async def upload(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        runs: list[str] | None = None,
        dry_run: bool = False,
        client: object = None,
        legacy_checksums: bool | None = None,
    ) -> Any:
        """``Repo.upload`` off the loop: ship sealed segments to S3, then a snapshot manifest."""
        return await self._call("upload", bucket, prefix, endpoint_url=endpoint_url, runs=runs,
                                dry_run=dry_run, client=client, legacy_checksums=legacy_checksums)

    async def download(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        snapshot: str | None = None,
        runs: list[str] | None = None,
        client: object = None,
        legacy_checksums: bool | None = None,
    ) -> Any:
        """``Repo.download`` off the loop: fetch missing segments from S3, then reindex."""
        return await self._call("download", bucket, prefix, endpoint_url=endpoint_url,
                                snapshot=snapshot, runs=runs, client=client,
                                legacy_checksums=legacy_checksums)
