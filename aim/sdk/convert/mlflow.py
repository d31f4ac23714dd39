"""``aim convert mlflow PATH_OR_URI``: MLflow runs as runs (docs/convert.md has the table).

Read with mlflow's ``MlflowClient``: an ``mlruns`` folder (or a folder holding ``mlruns/`` or
``mlflow.db``), a ``file:`` URI, ``sqlite:///PATH`` (or the ``.db`` file), an ``http(s)://``
server. The source is never written: a SQLite database is opened read-only (``mode=ro``; mlflow
would otherwise create missing tables or a default experiment), a file store must already hold
its ``.trash`` (mlflow would create it), and ``MLFLOW_ALLOW_FILE_STORE``, which mlflow 3 needs
to open a file store, is set for the import only.

Aim's own converter's rules are kept (params ``mlflow_run_id``, ``mlflow_run_name``, ``params``
as MLflow's strings, ``tags`` the user's tags; the note as description; artifacts' images, texts
and audio as one list per folder at step 0). Added: the experiment's name, the run name, every
point's timestamp, start, end and status, ``mlflow_experiment_id`` and ``mlflow_system_tags``.
A deleted run (or a deleted experiment's) is imported archived; a run not ended is left for a
later import, with a note: imported now, what it logs next would never arrive.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

from aim.core import events as ev
from aim.errors import AimError, require
from aim.sdk.convert.builder import Progress, RunBuilder, source_hash
from aim.sdk.convert.report import ConvertReport, SourceError, one_line
from aim.sdk.objects.base import MAX_BLOB_BYTES, AimObject
from aim.sdk.store import RepoStore

ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
STATUSES = {"FINISHED": ev.STATUS_FINISHED, "FAILED": ev.STATUS_FAILED, "KILLED": ev.STATUS_TERMINATED}
PAGE = 1000  # runs and experiments asked per search call
NAME_TAG, NOTE_TAG = "mlflow.runName", "mlflow.note.content"
# Aim's converter's extension lists; html and anything else is skipped.
KINDS = {**dict.fromkeys(("jpg", "bmp", "jpeg", "png", "gif", "svg"), "image"),
         **dict.fromkeys(("flac", "mp3", "wav"), "audio"),
         **dict.fromkeys(("txt", "log", "py", "js", "yaml", "yml", "json", "csv", "tsv", "md", "rst",
                          "jsonnet"), "text")}
SQLITE_MAGIC = b"SQLite format 3\0"
SCHEMA_HINT = ("install the mlflow version that wrote the database, or upgrade a copy of it "
               "(mlflow db upgrade sqlite:///COPY.db) and import the copy")


@dataclass(frozen=True)
class Store:
    """Where to read: the URI given to mlflow, what the report shows, and whether it is a file
    store (which mlflow 3 opens only with ``MLFLOW_ALLOW_FILE_STORE``)."""

    uri: str
    location: str
    file_store: bool = False


def _bad(message: str) -> SourceError:
    # A source that is not an MLflow store is a usage error (exit code 2 from the CLI), as a
    # missing folder is for the other importers, which the CLI checks before calling them.
    return SourceError(message, "PATH_OR_URI")


def resolve_store(source: str) -> Store:
    """The store ``source`` names (see the module docstring), or ``SourceError``."""
    scheme = urlparse(source).scheme
    if scheme in ("http", "https"):
        return Store(source, source)  # read through the server's REST API, which only reads
    if scheme == "sqlite":  # the path as SQLAlchemy reads it (unquoted, up to the query)
        database = _make_url(source).database or ""
        return _sqlite_store(Path(database.removeprefix("file:")).expanduser())
    if scheme == "file":
        path = Path(unquote(urlparse(source).path))
    elif len(scheme) > 1:  # one letter is a Windows drive
        raise _bad(f"{source}: not a store this importer reads (an mlruns folder, file:, sqlite:///, http(s)://)")
    else:
        path = Path(source).expanduser()
    if path.is_file():
        return _sqlite_store(path)
    if not path.is_dir():
        raise _bad(f"no folder {source}")
    inside = [p for p in (path / "mlruns", path / "mlflow.db") if p.exists()]
    if len(inside) == 2:
        raise _bad(f"{path} holds both mlruns/ and mlflow.db: name the one to import")
    if inside:
        return _sqlite_store(inside[0]) if inside[0].is_file() else _file_store(inside[0])
    return _file_store(path)


def _file_store(path: Path) -> Store:
    if not (path / ".trash").is_dir():
        if any(path.glob("*/meta.yaml")):
            raise _bad(f"{path} has no .trash folder, which mlflow would create on opening it; "
                       f"create it (mkdir {path / '.trash'}) and import again")
        raise _bad(f"{path} is not an MLflow store (no mlruns folder, no .trash, no experiment)")
    # A file URI, not the path: mlflow unquotes %XX in a path too, which would name another folder.
    return Store(path.absolute().as_uri(), str(path.absolute()), file_store=True)


def _make_url(uri: str) -> Any:
    """The URL as SQLAlchemy (so mlflow) reads it."""
    return _need("sqlalchemy.engine", "sqlalchemy").make_url(uri)


def _sqlite_store(path: Path) -> Store:
    """A read-only URI for the database at ``path``, after checking that it holds MLflow's tables."""
    path = path.absolute()
    if not path.is_file():
        raise _bad(f"no file {path}")
    with open(path, "rb") as fh:
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise _bad(f"{path} is not a SQLite database")
    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise _bad(f"{path}: {exc}") from None
    finally:
        db.close()
    if not {"experiments", "runs", "metrics", "alembic_version"} <= tables:
        raise _bad(f"{path} is not an MLflow database (no experiments, runs or metrics table)")
    # SQLAlchemy 2 unquotes the database part of a URL once, sqlite decodes the URI's %XX: quote
    # twice, so a '#' or '?' in the path cannot cut off mode=ro. Checked, not assumed.
    for quoted in (quote(quote(str(path))), quote(str(path))):
        # The driver named: mlflow makes the parent folder of a "sqlite:///" database, and of
        # "file:/x/db" that is a relative folder "file:" in the working directory.
        uri = f"sqlite+pysqlite:///file:{quoted}?mode=ro&uri=true"
        if _make_url(uri).database == f"file:{quote(str(path))}":
            return Store(uri, str(path))
    raise _bad(f"{path}: cannot make a read-only SQLite URI of this path")


def _need(module: str, package: str) -> Any:
    """``module``, or the missing extra said before anything is read or written."""
    return require(module, integration="aim convert mlflow", extra="mlflow", package=package)


@contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``changes`` while the block runs, as it was after (mlflow reads these
    settings from the environment only)."""
    before = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _pages(search: Any, **kwargs: Any) -> Iterator[Any]:
    """Every item of a paginated mlflow search."""
    token = None
    while True:
        page = search(max_results=PAGE, page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def _experiments(client: Any, wanted: str | None) -> list[Any]:
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    if wanted is None:
        return sorted(_pages(client.search_experiments, view_type=ViewType.ALL), key=lambda e: e.experiment_id)
    try:  # an id first, then a name, as Aim's converter looks it up
        return [client.get_experiment(wanted)]
    except MlflowException:
        found = client.get_experiment_by_name(wanted)
    if found is None:
        raise SourceError(f"no MLflow experiment with the id or name {wanted!r}", "--experiment")
    return [found]


def convert_mlflow(repo: RepoStore, source: str, experiment: str | None = None,
                   progress: Progress | None = None) -> ConvertReport:
    """Import every ended run of the MLflow store ``source`` (of ``experiment``, a name or id,
    when given) not imported yet; see the module docstring."""
    store = resolve_store(source)
    _need("mlflow.tracking", "mlflow")
    report = ConvertReport("mlflow", store.location)
    # mlflow 3 opens a file store only when allowed; its per-artifact progress bars would garble ours.
    changes = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    if store.file_store:
        changes[ALLOW_FILE_STORE] = "true"
    with _environment(changes):
        from mlflow.entities import ViewType
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient(tracking_uri=store.uri)
            todo = [(exp, run) for exp in _experiments(client, experiment)
                    for run in _pages(client.search_runs, experiment_ids=[exp.experiment_id],
                                      run_view_type=ViewType.ALL)]
        except SourceError:
            raise
        except Exception as exc:  # an unreadable store (another schema...): one line, not a traceback
            hint = SCHEMA_HINT if "schema" in str(exc) else None
            raise AimError(f"cannot read the MLflow store {store.location}: {one_line(exc)}",
                           hint=hint) from None
        for done, (exp, run) in enumerate(todo, 1):
            info = run.info
            run_hash = source_hash("mlflow", info.run_id)
            if RunBuilder.exists(repo, run_hash):
                report.already += 1
            elif info.status not in STATUSES:
                report.skipped += 1
                report.notes.append(f"run {info.run_id} ({exp.name}/{info.run_name}) is {info.status}: not "
                                    f"imported; import again once it has ended (one whose process died stays "
                                    f"{info.status}: end it in MLflow, MlflowClient().set_terminated(run_id, "
                                    f"'KILLED'))")
            else:
                _import_run(client, repo, run_hash, exp, run, report)
            if progress is not None:
                progress(done, len(todo))
    return report


def _import_run(client: Any, repo: RepoStore, run_hash: str, exp: Any, run: Any, report: ConvertReport) -> None:
    info, data = run.info, run.data
    name = info.run_name or data.tags.get(NAME_TAG)
    builder = RunBuilder(repo, run_hash)
    try:
        points: list[tuple[float, int, str, float]] = []
        negative = 0
        for key in sorted(data.metrics):
            for m in client.get_metric_history(info.run_id, key):
                if m.step < 0:
                    negative += 1
                else:
                    points.append((m.timestamp / 1000, m.step, key, m.value))
        points.sort(key=lambda p: (p[0], p[1]))  # the order the source recorded them in
        start = info.start_time / 1000  # MLflow's times are in ms; an ended run has both
        end = info.end_time / 1000 if info.end_time is not None else max([start, *(p[0] for p in points[-1:])])
        builder.start(start, exp.name, name)
        builder.param("mlflow_run_id", info.run_id, start)
        builder.param("mlflow_run_name", name, start)
        builder.param("mlflow_experiment_id", exp.experiment_id, start)
        builder.param("params", dict(data.params), start)
        system = {k: v for k, v in data.tags.items() if k.startswith("mlflow.")}
        builder.param("tags", {k: v for k, v in data.tags.items() if k not in system}, start)
        kept = {k: v for k, v in system.items() if k not in (NAME_TAG, NOTE_TAG)}  # mapped above and below
        builder.param("mlflow_system_tags", kept, start)
        if data.tags.get(NOTE_TAG):
            builder.meta("description", data.tags[NOTE_TAG], start)
        if "deleted" in (info.lifecycle_stage, exp.lifecycle_stage):
            builder.meta("archived", True, start)
        for ts, step, key, value in points:
            builder.metric(key, value, step, ts)
        skipped = negative + _artifacts(client, builder, info.run_id, end)
        builder.finish(STATUSES[info.status], end)
        builder.commit()
    except Exception as exc:  # one unreadable source run is reported, never the whole import
        builder.abort()
        report.failed(f"run {info.run_id} ({exp.name}/{name})", exc)
        return
    report.imported(builder.points)
    report.skipped += skipped
    if negative:
        report.notes.append(f"run {info.run_id} ({exp.name}/{name}): {negative} points at negative steps "
                            f"not imported (steps here start at 0)")


def _artifacts(client: Any, builder: RunBuilder, run_id: str, ts: float) -> int:
    """Aim's converter's rule for artifacts (module docstring), at the run's end time (MLflow keeps
    no time per artifact). Returns how many were skipped."""
    skipped = 0
    with tempfile.TemporaryDirectory(prefix="aim-mlflow-") as tmp:
        folders: list[str | None] = [None]
        while folders:
            folder = folders.pop()
            found: dict[str, list[AimObject]] = {}
            for info in client.list_artifacts(run_id, folder):
                if info.is_dir:
                    folders.append(info.path)
                    continue
                obj = _artifact(client, run_id, info, tmp)
                if obj is None:
                    skipped += 1
                else:
                    found.setdefault(obj.kind, []).append(obj)
            for kind, objects in sorted(found.items()):
                builder.objects(folder or "root", objects, 0, ts, {"type": kind}, is_list=True)
    return skipped


def _artifact(client: Any, run_id: str, info: Any, tmp: str) -> AimObject | None:
    """One artifact as an object, or None (a kind not mapped, too big, or not what its extension says)."""
    ext = PurePosixPath(info.path).suffix[1:].lower()
    kind = KINDS.get(ext)
    if kind is None or (info.file_size or 0) > MAX_BLOB_BYTES:
        return None
    local = client.download_artifacts(run_id, info.path, tmp)  # an unreachable store fails the run
    from aim.sdk.objects import Audio, Image, Text

    try:  # Aim's converter skips an artifact it cannot convert
        if kind == "image":
            return Image(local, caption=info.path)
        if kind == "audio":
            return Audio(local, format=ext, caption=info.path)
        return Text(Path(local).read_text(encoding="utf-8"))
    except Exception:
        return None
