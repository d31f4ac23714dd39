import os
import sqlite3

import pytest

from aim.errors import (
    InvalidRunHashError,
    NotADirectoryRepoError,
    RepoFormatError,
    RepoNotFoundError,
    RunLockedError,
)
from aim.storage.hashes import is_run_hash, new_run_hash, validate_run_hash
from aim.storage.index import Index
from aim.storage.layout import RepoLayout, parse_segment_name, resolve_aim_dir, segment_name
from aim.storage.lock import RunLock, is_locked


def test_hashes():
    h = new_run_hash()
    assert is_run_hash(h) and len(h) == 24
    for bad in ["../../etc", "A" * 24, "a" * 23, "a" * 25, "/" + "a" * 23, "a" * 23 + "\n", None, 5]:
        with pytest.raises(InvalidRunHashError):
            validate_run_hash(bad)


def test_run_dir_validates_before_joining(tmp_path):
    layout = RepoLayout(tmp_path / ".aim")
    with pytest.raises(InvalidRunHashError):
        layout.run_dir("../../../etc/passwd")


def test_segment_names():
    assert segment_name(7) == "00000007.jsonl.zst"
    assert parse_segment_name("00000007.jsonl.zst") == 7
    assert parse_segment_name("7.jsonl.zst") is None
    assert parse_segment_name("00000007.jsonl.zst.tmp") is None


def test_resolve_accepts_parent_or_aim_dir(tmp_path):
    assert resolve_aim_dir(tmp_path) == resolve_aim_dir(tmp_path / ".aim") == tmp_path / ".aim"


def test_init_check_and_version(tmp_path):
    layout = RepoLayout(tmp_path / ".aim")
    with pytest.raises(RepoNotFoundError):
        layout.check()
    assert layout.init() is True
    assert layout.init() is False
    assert layout.version_file.read_text() == "aim-eventlog 1\n"
    layout.version_file.write_text("aim-eventlog 99\n")
    with pytest.raises(RepoFormatError, match="newer"):
        layout.check()
    layout.version_file.write_text("something else\n")
    with pytest.raises(RepoFormatError):
        layout.check()


def test_repo_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryRepoError):
        RepoLayout(f / ".aim").init()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / ".aim").write_text("x")
    with pytest.raises(NotADirectoryRepoError):
        RepoLayout(tmp_path / "d" / ".aim").check()


def test_lock_is_exclusive_names_pid_and_is_released(tmp_path):
    path = tmp_path / "LOCK"
    a, b = RunLock(path), RunLock(path)
    a.acquire()
    assert is_locked(path)
    with pytest.raises(RunLockedError, match=str(os.getpid())) as info:
        b.acquire()
    assert info.value.pid == os.getpid()
    a.release()
    assert not is_locked(path)
    b.acquire()
    b.release()


def test_probe_does_not_release_the_holders_lock(tmp_path):
    path = tmp_path / "LOCK"
    a = RunLock(path)
    a.acquire()
    for _ in range(3):
        assert is_locked(path)
    a.release()


def test_index_write_and_query(tmp_path):
    idx = Index(tmp_path / "i.sqlite")
    row = {"hash": "a" * 24, "experiment": "e", "name": None, "description": None, "archived": 0,
           "deleted": 0, "status": "finished", "creation_time": 1.0, "end_time": 2.0, "last_seq": 3,
           "tags": "[]", "params": "{}", "log_size": 10}
    idx.write_run(row, [("loss", "{}", 3, 2, "0.5")], ["hp.lr"])
    assert idx.run_row("a" * 24)["status"] == "finished"
    assert idx.registry_sequences() == [("loss", "{}")]
    assert idx.registry_params() == ["hp.lr"]
    idx.write_run({**row, "deleted": 1}, None, None)
    assert idx.run_rows() == [] and len(idx.run_rows(include_deleted=True)) == 1
    assert idx.registry_params() == ["hp.lr"]  # param keys kept when not given
    idx.remove_run("a" * 24)
    assert idx.registry_sequences() == [] and idx.registry_params() == []
    idx.close()


def test_index_schema_mismatch_is_reported_as_corrupt(tmp_path):
    from aim.storage.index import IndexCorruptError

    p = tmp_path / "i.sqlite"
    Index(p).close()
    db = sqlite3.connect(p)
    db.execute("UPDATE meta SET value='0' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(IndexCorruptError):
        Index(p)


def _row(run_hash: str = "a" * 24, **changes: object) -> dict:
    row = {"hash": run_hash, "experiment": "e", "name": None, "description": None, "archived": 0,
           "deleted": 0, "status": "finished", "creation_time": 1.0, "end_time": 2.0, "last_seq": 3,
           "tags": "[]", "params": "{}", "log_size": 10}
    return {**row, **changes}


def test_every_write_waits_then_says_the_index_is_locked_and_keeps_it(tmp_path):
    from aim.errors import AimError
    from aim.storage.index import IndexCorruptError, IndexLockedError

    p = tmp_path / "i.sqlite"
    idx = Index(p, busy_timeout=0.05)
    idx.write_run(_row(), [("loss", "{}", 3, 2, "0.5")], ["hp.lr"])
    holder = sqlite3.connect(p, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a real second connection holding the write lock
    try:
        writes = {
            "write_run": lambda: idx.write_run(_row(status="failed"), None, None),
            "update_run": lambda: idx.update_run("a" * 24, archived=1),
            "remove_run": lambda: idx.remove_run("a" * 24),
            "clear": idx.clear,
        }
        for name, write in writes.items():
            with pytest.raises(IndexLockedError, match="locked") as info:
                write()
            # Busy is not damage: callers that drop a corrupt index must not catch this one.
            assert not isinstance(info.value, IndexCorruptError), name
            assert isinstance(info.value, AimError) and isinstance(info.value, sqlite3.OperationalError)
        assert idx.run_row("a" * 24)["status"] == "finished"  # WAL: readers are not blocked
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Nothing was half-applied, and no transaction was left open on the connection.
    assert idx.run_row("a" * 24)["archived"] == 0
    assert idx.update_run("a" * 24, archived=1) is True
    idx.clear()
    assert idx.run_rows(include_deleted=True) == []
    idx.close()


def test_every_method_reports_other_sqlite_errors_as_corrupt(tmp_path):
    from aim.storage.index import IndexCorruptError

    p = tmp_path / "i.sqlite"
    idx = Index(p)
    other = sqlite3.connect(p, isolation_level=None)
    other.execute("DROP TABLE runs")
    other.close()
    for call in (lambda: idx.write_run(_row(), None, None), lambda: idx.update_run("a" * 24, archived=1),
                 lambda: idx.remove_run("a" * 24), idx.clear, idx.run_rows, lambda: idx.run_row("a" * 24)):
        with pytest.raises(IndexCorruptError, match="no such table"):
            call()
    idx.close()


def test_a_failed_transaction_is_rolled_back_and_the_next_one_works(tmp_path):
    idx = Index(tmp_path / "i.sqlite")
    with pytest.raises(TypeError):
        idx.write_run(_row(), [None], ["k"])  # fails after the run's row went in
    assert idx.run_rows() == [] and idx.registry_params() == []
    idx.write_run(_row(), None, ["k"])
    assert idx.registry_params() == ["k"]
    idx.close()
