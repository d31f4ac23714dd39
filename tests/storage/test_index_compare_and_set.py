"""A heal's replay never puts back an older state over a row a writer wrote meanwhile."""

from __future__ import annotations

from aim.storage.index import RUN_COLUMNS, Index


def row(h: str, status: str, log_size: int, last_seq: int) -> dict:
    base = {c: None for c in RUN_COLUMNS}
    base.update(hash=h, experiment="e", archived=0, deleted=0, status=status, last_seq=last_seq,
                tags="[]", params="{}", log_size=log_size)
    return base


def test_write_run_if_unchanged_is_a_compare_and_set(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    h = "a" * 24
    # A heal read no row, replayed the log ... and a writer created the row meanwhile: kept.
    index.write_run(row(h, "finished", 3161, 40), [("loss", "{}", 3, 2, "0.5")], [])
    assert index.write_run(row(h, "crashed", 3095, 38), [], [], all_sequences=True, if_unchanged=None) is False
    assert index.run_row(h)["log_size"] == 3161 and len(index.sequence_rows(h)) == 1
    # The row is still what the heal read: its replay goes in.
    assert index.write_run(row(h, "crashed", 3200, 41), [], [], if_unchanged=("finished", 3161)) is True
    assert (index.run_row(h)["status"], index.run_row(h)["log_size"]) == ("crashed", 3200)
    # A stale expectation (the row changed since it was read): nothing is written.
    assert index.write_run(row(h, "crashed", 10, 1), [], [], if_unchanged=("running", 3161)) is False
    assert index.run_row(h)["log_size"] == 3200
    index.close()
