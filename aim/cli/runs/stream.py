"""``aim runs tail`` (stored lines, optionally followed) and ``aim runs export`` (tidy rows)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

import click

from aim.cli.options import RUN_HASH, open_repo, repo_option
from aim.cli.runs.selection import select, select_options


def _type_matches(etype: str, wanted: tuple[str, ...]) -> bool:
    # "param" matches param.set and param.deleted; "log" matches log.line and log.record.
    return any(etype == w or etype.split(".", 1)[0] == w for w in wanted)


@click.command()
@repo_option
@click.argument("run_hash", type=RUN_HASH)
@click.option("-f", "--follow", is_flag=True, help="Wait for new events; exit when the run ends.")
@click.option("--type", "types", multiple=True,
              help="Only events of this type (metric, param, log, run, meta, tag, or a full type "
                   "such as param.set); repeatable.")
@click.option("--name", default=None, help="Only metric events of this name.")
@click.option("--since", type=click.IntRange(min=0), default=None, help="Only events with seq >= SEQ.")
@click.option("-n", "--lines", "last", type=click.IntRange(min=0), default=None,
              help="Start with the last N matching events (default: all).")
@click.option("--all", "everything", is_flag=True,
              help="Also the points a fork or rewind left out of the run's current history.")
def tail(repo: str, run_hash: str, follow: bool, types: tuple[str, ...], name: str | None,
         since: int | None, last: int | None, everything: bool) -> None:
    """Print a run's events as JSON lines, exactly as stored (pipe them to jq): its current
    history (after a rewind, the points past its step are left out; --all shows them).

    Follows across segment rotation, resumes and tombstones; with -f it decodes only complete,
    checksum-verified frames, and exits by itself when the run's writer is gone.
    """
    import orjson

    from aim.errors import RunNotFoundError
    from aim.sdk.log import follow_batches

    r = open_repo(repo)
    if not r.has_run(run_hash):
        raise RunNotFoundError(f"no run {run_hash} in {r.path}")
    def keep(line: bytes) -> bool:
        if not (types or name or since is not None):
            return True
        try:
            e = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(e, dict):
            return False
        if types and not _type_matches(str(e.get("type")), types):
            return False
        if name is not None and (e.get("type") != "metric" or e.get("name") != name):
            return False
        return since is None or (isinstance(e.get("seq"), int) and e["seq"] >= since)

    out = sys.stdout.buffer
    for i, batch in enumerate(follow_batches(r.layout, run_hash, follow=follow, everything=everything)):
        lines = [line for line in batch if keep(line)]
        if i == 0 and last is not None:
            lines = lines[-last:] if last else []
        if lines:
            out.write(b"".join(line + b"\n" for line in lines))
            out.flush()


@click.command()
@repo_option
@click.argument("runs", nargs=-1)
@select_options
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write here instead of standard output.")
@click.option("--params", "what_params", is_flag=True,
              help="Export the runs' params (one row per leaf: run, key, value) instead of metrics.")
@click.option("--objects", "what_objects", is_flag=True,
              help="Export the runs' objects (one row per image, text...: run, kind, name, context, step, "
                   "index, sha256, size, meta, file) instead of metrics.")
@click.option("--blobs", "blobs_dir", type=click.Path(file_okay=False), default=None,
              help="With --objects: write each object's bytes into this folder as <run>/<sha256>.<ext>.")
def export(repo: str, runs: tuple[str, ...], experiment: str | None, older_than: str | None, fmt: str,
           output: str | None, what_params: bool, what_objects: bool, blobs_dir: str | None) -> None:
    """Export metrics as tidy rows (run, name, context, step, epoch, value, time), or params, or
    objects (with --blobs, their files too).

    RUNS are hashes, unique prefixes or shell-style globs ('*' is every run); --experiment,
    --older-than and --query choose or narrow them, as for `aim runs rm`. Streams: memory does
    not grow with a run's length. Consecutive events of one sequence at the same step collapse
    to the last, as read-back shows them.
    """
    from aim.sdk import export as exporter

    if what_params and what_objects:
        raise click.UsageError("--params and --objects conflict: export one kind of row at a time")
    if blobs_dir is not None and not what_objects:
        raise click.UsageError("--blobs writes the objects' bytes: it goes with --objects")
    r = open_repo(repo)
    hashes, errors = select(r, runs, experiment=experiment, older_than=older_than, deleted=None)
    if errors:
        # Nothing is written when a selector is wrong: half an export looks like a whole one.
        for e in errors:
            click.echo(f"error: {e.message}", err=True)
        raise SystemExit(1)
    target = open(output, "w", newline="", encoding="utf-8") if output else nullcontext(sys.stdout)  # noqa: SIM115
    with target as stream:
        if what_params:
            exporter.write_params(r, hashes, stream, fmt)
        elif what_objects:
            exporter.write_objects(r, hashes, stream, fmt, Path(blobs_dir) if blobs_dir else None)
        else:
            exporter.write_metrics(r, hashes, stream, fmt)
        stream.flush()
