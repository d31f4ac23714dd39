"""The series store (``sdk/series.py``): reads come from packed columns, equal the log, follow a
live run, and a damaged or stale store is rebuilt, never trusted."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from aim import Repo, Run
from aim.core import events as ev
from aim.sdk import indexer, series
from aim.sdk.log import iter_events
from aim.storage.layout import RepoLayout, resolve_aim_dir

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def from_log(layout: RepoLayout, run_hash: str, name: str, context: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The brute-force answer: every metric event of the sequence, last value per step wins."""
    by_step: dict[int, tuple[Any, ...]] = {}
    for e in iter_events(layout.segment_paths(run_hash)):
        if e.get("type") == ev.METRIC and e["name"] == name and (e.get("context") or {}) == context:
            by_step[e["step"]] = (type(e["value"]).__name__, e["value"], e.get("epoch"), e["ts"])
    return [(s, *by_step[s]) for s in sorted(by_step)]


def from_store(run: Run, name: str, context: dict[str, Any]) -> list[tuple[Any, ...]]:
    m = run.get_metric(name, context)
    assert m is not None
    return [(s, type(v).__name__, v, e, t) for s, v, e, t in zip(m.steps, m.values, m.epochs, m.timestamps)]


def same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    # NaN != NaN: compare its text
    return [tuple(str(x) if isinstance(x, float) and math.isnan(x) else x for x in r) for r in a] == \
        [tuple(str(x) if isinstance(x, float) and math.isnan(x) else x for x in r) for r in b]


def make_run(root: Path) -> str:
    with Run(repo=root, **QUIET) as run:
        run["hparams"] = {"lr": float("nan"), "blob": b"\x00\x01", "name": "NaN"}
        run.add_tag("t")
        for i in range(300):
            run.track(i * 0.5, name="loss", step=i, epoch=i // 100, context={"subset": "train"})
            run.track(i, name="count", step=i)
        for i in (5, 3, 200):  # steps going back: the later value wins
            run.track(-1.0, name="count", step=i)
        run.track(float("inf"), name="loss", step=300, context={"subset": "train"})
        run.track(float("nan"), name="loss", step=301, context={"subset": "train"})
        return run.hash


def test_reads_equal_the_log_and_keep_each_values_type(tmp_path: Path) -> None:
    h = make_run(tmp_path)
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    assert (series.series_root(layout) / h / "manifest.json").exists(), "close materializes a small run"
    run = Run(h, repo=tmp_path, read_only=True)
    for name, ctx in (("loss", {"subset": "train"}), ("count", {})):
        assert same(from_store(run, name, ctx), from_log(layout, h, name, ctx))
    count = run.get_metric("count")
    assert count.values[5] == -1.0 and type(count.values[6]) is int  # mixed ints and floats
    assert count.values.sparse_numpy()[1].dtype.kind == "f" and len(count) == 300
    assert run.get_metric("loss", {"subset": "val"}) is None


def test_a_live_run_reads_every_flushed_event(tmp_path: Path) -> None:
    with Run(repo=tmp_path, **QUIET) as run:
        reader_seen = []
        for batch in range(4):
            for i in range(batch * 50, batch * 50 + 50):
                run.track(float(i), name="x", step=i)
            run.flush()
            reader = Run(run.hash, repo=tmp_path, read_only=True)
            reader_seen.append(reader.get_metric("x").steps)
            assert run.get_metric("x").steps == list(range(batch * 50 + 50))
    assert reader_seen == [list(range(n)) for n in (50, 100, 150, 200)]
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    manifest = series.series_dir(layout, run.hash).read_manifest()
    assert manifest is not None
    assert manifest["sequences"]["x\0{}"]["chunks"] >= 2, "a live run's catch-ups append chunks"


def _col_file(layout: RepoLayout, h: str) -> Path:
    files = sorted((series.series_root(layout) / h).glob("*.col"))
    assert files
    return files[0]


def _truncate(layout: RepoLayout, h: str) -> None:
    f = _col_file(layout, h)
    f.write_bytes(f.read_bytes()[:-9])


def _flip(layout: RepoLayout, h: str) -> None:
    f = _col_file(layout, h)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x40
    f.write_bytes(bytes(data))


def _garbage_manifest(layout: RepoLayout, h: str) -> None:
    (series.series_root(layout) / h / "manifest.json").write_bytes(b"{not json")


def _lying_manifest(layout: RepoLayout, h: str) -> None:
    m = series.series_dir(layout, h).read_manifest()
    assert m is not None
    for entry in m["sequences"].values():
        entry["bytes"] += 4096
    series.series_dir(layout, h).write_manifest(m)


@pytest.mark.parametrize("damage", [_truncate, _flip, _garbage_manifest, _lying_manifest])
def test_a_damaged_store_is_rebuilt_never_trusted(tmp_path: Path, damage: Any) -> None:
    h = make_run(tmp_path)
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    expected = {n: from_log(layout, h, n, c) for n, c in (("loss", {"subset": "train"}), ("count", {}))}
    damage(layout, h)
    run = Run(h, repo=tmp_path, read_only=True)
    assert same(from_store(run, "loss", {"subset": "train"}), expected["loss"])
    assert same(from_store(run, "count", {}), expected["count"])
    # ... and the store is whole again: the next reader reads it without rebuilding.
    for entry in series.series_dir(layout, h).read_manifest()["sequences"].values():  # type: ignore[index]
        assert series.series_dir(layout, h).read(entry["file"], entry["bytes"])


def test_a_stale_store_from_another_log_is_rebuilt(tmp_path: Path) -> None:
    a, b = make_run(tmp_path), make_run(tmp_path)
    with Run(b, repo=tmp_path, **QUIET) as run:  # b's log now differs from a's
        run.track(7.0, name="count", step=1000)
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    root = series.series_root(layout)
    shutil.rmtree(root / b)
    shutil.copytree(root / a, root / b)  # a's store under b's name: its offsets do not fit b
    run = Run(b, repo=tmp_path, read_only=True)
    assert same(from_store(run, "count", {}), from_log(layout, b, "count", {}))
    assert run.get_metric("count").last() == (1000, 7.0)


def test_reindex_drops_the_store_and_reads_rebuild_it(tmp_path: Path) -> None:
    h = make_run(tmp_path)
    before = from_store(Run(h, repo=tmp_path, read_only=True), "count", {})
    repo = Repo(tmp_path)
    repo.reindex()
    assert not series.series_root(repo.layout).exists()
    assert same(from_store(Run(h, repo=tmp_path, read_only=True), "count", {}), before)


def test_an_unwritable_store_is_built_in_memory(tmp_path: Path) -> None:
    h = make_run(tmp_path)
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    shutil.rmtree(series.series_root(layout))
    series.series_root(layout).write_text("not a directory")  # every write under it fails
    run = Run(h, repo=tmp_path, read_only=True)
    assert same(from_store(run, "count", {}), from_log(layout, h, "count", {}))


def test_a_closed_run_opens_from_its_index_rows_without_reading_its_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = make_run(tmp_path)
    expected = indexer.replay_run(RepoLayout(resolve_aim_dir(tmp_path)), h)[0]

    def no_replay(*_: Any) -> Any:
        raise AssertionError("the log was replayed")

    monkeypatch.setattr(indexer, "replay_run", no_replay)
    run = Run(h, repo=tmp_path, read_only=True)
    assert run.tags == ["t"] and run.status == "finished"
    assert run["hparams", "blob"] == b"\x00\x01" and run["hparams", "name"] == "NaN"
    assert math.isnan(run["hparams", "lr"])
    assert run.creation_time == expected.creation_time and run.end_time == expected.end_time
    assert sorted(n for n, _, _run in run.iter_metrics_info()) == ["count", "loss"]


def test_a_stale_index_row_falls_back_to_the_log(tmp_path: Path) -> None:
    h = make_run(tmp_path)
    repo = Repo(tmp_path)
    repo.index.update_run(h, log_size=1)  # the row no longer matches the log: not trusted
    assert indexer.indexed_summary(repo.index, repo.layout, h) is None
    assert Run(h, repo=repo, read_only=True).tags == ["t"]


def test_min_max_keeps_a_spike_that_sample_drops(tmp_path: Path) -> None:
    with Run(repo=tmp_path, **QUIET) as run:
        for i in range(1000):
            run.track(100.0 if i == 537 else 1.0 + (i % 7) * 0.01, name="loss", step=i)
    m = Run(run.hash, repo=tmp_path, read_only=True).get_metric("loss")
    assert 537 not in m.data.sample(10).indices_list()
    picked = m.data.min_max(10)
    assert 537 in picked.indices_list() and len(picked) <= 20
    assert max(picked.values_list()) == 100.0
    steps, (values, _epochs, _ts) = picked.numpy()
    assert list(steps) == picked.indices_list() and float(values.max()) == 100.0


def test_a_big_run_closes_without_materializing_and_the_first_read_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aim.sdk import run_base

    monkeypatch.setattr(run_base, "CLOSE_CATCH_UP_BYTES", 0)
    with Run(repo=tmp_path, **QUIET) as run:
        for i in range(100):
            run.track(float(i), name="x", step=i)
    layout = RepoLayout(resolve_aim_dir(tmp_path))
    assert not (series.series_root(layout) / run.hash / "manifest.json").exists()
    assert Run(run.hash, repo=tmp_path, read_only=True).get_metric("x").steps == list(range(100))
    assert (series.series_root(layout) / run.hash / "manifest.json").exists()
    assert os.path.getsize(series.series_root(layout) / run.hash / "0.col") == 16 + 32 * 100
