"""Turn `aim runs` arguments (hashes, prefixes, globs, filters) into run hashes."""

from __future__ import annotations

import re
import time
from typing import Any

import click

from aim.errors import AimError

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``30d`` → seconds. Units: s, m, h, d, w."""
    m = _AGE.match(text.strip())
    if not m:
        raise AimError(f"invalid age {text!r}: use a number and a unit, e.g. 30d, 12h, 90m")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _keep_query(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    # Kept in the context instead of passed to each command: select() reads it.
    if value is not None:
        ctx.meta["aim_query"] = value


def current_query() -> str | None:
    """The ``--query`` of the command being run (None when not given, or outside a command)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("aim_query") if ctx is not None else None


def has_filters(experiment: str | None, older_than: str | None) -> bool:
    """Whether any of ``select_options``' filters was given (``--query`` included)."""
    return experiment is not None or older_than is not None or current_query() is not None


def select_options(f: Any) -> Any:
    """The run filters shared by rm, restore, cp, mv, export and upload."""
    f = click.option("--query", "-q", default=None, metavar="EXPR", expose_value=False,
                     callback=_keep_query,
                     help="Only runs for which this AimQL expression holds (docs/query.md).")(f)
    f = click.option("--older-than", default=None, metavar="AGE",
                     help="Only runs created more than AGE ago (e.g. 30d, 12h).")(f)
    f = click.option("--experiment", default=None, help="Only runs of this experiment.")(f)
    return f


def select(repo: Any, patterns: tuple[str, ...], *, experiment: str | None, older_than: str | None,
           deleted: bool | None, query: str | None = None) -> tuple[list[str], list[Any]]:
    """Resolve selectors to hashes; ``deleted`` picks tombstoned (True), live (False) or both.

    ``query`` defaults to the command's ``--query``. Returns (hashes, errors): a selector that
    matches nothing, an ambiguous prefix or a malformed pattern is an error, reported and
    counted as a failure. A bad query raises ``QueryError`` (one line, exit 1).
    """
    from aim.sdk.maintenance import Outcome, resolve_hashes

    if query is None:
        query = current_query()
    if not patterns and experiment is None and older_than is None and query is None:
        raise click.UsageError("name at least one run (hash, prefix or glob) or a filter")
    # Runs a live writer has just created (not indexed before its first flush) are chosen like
    # any live run, so that the operation refuses them by name instead of skipping them.
    rows = repo.list_runs(include_deleted=True, include_starting=True)
    listed = {r["hash"] for r in rows}
    wrong_state = set()
    if deleted is not None:
        wrong_state = {r["hash"] for r in rows if r["deleted"] != deleted}
        rows = [r for r in rows if r["deleted"] == deleted]
    if experiment is not None:
        rows = [r for r in rows if r["experiment"] == experiment]
    if older_than is not None:
        cutoff = time.time() - parse_age(older_than)
        rows = [r for r in rows if (r["creation_time"] or 0) < cutoff]
    if query is not None:
        # Not Repo.query_runs: that sees only indexed, not-deleted runs, and restore (and a
        # --query on rm, export, upload) must match deleted ones too.
        from aim.sdk.query import matching_rows

        rows = matching_rows(repo, query, rows)
    candidates = [r["hash"] for r in rows]
    if not patterns:
        return candidates, []
    # Selectors are matched against every run on disk so that "no run" is told apart from
    # "filtered out"; the filters then narrow the result.
    hashes, errors = resolve_hashes(sorted(repo_run_hashes(repo)), patterns)
    # A run named explicitly but in the wrong state is an error, not a silent skip.
    state = "deleted (restore it first)" if deleted is False else "not deleted"
    errors += [Outcome(h, False, f"run {h} is {state}") for h in hashes
               if h in wrong_state and not any(c in p for p in patterns for c in "*?[")]
    allowed = set(candidates)
    # A run named explicitly that is on disk but in no row: its writer died before its first
    # event (or it was indexed a moment ago). No filter can match what is unknown, but without
    # filters the operation itself says which, under the run's lock, instead of a silent skip.
    unfiltered = experiment is None and older_than is None and query is None
    plain = [p for p in patterns if not any(c in p for c in "*?[")]
    unlisted = {h for h in hashes if unfiltered and h not in listed and any(h.startswith(p) for p in plain)}
    return [h for h in hashes if h in allowed or h in unlisted], errors


def repo_run_hashes(repo: Any) -> list[str]:
    """Every run directory's hash."""
    from aim.sdk.indexer import run_hashes_on_disk

    return run_hashes_on_disk(repo.layout)


def report(outcomes: list[Any], errors: list[Any], verb: str) -> None:
    """Print one line per run; exit 1 when anything failed (after printing everything)."""
    for o in errors:
        click.echo(f"error: {o.message}", err=True)
    for o in outcomes:
        if o.ok:
            click.echo(f"{o.message:<16} {o.hash}")
        else:
            click.echo(f"error: {o.hash}: {o.message}", err=True)
    ok = sum(o.ok for o in outcomes)
    failed = len(errors) + len(outcomes) - ok
    click.echo(f"{verb} {ok} run{'s' if ok != 1 else ''}" + (f", {failed} failed" if failed else ""),
               err=True)
    if failed:
        raise SystemExit(1)
