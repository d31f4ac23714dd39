"""Root group ``aim``: ``--repo``, ``init``, ``version``, lazy subgroups, the one error handler.

Subgroups are imported only when invoked, so ``aim runs ls`` never loads what ``upload`` needs.
Every ``AimError`` prints as one ``error: ...`` line (plus its hint) on stderr with exit 1;
click's usage errors keep exit 2; only bugs print tracebacks.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from aim.cli.options import repo_option
from aim.errors import AimError

LAZY_GROUPS = {
    "runs": ("aim.cli.runs", "runs"),
    "storage": ("aim.cli.storage", "storage"),
    "up": ("aim.cli.up", "up"),
    "convert": ("aim.cli.convert", "convert"),
}


class LazyGroup(click.Group):
    """A group whose listed subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy=LAZY_GROUPS, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """aim: track ML runs as append-only event logs, and manage them."""


@cli.command()
@repo_option
@click.option("-y", "--yes", is_flag=True,
              help="Re-initialize an existing repository to an empty one: removes every run (Aim's -y).")
@click.option("-s", "--skip-if-exists", is_flag=True,
              help="Leave an existing repository as it is (what init does anyway without -y).")
def init(repo: str, yes: bool, skip_if_exists: bool) -> None:
    """Create an aim repository (.aim) in REPO (default: the working directory).

    An existing repository is left as it is, unless -y/--yes asks to re-initialize it to an
    empty one, as Aim does: every run is removed for good (refused, with nothing removed, while
    a live process writes a run). Aim asks before that; without -y we never remove anything.
    """
    from aim.storage.layout import RepoLayout, resolve_aim_dir

    layout = RepoLayout(resolve_aim_dir(repo))
    exists = layout.root.exists()
    if exists and yes and skip_if_exists:
        # Aim's rule: the two only conflict when there is a repository to decide about.
        raise click.UsageError("conflicting options: -y/--yes re-initializes an existing repository, "
                               "-s/--skip-if-exists leaves it; give one")
    if exists and skip_if_exists:
        layout.check()
        click.echo(f"Repository exists at {layout.root}; skipped initialization.")
        return
    created = layout.init()
    if exists and yes:
        from aim.sdk import maintenance
        from aim.sdk.repo import Repo

        outcomes = maintenance.remove_all(Repo(layout.root))
        failed = [o for o in outcomes if not o.ok]
        for o in failed:
            click.echo(f"error: {o.hash}: {o.message}", err=True)
        removed = len(outcomes) - len(failed)
        click.echo(f"Re-initialized empty aim repository at {layout.root} "
                   f"(removed {removed} run{'s' if removed != 1 else ''})")
        if failed:
            raise SystemExit(1)
        return
    click.echo(f"{'Initialized' if created else 'Already initialized:'} aim repository at {layout.root}")


@cli.command()
def version() -> None:
    """Print the aim version and the on-disk format it writes."""
    from aim import __version__
    from aim.storage.layout import FORMAT_NAME, FORMAT_VERSION

    click.echo(f"aim {__version__} ({FORMAT_NAME} {FORMAT_VERSION})")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn our errors into one line and exit code 1."""
    try:
        cli.main(args=argv, prog_name="aim", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AimError as exc:
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(1)
    except BrokenPipeError:
        # `aim ... | head`: the reader left; exit quietly without a traceback.
        sys.stderr.close()
        sys.exit(0)
    except OSError as exc:
        click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    sys.exit(0)
