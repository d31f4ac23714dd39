"""``aim runs logs``: a run's captured terminal output, or its log records."""

from __future__ import annotations

import click

from aim.cli.options import RUN_HASH, open_repo, repo_option


@click.command()
@repo_option
@click.argument("run_hash", type=RUN_HASH)
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the run is live; exit when it ends.")
@click.option("--stream", type=click.Choice(["stdout", "stderr"]), default=None,
              help="Only this stream (default: both, in the order they were written).")
@click.option("--records", is_flag=True, help="Print the log records (run.log_info and friends) instead.")
def logs(repo: str, run_hash: str, follow: bool, stream: str | None, records: bool) -> None:
    """Print a run's captured terminal output as it looked.

    A line redrawn with carriage returns (a progress bar) shows its final state; when the run
    ended mid-redraw, its last recorded state.
    """
    from aim.errors import RunNotFoundError
    from aim.sdk.log import follow_events

    r = open_repo(repo)
    if not r.has_run(run_hash):
        raise RunNotFoundError(f"no run {run_hash} in {r.path}")
    events = follow_events(r.layout, run_hash, follow=follow)
    if records:
        for e in events:
            if e.get("type") == "log.record":
                click.echo(format_record(e))
        return
    # A partial line (a redraw in progress) is replaced by the next line of its stream; one
    # that never was is printed at the end, as the last state the run showed.
    partial: dict[str, str] = {}
    for e in events:
        if e.get("type") != "log.line" or (stream and e.get("stream") != stream):
            continue
        name, line = e.get("stream", "stdout"), str(e.get("line", ""))
        if e.get("partial"):
            partial[name] = line
            continue
        partial.pop(name, None)
        click.echo(line)
    for line in partial.values():
        click.echo(line)


def format_record(e: dict) -> str:  # type: ignore[type-arg]
    """One log record as a line: time, level, message, extra fields, where it was logged."""
    from aim.cli.output import format_time

    extra = e.get("extra") or {}
    fields = "".join(f" {k}={v!r}" for k, v in extra.items()) if isinstance(extra, dict) else ""
    where = f" ({e.get('file')}:{e.get('line')})" if e.get("file") else ""
    return f"{format_time(e.get('ts'))} {e.get('level', '')!s:7} {e.get('message', '')}{fields}{where}"
