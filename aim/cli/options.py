"""Shared options and parameter types: ``--repo``, ``--json``, ``-y``, run hashes."""

from __future__ import annotations

from typing import Any

import click

repo_option = click.option(
    "--repo",
    default=".",
    show_default=True,
    envvar="AIM_REPO",
    help="Folder holding .aim (or the .aim folder itself).",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")


class RunHashType(click.ParamType):
    """A 24-hex run hash, validated before it reaches a path."""

    name = "HASH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from aim.storage.hashes import validate_run_hash

        # A malformed hash is a user error about data, not usage: one line, exit 1.
        return validate_run_hash(value)


RUN_HASH = RunHashType()


def open_repo(path: str) -> Any:
    """Open an existing repository (errors are AimErrors, printed by the one handler)."""
    from aim.sdk.repo import Repo

    return Repo.from_path(path)
