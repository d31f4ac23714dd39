"""``aim runs fork`` and ``aim runs rewind``: branch a run at a step, or carry it on from one."""

from __future__ import annotations

import click

from aim.cli.options import RUN_HASH, json_option, open_repo, repo_option
from aim.cli.output import echo_json


@click.command()
@repo_option
@click.argument("run_hash", type=RUN_HASH)
@click.option("--step", type=click.IntRange(min=0), required=True,
              help="The fork's history is the run's up to this step, of every sequence.")
@click.option("--experiment", default=None, help="The fork's experiment (default: the run's).")
@json_option
def fork(repo: str, run_hash: str, step: int, experiment: str | None, as_json: bool) -> None:
    """Create a new run whose history up to --step (every sequence, with params, tags and
    experiment) is RUN_HASH's, without copying its sealed segments (they are hard-linked).
    The fork is closed; continue it with Run(run_hash=<fork>)."""
    from aim.sdk.fork import fork_run

    r = open_repo(repo)
    child, _ = fork_run(r, run_hash, step, experiment=experiment, finished=True)
    if as_json:
        echo_json({"hash": child, "forked_from": {"hash": run_hash, "step": step}})
    else:
        click.echo(child)


@click.command()
@repo_option
@click.argument("run_hash", type=RUN_HASH)
@click.option("--step", type=click.IntRange(min=0), required=True,
              help="The run's current history ends at this step, of every sequence.")
def rewind(repo: str, run_hash: str, step: int) -> None:
    """Rewind RUN_HASH to --step: what came after stays in the log (`aim runs tail --all`)
    but leaves the run's current history; a writer (Run(run_hash=...)) carries it on from
    there. Refused while a writer holds the run."""
    from aim.sdk.fork import rewind_run

    rewind_run(open_repo(repo), run_hash, step)
    click.echo(f"rewound {run_hash} to step {step}")
