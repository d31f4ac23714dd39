"""``aim runs upload`` and ``aim runs download``: segments to and from S3."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

import click

from aim.cli.options import RUN_HASH, json_option, repo_option
from aim.cli.output import echo_json, format_size
from aim.cli.runs.selection import current_query, has_filters, select, select_options

_common = [
    click.argument("bucket"),
    click.option("--prefix", default="", help="Key prefix inside the bucket (e.g. team/project)."),
    click.option("--endpoint-url", default=None, envvar="AIM_S3_ENDPOINT_URL",  # backup.ENDPOINT_ENV
                 help="An S3-compatible server (MinIO, Ceph, R2...); default: AWS."),
    click.option("--run", "runs", multiple=True, type=RUN_HASH, help="Only this run (repeatable)."),
    click.option("--legacy-checksums", is_flag=True, default=None,
                 help="For stores that reject the newer x-amz-checksum headers (also "
                      "AIM_S3_LEGACY_CHECKSUMS=1): send Content-MD5, verify SHA-256 ourselves."),
]


def _options(fn: Any) -> Any:
    for option in reversed(_common):
        fn = option(fn)
    return fn


class _Selection:
    """The runs that ``--run`` and the filters choose, chosen again each time it is iterated.

    ``backup.upload`` iterates its runs once per call, so with ``--follow`` each round picks
    up the runs that match by then (a new run of the experiment, say), not only the first's.
    """

    def __init__(self, repo: Any, runs: tuple[str, ...], experiment: str | None,
                 older_than: str | None) -> None:
        self.repo, self.runs, self.experiment, self.older_than = repo, runs, experiment, older_than
        self.query = current_query()  # read now: the rounds do not need a click context
        self.first: list[str] | None = None

    def resolve(self) -> tuple[list[str], list[Any]]:
        """(hashes, selector errors), as ``select`` gives them; a bad query raises."""
        return select(self.repo, self.runs, experiment=self.experiment, older_than=self.older_than,
                      deleted=None, query=self.query)

    def __iter__(self) -> Iterator[str]:
        if self.first is not None:  # the first round uses what was checked before it
            first, self.first = self.first, None
            return iter(first)
        return iter(self.resolve()[0])  # later rounds: a run moved away meanwhile is skipped


def _chosen(repo: Any, runs: tuple[str, ...], experiment: str | None,
            older_than: str | None) -> Iterable[str] | None:
    """What to upload: None (every run) when nothing narrows it, else the chosen runs.

    With a filter, the choice is made (and a bad query or selector reported, exit 1) before
    the store is contacted; a filter that matches nothing uploads nothing, never everything.
    """
    if not has_filters(experiment, older_than):
        return list(runs) or None
    selection = _Selection(repo, runs, experiment, older_than)
    hashes, errors = selection.resolve()
    if errors:
        for e in errors:
            click.echo(f"error: {e.message}", err=True)
        raise SystemExit(1)
    selection.first = hashes
    return selection


class _Bar:
    """A progress bar on a terminal (bytes), nothing otherwise."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled, self.label = enabled, label
        self.bar: Any = None

    def plan(self, total_bytes: int, segments: int) -> None:
        if self.enabled and segments:
            self.bar = click.progressbar(length=total_bytes, label=f"{self.label} {segments} segments",
                                         file=sys.stderr, show_pos=False, show_percent=True)
            self.bar.__enter__()

    def step(self, nbytes: int, _segments: int) -> None:
        if self.bar is not None:
            self.bar.update(nbytes)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _store(bucket: str, endpoint_url: str | None, legacy: bool | None) -> Any:
    from aim.sdk.backup import open_store

    return open_store(bucket, endpoint_url, legacy or None)


@click.command()
@repo_option
@_options
@select_options
@click.option("--dry-run", is_flag=True, help="Say what would be shipped; send nothing.")
@click.option("--follow", is_flag=True, help="Keep shipping newly sealed segments until interrupted.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between rounds with --follow.")
@json_option
def upload(repo: str, bucket: str, prefix: str, endpoint_url: str | None, runs: tuple[str, ...],
           legacy_checksums: bool | None, experiment: str | None, older_than: str | None,
           dry_run: bool, follow: bool, interval: float, as_json: bool) -> None:
    """Ship sealed segments to BUCKET (created when missing), then a snapshot manifest.

    Incremental: segments already in the bucket are not sent again. Every run by default;
    --run, --experiment, --older-than and --query choose some (with --follow, the filters are
    evaluated again each round). Credentials come from boto3's standard chain (environment,
    profile, instance role).
    """
    from aim.cli.options import open_repo
    from aim.sdk import backup

    bucket, prefix = backup.split_location(bucket, prefix)
    backup.check_location(bucket, prefix)  # a bad name fails before anything is opened
    r = open_repo(repo)
    selected = _chosen(r, runs, experiment, older_than)
    store = _store(bucket, endpoint_url, legacy_checksums)
    if follow:
        def on_round(rep: Any) -> None:
            if as_json:
                echo_json(rep.to_json())
            elif rep.new_segments:
                click.echo(_upload_line(rep, store.where))

        try:
            backup.follow_upload(r, store, prefix, selected, interval=interval, on_round=on_round)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        return
    bar = _Bar(sys.stderr.isatty() and not as_json and not dry_run, "uploading")
    try:
        rep = backup.upload(r, store, prefix, selected, dry_run=dry_run, progress=bar.step,
                            on_plan=bar.plan)
    finally:
        bar.close()
    if as_json:
        echo_json(rep.to_json())
    else:
        click.echo(_upload_line(rep, store.where))


def _blobs(rep: Any) -> str:
    """" and N blobs" when objects' blobs went too (segments are what most runs hold)."""
    return f" and {rep.new_blobs} blob{'s' if rep.new_blobs != 1 else ''}" if rep.new_blobs else ""


def _upload_line(rep: Any, where: str) -> str:
    verb = "would upload" if rep.dry_run else "uploaded"
    line = (f"{verb} {rep.new_segments} new segment{'s' if rep.new_segments != 1 else ''}{_blobs(rep)} "
            f"({format_size(rep.new_bytes)}) of {rep.runs} run{'s' if rep.runs != 1 else ''} to {where}"
            f"{'/' + rep.prefix if rep.prefix else ''}; {rep.already_there} already there")
    if rep.unsealed:
        line += f"; {rep.unsealed} live segment{'s' if rep.unsealed != 1 else ''} not sealed yet"
    if rep.snapshot:
        line += f"; snapshot {rep.snapshot}"
    return line


@click.command()
@repo_option
@_options
@click.option("--snapshot", default=None, help="Restore exactly this snapshot (see --list-snapshots).")
@click.option("--list-snapshots", is_flag=True, help="List the snapshots in the bucket and exit.")
@click.option("--dry-run", is_flag=True, help="Say what would be downloaded; write nothing (no repository "
                                              "is created).")
@click.option("--follow", is_flag=True, help="Keep fetching what other machines ship until interrupted.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between rounds with --follow.")
@json_option
def download(repo: str, bucket: str, prefix: str, endpoint_url: str | None, runs: tuple[str, ...],
             legacy_checksums: bool | None, snapshot: str | None, list_snapshots: bool, dry_run: bool,
             follow: bool, interval: float, as_json: bool) -> None:
    """Fetch the segments of BUCKET missing here (all, or one snapshot's), verify every
    SHA-256, never overwrite a local segment, then bring the index up to date. The repository
    is created when it does not exist. With --follow, keep fetching every --interval seconds:
    the merged view of runs other machines write (docs/distributed.md)."""
    from aim.sdk import backup, restore
    from aim.sdk.repo import Repo

    # A bad name fails before anything is created (download creates the repository).
    bucket, prefix = backup.split_location(bucket, prefix)
    backup.check_location(bucket, prefix, snapshot)
    store = _store(bucket, endpoint_url, legacy_checksums)
    if list_snapshots:
        for snap in restore.list_snapshots(store, prefix):
            click.echo(snap)
        return
    if follow and (dry_run or snapshot is not None):
        raise click.UsageError("--follow fetches what arrives: it takes neither --dry-run nor --snapshot")
    if not follow:  # a follower waits for the bucket its writers' first upload creates
        # Checked before the repository is created: a failed download leaves nothing behind.
        backup.require_bucket(store)
    if follow:
        r = Repo.from_path(repo, init=True)

        def on_round(rep: Any) -> None:
            if as_json:
                echo_json(rep.to_json())
            elif rep.new_segments or rep.conflicts:
                click.echo(_download_line(rep, store.where, "downloaded"))

        try:
            restore.follow_download(r, store, prefix, list(runs) or None, interval=interval,
                                    on_round=on_round)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        return
    if dry_run:
        from aim.storage.layout import RepoLayout, resolve_aim_dir

        rep, _ = restore.plan_download(RepoLayout(resolve_aim_dir(repo)), store, prefix, snapshot,
                                       list(runs) or None)
        rep.dry_run = True
    else:
        r = Repo.from_path(repo, init=True)
        bar = _Bar(sys.stderr.isatty() and not as_json, "downloading")
        try:
            rep = restore.download(r, store, prefix, snapshot, list(runs) or None, progress=bar.step,
                                  on_plan=bar.plan)
        finally:
            bar.close()
    if as_json:
        echo_json(rep.to_json())
        return
    click.echo(_download_line(rep, store.where, "would download" if dry_run else "downloaded"))


def _download_line(rep: Any, where: str, verb: str) -> str:
    line = (f"{verb} {rep.new_segments} new segment{'s' if rep.new_segments != 1 else ''}{_blobs(rep)} "
            f"({format_size(rep.new_bytes)}) of {rep.runs} run{'s' if rep.runs != 1 else ''} from "
            f"{where}; {rep.already_here} already here")
    if rep.conflicts:
        line += f"; {len(rep.conflicts)} conflict(s): " + "; ".join(rep.conflicts[:3])
    return line
