"""``aim convert``: runs of other trackers imported as runs here (docs/convert.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aim.cli.options import group_repo_option, json_option, repo_option


@click.group()
@group_repo_option
def convert(repo: str | None) -> None:
    """Import runs from another tracker. Idempotent (a second import adds nothing) and
    resumable (a killed import left no half run: run it again); the source is only read.
    ``--repo`` may come before the subcommand, as in Aim (``aim convert --repo P tensorboard``)."""


def _one_source(argument: str | None, option: str | None, what: str, hint: str) -> str:
    """The source given as the argument or as Aim's option, not both (unless they agree)."""
    if (argument is None and option is None) or (argument and option and argument != option):
        raise click.UsageError(f"give the {what} once: {hint}")
    return str(argument or option)


def _folder(source: str, hint: str) -> str:
    if not Path(source).expanduser().is_dir():
        raise click.BadParameter(f"no folder {source}", param_hint=hint)
    return source


def _run(repo: str, as_json: bool, work: Callable[[Any, Any], Any]) -> None:
    """Open (or make) the repository, run one importer with a progress bar on a terminal, and
    print its report: one line, or one JSON object; exit 1 when any source run failed."""
    from aim.cli.output import echo_json
    from aim.sdk.convert.report import SourceError
    from aim.sdk.repo import Repo

    r = Repo.from_path(repo, init=True)
    bar: Any = None
    show = sys.stderr.isatty() and not as_json

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not show:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="converting", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        rep = work(r, progress)
    except SourceError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.param) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        echo_json(rep.to_json())
    else:
        click.echo(f"imported {rep.runs} run{'s' if rep.runs != 1 else ''} ({rep.points:,} points) from "
                   f"{rep.source} at {rep.location}; {rep.already} already here; {rep.skipped} entries "
                   f"skipped; {len(rep.errors)} error{'s' if len(rep.errors) != 1 else ''}")
        for note in rep.notes:
            click.echo(f"note: {note}", err=True)
        for error in rep.errors:
            click.echo(f"error: {error}", err=True)
    if rep.errors:
        sys.exit(1)


@convert.command()
@repo_option
@click.argument("logdir", required=False)
@click.option("--logdir", "logdir_option", default=None,
              help="The folder of event files (Aim's spelling; or give it as the argument).")
@click.option("--experiment", default="tensorboard", show_default=True, help="The runs' experiment.")
@click.option("--flat", "-f", is_flag=True, help="Every folder of event files is a run of its own (as in Aim): "
              "no {\"entry\": ...} context from sub-folders.")
@click.option("--no-cache", is_flag=True, help="Accepted for Aim's command lines: every import reads each "
              "run whole, and runs already here are known by their hash.")
@json_option
def tensorboard(repo: str, logdir: str | None, logdir_option: str | None, experiment: str, flat: bool,
                no_cache: bool, as_json: bool) -> None:
    """TensorBoard event files under LOGDIR: each run folder a run, its scalars as metrics
    (at their steps and wall times), images, audio and text as objects, sub-folders as the
    context {"entry": name}."""
    from aim.sdk.convert.tensorboard import convert_tensorboard

    source = _folder(_one_source(logdir, logdir_option, "event files' folder", "LOGDIR or --logdir"), "LOGDIR")
    _run(repo, as_json, lambda r, progress: convert_tensorboard(r, source, experiment, progress=progress,
                                                                flat=flat))


@convert.command()
@repo_option
@click.argument("path_or_uri", required=False)
@click.option("--tracking_uri", "--tracking-uri", "uri_option", default=None,
              help="The MLflow tracking URI (Aim's spelling; or give it as the argument).")
@click.option("--experiment", "-e", default=None,
              help="Import only this MLflow experiment (name or id). [default: all]")
@json_option
def mlflow(repo: str, path_or_uri: str | None, uri_option: str | None, experiment: str | None,
           as_json: bool) -> None:
    """MLflow runs at PATH_OR_URI: an mlruns folder (file store, or a file: URI), a SQLite
    database (sqlite:///PATH, a .db file, or a folder holding mlflow.db), or an http(s)://
    tracking server. Each ended run a run here, in its experiment; params, tags, every
    metric's history, and image, text and audio artifacts."""
    from aim.sdk.convert.mlflow import convert_mlflow

    source = _one_source(path_or_uri, uri_option, "MLflow store", "PATH_OR_URI or --tracking_uri")
    _run(repo, as_json, lambda r, progress: convert_mlflow(r, source, experiment, progress=progress))


@convert.command()
@repo_option
@click.argument("directory", required=False)
@click.option("--project", default=None, help="Import only the runs of this W&B project. [default: all]")
@click.option("--entity", default=None, hidden=True)  # Aim's online import: refused in one line
@click.option("--run-id", default=None, hidden=True)
@json_option
def wandb(repo: str, directory: str | None, project: str | None, entity: str | None, run_id: str | None,
          as_json: bool) -> None:
    """W&B offline runs under DIRECTORY (a ./wandb folder, or one offline-run-* folder): each
    a run here, in its project's experiment; config, summary, history, tags, notes, output."""
    from aim.sdk.convert.wandb import convert_wandb

    if entity is not None or run_id is not None or directory is None:
        raise click.UsageError("aim convert wandb imports the run folders W&B keeps on disk (DIRECTORY: "
                               "./wandb, written by wandb.init, offline or not); runs on the W&B server "
                               "(Aim's --entity/--project) are not fetched: nothing here talks to a server")
    source = _folder(directory, "DIRECTORY")
    _run(repo, as_json, lambda r, progress: convert_wandb(r, source, project, progress=progress))


@convert.command()
@repo_option
@click.argument("path")
@json_option
def aim3(repo: str, path: str, as_json: bool) -> None:
    """An Aim 3.x repository at PATH (the folder holding .aim, or .aim itself): every run, with
    its hash, params, metrics, objects and logs."""
    from aim.sdk.convert.aim3 import convert_aim3

    source = _folder(path, "PATH")
    _run(repo, as_json, lambda r, progress: convert_aim3(r, source, progress=progress))
