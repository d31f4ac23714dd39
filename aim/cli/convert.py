"""``aim convert``: runs of other trackers imported as runs here (docs/convert.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from aim.cli.options import group_repo_option, json_option, repo_option
from aim.cli.output import echo_json


@click.group()
@group_repo_option
def convert(repo: str | None) -> None:
    """Import runs from another tracker. Idempotent (a second import adds nothing) and
    resumable (a killed import left no half run: run it again); the source is only read.
    ``--repo`` may come before the subcommand, as in Aim (``aim convert --repo P tensorboard``)."""


def _finish(rep: Any, as_json: bool) -> None:
    if as_json:
        echo_json(rep.to_json())
    else:
        click.echo(f"imported {rep.runs} run{'s' if rep.runs != 1 else ''} ({rep.points:,} points) from "
                   f"{rep.source} at {rep.location}; {rep.already} already here; {rep.skipped} entries "
                   f"skipped; {len(rep.errors)} error{'s' if len(rep.errors) != 1 else ''}")
        for error in rep.errors:
            click.echo(f"error: {error}", err=True)
    if rep.errors:
        sys.exit(1)


@convert.command()
@repo_option
@click.argument("logdir", required=False, type=click.Path(file_okay=False))
@click.option("--logdir", "logdir_option", type=click.Path(file_okay=False), default=None,
              help="The folder of event files (Aim's spelling; or give it as the argument).")
@click.option("--experiment", default="tensorboard", show_default=True, help="The runs' experiment.")
@json_option
def tensorboard(repo: str, logdir: str | None, logdir_option: str | None, experiment: str,
                as_json: bool) -> None:
    """TensorBoard event files under LOGDIR: each run folder a run, its scalars as metrics
    (at their steps and wall times), sub-folders as the context {"entry": name}."""
    from aim.sdk.convert.tensorboard import convert_tensorboard, find_runs
    from aim.sdk.repo import Repo

    source = logdir or logdir_option
    if source is None or (logdir and logdir_option and logdir != logdir_option):
        raise click.UsageError("give the event files' folder once: LOGDIR or --logdir")
    if not Path(source).is_dir():
        raise click.BadParameter(f"no folder {source}", param_hint="LOGDIR")
    r = Repo.from_path(repo, init=True)
    total = len(find_runs(Path(source)))
    bar: Any = None
    if sys.stderr.isatty() and not as_json and total:
        bar = click.progressbar(length=total, label="converting", file=sys.stderr)
        bar.__enter__()
    try:
        rep = convert_tensorboard(r, source, experiment, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _finish(rep, as_json)
