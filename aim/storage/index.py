"""The materialized index: SQLite tables of run summaries, sequences and param keys.

Rows only: this module never replays a log (``sdk/indexer.py`` does). The index is disposable
(``aim storage reindex`` drops and rebuilds it), so it runs with ``synchronous=OFF``: a power
cut may corrupt it, and a corrupt index is detected and rebuilt. WAL lets many writer
processes update it while others list.

The autocomplete registry is a view over what runs on disk use: ``DISTINCT`` over the
sequences and param keys of every run still in the repo (tombstoned ones included until prune).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from aim.errors import AimError

SCHEMA_VERSION = "5"  # 2: params_marks (exact params without the log); 3: objects; 4: streams;
# 5: forked_from

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    hash TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    name TEXT,
    description TEXT,
    archived INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    status TEXT NOT NULL,
    creation_time REAL,
    end_time REAL,
    last_seq INTEGER NOT NULL,
    tags TEXT NOT NULL,
    params TEXT NOT NULL,
    log_size INTEGER NOT NULL,
    params_marks TEXT NOT NULL DEFAULT '',
    forked_from TEXT NOT NULL DEFAULT ''
);
-- Every listing's order, read off this index with no sort (a sort was a fifth of listing
-- 100k runs: tools/bench.py). runs_by_time (creation_time alone) was its older form.
DROP INDEX IF EXISTS runs_by_time;
CREATE INDEX IF NOT EXISTS runs_in_order ON runs (creation_time, hash);
CREATE TABLE IF NOT EXISTS sequences (
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    context TEXT NOT NULL,
    points INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    last_value TEXT,
    PRIMARY KEY (hash, name, context)
);
CREATE TABLE IF NOT EXISTS objects (
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    context TEXT NOT NULL,
    kind TEXT NOT NULL,
    points INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    PRIMARY KEY (hash, name, context)
);
-- One row per stream of a run written by several writers (docs/distributed.md): that
-- stream's own runs row as JSON. The runs row is the streams' merge, redone by each writer.
CREATE TABLE IF NOT EXISTS streams (
    hash TEXT NOT NULL,
    stream TEXT NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (hash, stream)
);
CREATE TABLE IF NOT EXISTS param_keys (
    hash TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (hash, key)
);
"""

RUN_COLUMNS = (
    "hash",
    "experiment",
    "name",
    "description",
    "archived",
    "deleted",
    "status",
    "creation_time",
    "end_time",
    "last_seq",
    "tags",
    "params",
    "log_size",
    "params_marks",
    "forked_from",
)
# Columns a row may leave out: params_marks is empty when no param needs a note.
_ROW_DEFAULTS = {"params_marks": "", "forked_from": ""}


class IndexCorruptError(AimError):
    """The index file cannot be used; callers drop and rebuild it (``aim storage reindex``)."""

    hint = "run `aim storage reindex`"


class IndexLockedError(AimError, sqlite3.OperationalError):
    """Another connection held the index longer than the busy timeout ("database is locked").

    Deliberately not an ``IndexCorruptError``: the file is fine and in use, so nothing may drop
    it. Also a ``sqlite3.OperationalError``, which is what this was raised as before it had a
    name, so older ``except`` clauses keep catching it.
    """

    hint = "another aim process is writing the index; try again"


# SQLITE_BUSY: another connection holds the lock; SQLITE_LOCKED: a conflict within one
# connection or shared cache. Extended codes (SQLITE_BUSY_SNAPSHOT, ...) carry them in the low byte.
_BUSY_CODES = (getattr(sqlite3, "SQLITE_BUSY", 5), getattr(sqlite3, "SQLITE_LOCKED", 6))


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+; 3.10 has only the message
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    """The one translation of SQLite's errors, around every use of the connection.

    Busy or locked becomes ``IndexLockedError`` (retry later; never a reason to drop the file);
    every other ``sqlite3.Error`` becomes ``IndexCorruptError``, which ``sdk/indexer.py`` answers
    by dropping and rebuilding the index.
    """
    try:
        yield
    except IndexLockedError:
        raise
    except sqlite3.Error as exc:
        if _is_busy(exc):
            raise IndexLockedError(f"index {exc}") from exc
        raise IndexCorruptError(str(exc)) from exc


class Index:
    """A connection to ``.aim/index/index.sqlite``; safe to share between threads.

    Every method raises ``IndexLockedError`` when another connection holds the database past
    ``busy_timeout`` seconds and ``IndexCorruptError`` for any other SQLite error.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 60.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self.created = not path.exists()
        self._pid = os.getpid()
        self._ino = -1
        with _sqlite_errors():
            self._db = self._connect()
            try:
                row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise IndexCorruptError(f"index schema {row[0]}, expected {SCHEMA_VERSION}")
            except BaseException:
                self._db.close()  # the caller may drop the file next: hold no handle to it
                raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, check_same_thread=False,
                             isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.executescript(_SCHEMA)
        self._ino = _inode(self.path)
        return db

    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child gets its own. And after a reindex in
        # another process replaced the file, rows written here would go to the deleted one.
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self._db = self._connect()
            self._pid = os.getpid()
        elif _inode(self.path) != self._ino:
            with self._lock:
                self._db.close()
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = self._connect()
        return self._db

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection, held under the thread lock, with errors translated: every query's way in."""
        with _sqlite_errors():
            db = self._conn()
            with self._lock:
                yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``_using`` inside ``BEGIN IMMEDIATE``: committed when the block ends, else rolled back."""
        with self._using() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    # The block or COMMIT failed. Left open, the transaction would make the
                    # next BEGIN fail; a failing ROLLBACK must not hide the error that matters.
                    with suppress(sqlite3.Error):
                        db.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._using() as db:
            return db.execute(sql, tuple(args)).fetchall()

    def write_run(
        self,
        run_row: dict[str, Any],
        sequences: list[tuple[str, str, int, int, str | None]] | None,
        param_keys: list[str] | None,
        *,
        objects: list[tuple[str, str, str, int, int]] | None = None,
        all_sequences: bool = False,
        if_unchanged: tuple[str, int] | bool | None = False,
        streams: list[tuple[str, str]] | None = None,
    ) -> bool:
        """Upsert one run's row, and (when given) its sequences and param keys, atomically;
        return False when nothing was written.

        ``all_sequences``: ``sequences`` is the run's whole set (a replay of its log), so rows
        of sequences not in it go: a writer indexes a new sequence when it is tracked, and when
        it dies before that event reached the log, its row must not outlive it.
        ``if_unchanged``: a compare-and-set for a replay made from what an earlier read of the
        index saw: ``(status, log_size)`` of the row then, or None when there was no row. When
        the row is no longer that (a writer resumed the run, wrote and closed between the replay
        and this write), nothing is written: an older state must not be put back.
        ``streams``: the ``(stream, row JSON)`` of each of a multi-writer run's streams, replacing
        the ones held (see ``write_stream``).
        """
        h = run_row["hash"]
        run_row = {**_ROW_DEFAULTS, **run_row}
        with self._transaction() as db:
            if if_unchanged is not False:
                have = db.execute("SELECT status, log_size FROM runs WHERE hash = ?", (h,)).fetchone()
                if (tuple(have) if have is not None else None) != if_unchanged:
                    return False
            if all_sequences:
                db.execute("DELETE FROM sequences WHERE hash = ?", (h,))
            db.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(RUN_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                tuple(run_row[c] for c in RUN_COLUMNS),
            )
            if sequences is not None:
                db.executemany(
                    "INSERT OR REPLACE INTO sequences VALUES (?, ?, ?, ?, ?, ?)",
                    [(h, *s) for s in sequences],
                )
            if objects is not None:  # the whole set each time: a run has few object sequences
                db.execute("DELETE FROM objects WHERE hash = ?", (h,))
                db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?)", [(h, *o) for o in objects])
            if param_keys is not None:
                db.execute("DELETE FROM param_keys WHERE hash = ?", (h,))
                db.executemany("INSERT OR IGNORE INTO param_keys VALUES (?, ?)", [(h, k) for k in param_keys])
            if streams is not None:
                db.execute("DELETE FROM streams WHERE hash = ?", (h,))
                db.executemany("INSERT INTO streams VALUES (?, ?, ?)", [(h, *st) for st in streams])
        return True

    def write_stream(
        self,
        run_hash: str,
        stream: str,
        row_json: str,
        sequences: list[tuple[str, str, int, int, str | None]],
        objects: list[tuple[str, str, str, int, int]],
        merge: Callable[[list[tuple[str, str]]], tuple[dict[str, Any], list[str]]],
    ) -> None:
        """A live writer of one stream of a multi-writer run: store its stream's row, upsert its
        sequences and object sequences (never dropping the other streams'), and redo the run's
        row and param keys from every stream's row (``merge``: ``(stream, row JSON)`` pairs to
        the runs row and the param keys), in one transaction, so writers never undo each other."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO streams VALUES (?, ?, ?)", (run_hash, stream, row_json))
            rows = db.execute("SELECT stream, row FROM streams WHERE hash = ?", (run_hash,)).fetchall()
            run_row, param_keys = merge(rows)
            run_row = {**_ROW_DEFAULTS, **run_row}
            db.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(RUN_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                tuple(run_row[c] for c in RUN_COLUMNS),
            )
            db.executemany("INSERT OR REPLACE INTO sequences VALUES (?, ?, ?, ?, ?, ?)",
                           [(run_hash, *sq) for sq in sequences])
            db.executemany("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?)",
                           [(run_hash, *o) for o in objects])
            db.execute("DELETE FROM param_keys WHERE hash = ?", (run_hash,))
            db.executemany("INSERT OR IGNORE INTO param_keys VALUES (?, ?)",
                           [(run_hash, k) for k in param_keys])

    def update_run(self, run_hash: str, **fields: Any) -> bool:
        """Change some columns of one run's row; False when the run has no row."""
        bad = set(fields) - set(RUN_COLUMNS)
        if bad:
            raise ValueError(f"unknown index columns: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._using() as db:
            cur = db.execute(f"UPDATE runs SET {sets} WHERE hash = ?", (*fields.values(), run_hash))
            return cur.rowcount > 0

    def remove_run(self, run_hash: str) -> None:
        """Forget a run (its directory is gone)."""
        with self._transaction() as db:
            for table in ("runs", "sequences", "objects", "param_keys", "streams"):
                db.execute(f"DELETE FROM {table} WHERE hash = ?", (run_hash,))

    def clear(self) -> None:
        """Drop every row (reindex starts from here)."""
        with self._transaction() as db:
            for table in ("runs", "sequences", "objects", "param_keys", "streams"):
                db.execute(f"DELETE FROM {table}")

    def run_rows(self, *, experiment: str | None = None, include_deleted: bool = False,
                 only_deleted: bool = False) -> list[dict[str, Any]]:
        """Run rows, oldest first, filtered by experiment and tombstone state."""
        where, args = [], []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if only_deleted:
            where.append("deleted = 1")
        elif not include_deleted:
            where.append("deleted = 0")
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY creation_time, hash"
        return [dict(zip(RUN_COLUMNS, r)) for r in self._run(sql, args)]

    def select_run_rows(self, where: str, args: Iterable[Any] = (), *, certain: str = "0",
                        certain_args: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """The not-deleted run rows for which the SQL condition ``where`` (over the table
        ``runs``) holds, in ``run_rows``' order and with its columns, plus ``certain``: whether
        the SQL condition ``certain`` holds for the row (a compiled query's rows that need no
        check in Python, see ``aim.core.query.sql``). Values come as bound ``args``, never in
        the SQL text."""
        sql = (f"SELECT {', '.join(RUN_COLUMNS)}, ({certain}) FROM runs WHERE deleted = 0 AND ({where}) "
               "ORDER BY creation_time, hash")
        return [{**dict(zip(RUN_COLUMNS, r)), "certain": bool(r[-1])}
                for r in self._run(sql, (*certain_args, *args))]

    def run_page(self, where: str, args: Iterable[Any], order: str, order_args: Iterable[Any],
                 limit: int, offset: int, deleted: bool = False) -> tuple[int, list[dict[str, Any]]]:
        """One page of the not-deleted runs for which ``where`` holds, sorted by ``order`` (an
        ``ORDER BY`` list ending in a unique key, so that pages never overlap), and how many
        there are in all: the runs table of ``aim up``. Values come as bound arguments.
        ``deleted``: the tombstoned runs instead (the UI's restore list)."""
        args = tuple(args)
        flag = int(deleted)
        sql = (f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE deleted = {flag} AND ({where}) "
               f"ORDER BY {order} LIMIT ? OFFSET ?")
        with self._using() as db:
            total = db.execute(f"SELECT count(*) FROM runs WHERE deleted = {flag} AND ({where})",
                               args).fetchone()[0]
            rows = db.execute(sql, (*args, *order_args, limit, offset)).fetchall()
        return total, [dict(zip(RUN_COLUMNS, r)) for r in rows]

    def last_values(self, hashes: list[str], keys: list[tuple[str, str]]) -> dict[tuple[str, str, str], Any]:
        """``(hash, name, context_json) -> last value JSON`` of these runs' sequences."""
        if not hashes or not keys:
            return {}
        names = sorted({k[0] for k in keys})
        rows = self._run(
            "SELECT hash, name, context, last_value FROM sequences WHERE hash IN (SELECT value FROM "
            "json_each(?)) AND name IN (SELECT value FROM json_each(?))",
            (json.dumps(hashes), json.dumps(names)))
        wanted = set(keys)
        return {(h, n, c): v for h, n, c, v in rows if (n, c) in wanted}

    def data_version(self) -> tuple[int, int]:
        """Changes whenever any connection (this one included) commits a change: a cache of
        query results keyed by it is never stale."""
        with self._using() as db:
            return db.execute("PRAGMA data_version").fetchone()[0], db.total_changes

    def run_tuples(self) -> list[tuple[Any, ...]]:
        """Every not-deleted run's row as a tuple in ``RUN_COLUMNS`` order, oldest first: what a
        listing of many runs reads. Tuples of plain values are untracked by Python's garbage
        collector, dicts are not: 100k row dicts held at once made each collection walk them
        all (about 40% of listing 100k runs)."""
        return self._run(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE deleted = 0 "
                         "ORDER BY creation_time, hash")

    def run_row(self, run_hash: str) -> dict[str, Any] | None:
        """One run's row, or None."""
        rows = self._run(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE hash = ?", (run_hash,))
        return dict(zip(RUN_COLUMNS, rows[0])) if rows else None

    def indexed(self) -> dict[str, tuple[str, int]]:
        """``hash -> (status, log_size)`` for every indexed run: enough to spot staleness."""
        return {h: (s, n) for h, s, n in self._run("SELECT hash, status, log_size FROM runs")}

    def sequence_rows(self, run_hash: str) -> list[tuple[str, str, int, int, str | None]]:
        """``(name, context_json, points, last_step, last_value_json)`` of one run."""
        return self._run(  # sqlite3 rows are plain tuples already
            "SELECT name, context, points, last_step, last_value FROM sequences "
            "WHERE hash = ? ORDER BY name, context",
            (run_hash,),
        )

    def registry_sequences(self) -> list[tuple[str, str]]:
        """Distinct (name, context_json) over every run in the repo."""
        return self._run("SELECT DISTINCT name, context FROM sequences ORDER BY name, context")

    def object_rows(self, run_hash: str) -> list[tuple[str, str, str, int, int]]:
        """``(name, context_json, kind, points, last_step)`` of one run's object sequences."""
        return self._run("SELECT name, context, kind, points, last_step FROM objects WHERE hash = ? "
                         "ORDER BY kind, name, context", (run_hash,))

    def registry_objects(self) -> list[tuple[str, str, str]]:
        """Distinct ``(kind, name, context_json)`` of the object sequences in the repo."""
        return self._run("SELECT DISTINCT kind, name, context FROM objects ORDER BY kind, name, context")

    def registry_params(self) -> list[str]:
        """Distinct param keys (dotted) over every run in the repo."""
        return [r[0] for r in self._run("SELECT DISTINCT key FROM param_keys ORDER BY key")]

    def param_key_rows(self, run_hash: str) -> list[str]:
        """One run's param keys."""
        return [r[0] for r in self._run(
            "SELECT key FROM param_keys WHERE hash = ? ORDER BY key", (run_hash,))]


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def drop_index_files(path: Path) -> None:
    """Delete the index database and its WAL/SHM side files."""
    for suffix in ("", "-wal", "-shm"):
        try:
            Path(str(path) + suffix).unlink()
        except FileNotFoundError:
            pass
