"""Property: the index a writer keeps, a rebuilt index, and a replay of the logs all agree.

Hypothesis generates a list of operations on a few runs of one repository (create, track,
params, tags, metadata, close, resume). At checkpoints it compares three views of every run:

1. the incremental index the writer ``Run`` objects maintained (read through a fresh
   connection, both raw and through a new ``Repo`` that heals first);
2. the index after a rebuild (``Repo(path).reindex()`` or the real ``aim storage reindex`` CLI);
3. rows computed here by replaying the logs (``replay_run`` + ``run_row``/``sequence_row``/
   ``leaf_keys``);

and it checks the replayed summary and a read-only ``Run`` against a plain Python model of
what the operations should have produced. Non-finite floats are compared through ``canon``
(NaN != NaN, and ``1 == 1.0 == True`` must not hide a type change).

Every column is compared, ``log_size`` included: a writer counts the bytes it wrote on top of
the size of the log when it opened, which must equal the segment sizes a replay sums.
The final rebuild uses the real ``aim storage reindex`` CLI in a subprocess in the first
explicit example and in about half of the generated ones, ``Repo.reindex()`` otherwise.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aim import Repo, Run
from aim.core.params import leaf_keys
from aim.core.projection import CONTEXT, LAST_VALUE, NEXT_STEP, POINTS
from aim.errors import RunLockedError
from aim.sdk import indexer, series
from aim.storage.index import Index
from aim.storage.layout import RepoLayout, resolve_aim_dir

_CLI = Path(sys.executable).with_name("aim")
AIM_CLI = [str(_CLI)] if _CLI.exists() else [sys.executable, "-m", "aim"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_OPEN_RUNS = 4

# --- strategies: small alphabets, so names, contexts, steps, keys and tags collide ----------

RUN_PICK = st.integers(0, 7)
EXPERIMENTS = st.sampled_from([None, "default", "exp-a", "exp-b"])
METRIC_NAMES = st.sampled_from(["loss", "acc"])
# {} and None are the same sequence; key order must not matter; 1, 1.0 and True are three
# distinct contexts (their JSON differs) even though Python's == says they are equal.
CONTEXTS = st.sampled_from(
    [None, {}, {"subset": "train"}, {"subset": "val"}, {"a": 1, "b": "x"}, {"b": "x", "a": 1},
     {"k": 1}, {"k": 1.0}, {"k": True}]
)
STEPS = st.none() | st.integers(0, 6)
EPOCHS = st.none() | st.integers(0, 3)
METRIC_VALUES = (
    st.floats()
    | st.integers(-(2**65), 2**65)
    | st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0, 1])
)
PARAM_KEYS = st.sampled_from(["a", "b", "c"])
PARAM_PATHS = st.lists(PARAM_KEYS, min_size=1, max_size=3).map(
    lambda p: p[0] if len(p) == 1 else tuple(p)
)
PARAM_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, "NaN", "Infinity", "-Infinity", "", "x"])
)
PARAM_VALUES = st.recursive(
    PARAM_LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.sampled_from(["a", "b", "0", "x.y", ""]), children, max_size=3)
    ),
    max_leaves=6,
)
TAGS = st.sampled_from(["t1", "t2", "t3"])
META = st.one_of(
    st.tuples(st.just("name"), st.sampled_from([None, "", "n1", "n2"])),
    st.tuples(st.just("description"), st.sampled_from([None, "d1", "d2"])),
    st.tuples(st.just("archived"), st.booleans()),
    st.tuples(st.just("experiment"), st.sampled_from(["default", "exp-a", "exp-b"])),
)
TRACK = st.tuples(st.just("track"), RUN_PICK, METRIC_NAMES, CONTEXTS, STEPS, EPOCHS, METRIC_VALUES)

OPS = st.one_of(
    st.tuples(st.just("create"), EXPERIMENTS),
    TRACK,
    TRACK,
    TRACK,
    st.tuples(
        st.just("track_many"), RUN_PICK,
        st.dictionaries(METRIC_NAMES, METRIC_VALUES, min_size=1, max_size=2),
        CONTEXTS, STEPS, EPOCHS,
    ),
    st.tuples(st.just("set_param"), RUN_PICK, PARAM_PATHS, PARAM_VALUES),
    st.tuples(st.just("set_param"), RUN_PICK, PARAM_PATHS, PARAM_VALUES),
    st.tuples(st.just("del_param"), RUN_PICK, PARAM_PATHS),
    st.tuples(st.just("add_tag"), RUN_PICK, TAGS),
    st.tuples(st.just("remove_tag"), RUN_PICK, TAGS),
    st.tuples(st.just("meta"), RUN_PICK, META),
    st.tuples(st.just("close"), RUN_PICK),
    st.tuples(st.just("resume"), RUN_PICK, EXPERIMENTS),
    st.tuples(st.just("resume_open"), RUN_PICK),
    st.tuples(st.just("checkpoint")),
)
OP_LISTS = st.lists(OPS, max_size=30)

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)


# --- comparing values: NaN-aware and type-aware ---------------------------------------------

def canon(v: Any) -> Any:
    """A comparable form: NaN equals NaN, while 1, 1.0, True and -0.0/0.0 stay distinct."""
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("nan",) if v != v else ("float", v, math.copysign(1.0, v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (list, tuple)):
        return ("list", tuple(canon(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple(sorted((k, canon(x)) for k, x in v.items())))
    raise TypeError(f"unexpected {type(v).__name__}")


# --- the model ------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """What a param value reads back as: tuples become lists, everything copied."""
    if isinstance(value, dict):
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(x) for x in value]
    return value


def metric_stored(value: Any) -> Any:
    """What a tracked value reads back as: ints beyond 64 bits become floats."""
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return float(value)
    return value


def as_tuple(key: str | tuple[str, ...]) -> tuple[str, ...]:
    return (key,) if isinstance(key, str) else key


def ctx_key(context: dict[str, Any] | None) -> bytes:
    return orjson.dumps(context or {}, option=orjson.OPT_SORT_KEYS)


@dataclass
class SeqModel:
    context: dict[str, Any]
    points: int = 0
    by_step: dict[int, tuple[Any, int | None]] = field(default_factory=dict)

    def next_step(self) -> int:
        return max(self.by_step) + 1 if self.by_step else 0


@dataclass
class RunModel:
    hash: str
    experiment: str
    name: str | None = None
    description: str | None = None
    archived: bool = False
    tags: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seqs: dict[tuple[str, bytes], SeqModel] = field(default_factory=dict)

    def track(self, value: Any, name: str, context: dict[str, Any] | None, step: int | None,
              epoch: int | None) -> None:
        key = (name, ctx_key(context))
        seq = self.seqs.setdefault(key, SeqModel(dict(context or {})))
        at = seq.next_step() if step is None else step
        seq.by_step[at] = (metric_stored(value), epoch)  # last value per step wins
        seq.points += 1

    def set_param(self, path: tuple[str, ...], value: Any) -> None:
        node = self.params
        for k in path[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}  # a non-dict intermediate is replaced
            node = node[k]
        node[path[-1]] = plain(value)

    def has_param(self, path: tuple[str, ...]) -> bool:
        node: Any = self.params
        for k in path:
            if not isinstance(node, dict) or k not in node:
                return False
            node = node[k]
        return True

    def del_param(self, path: tuple[str, ...]) -> None:
        node = self.params
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]


# --- the three views of the index -----------------------------------------------------------

def replay_rows(layout: RepoLayout, hashes: list[str]) -> dict[str, Any]:
    """Rows computed directly from the logs."""
    out: dict[str, Any] = {}
    for h in hashes:
        summary, _, size = indexer.replay_run(layout, h)
        out[h] = (
            indexer.run_row(summary, size),
            sorted(indexer.sequence_row(k, e) for k, e in summary.sequences.items()),
            sorted(set(leaf_keys(summary.params))),
        )
    return out


def index_rows(index: Index, hashes: list[str]) -> dict[str, Any]:
    """Rows as the index holds them (None where the run has no row)."""
    runs = {r["hash"]: r for r in index.run_rows(include_deleted=True)}
    return {h: (runs.get(h), index.sequence_rows(h), index.param_key_rows(h)) for h in hashes}


def registry_from(rows: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    seqs = sorted({(s[0], s[1]) for _, ss, _ in rows.values() for s in ss})
    keys = sorted({k for _, _, ks in rows.values() for k in ks})
    return seqs, keys


def assert_rows_equal(what: str, got: dict[str, Any], expected: dict[str, Any]) -> None:
    for h in expected:
        g_run, g_seqs, g_keys = got[h]
        e_run, e_seqs, e_keys = expected[h]
        assert g_run == e_run, f"{what}: runs row of {h}"
        assert g_seqs == e_seqs, f"{what}: sequences rows of {h}"
        assert g_keys == e_keys, f"{what}: param_keys rows of {h}"


def raw_index(layout: RepoLayout) -> Index:
    """A plain connection: no heal, so it shows exactly what the writers wrote."""
    return Index(layout.index_db)


# --- checking a run against the model -------------------------------------------------------

def check_model(root: Path, m: RunModel, status: str, writer: Run | None = None) -> None:
    layout = RepoLayout(resolve_aim_dir(root))
    summary, _, _ = indexer.replay_run(layout, m.hash)
    assert summary.creation_time is not None, "run.started is not in the log"
    assert summary.status == status
    assert not summary.deleted
    assert summary.experiment == m.experiment
    assert summary.name == m.name
    assert summary.description == m.description
    assert bool(summary.archived) == m.archived
    assert summary.tags == m.tags
    assert canon(summary.params) == canon(m.params)
    assert set(summary.sequences) == set(m.seqs)
    for key, seq in m.seqs.items():
        entry = summary.sequences[key]
        top = max(seq.by_step)
        assert entry[POINTS] == seq.points, key
        assert entry[NEXT_STEP] == top + 1, key
        assert canon(entry[LAST_VALUE]) == canon(seq.by_step[top][0]), key
        assert canon(entry[CONTEXT]) == canon(seq.context), key

    if status == "finished":
        # A closed run opens read-only from its index rows (no replay): they equal the replay.
        repo = Repo(root)
        try:
            from_rows = indexer.indexed_summary(repo.index, layout, m.hash)
        finally:
            repo.close()
        assert from_rows is not None, "a closed run's rows are current"
        assert canon(vars(from_rows)) == canon(vars(summary))

    readers = [Run(m.hash, repo=root, read_only=True)]
    if writer is not None:
        readers.append(writer)
    for run in readers:
        assert run.status == status
        assert run.experiment == m.experiment
        assert run.name == m.name
        assert run.description == m.description
        assert run.archived == m.archived
        assert run.tags == m.tags
        for k, v in m.params.items():
            assert canon(run[k]) == canon(v), k
        assert sorted(canon([n, dict(c)]) for n, c, _run in run.iter_metrics_info()) == sorted(
            canon([k[0], s.context]) for k, s in m.seqs.items()
        )
        for (name, _), seq in m.seqs.items():
            got = run.get_metric(name, seq.context)
            steps = sorted(seq.by_step)
            expected = [(s, seq.by_step[s][0]) for s in steps]
            assert canon(got.items()) == canon(expected), (name, seq.context)
            assert got.epochs == [seq.by_step[s][1] for s in steps], (name, seq.context)


# --- the scenario ---------------------------------------------------------------------------

class Scenario:
    """Applies operations to real runs and to the model, and checks at checkpoints."""

    def __init__(self, root: Path, midway_reindex: str) -> None:
        self.root = root
        Repo(root, init=True)  # so that a scenario with no runs still has an index to read
        self.layout = RepoLayout(resolve_aim_dir(root))
        self.midway_reindex = midway_reindex  # "snapshot" or "in_place"
        self.models: dict[str, RunModel] = {}
        self.open: dict[str, Run] = {}
        self.closed: list[str] = []

    def _pick_open(self, i: int) -> tuple[Run, RunModel] | None:
        if not self.open:
            return None
        h = list(self.open)[i % len(self.open)]
        return self.open[h], self.models[h]

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "checkpoint":
            self.checkpoint()
            return
        if kind == "create":
            if len(self.open) >= MAX_OPEN_RUNS:
                return
            run = Run(repo=self.root, experiment=op[1], system_tracking_interval=None)
            self.open[run.hash] = run
            self.models[run.hash] = RunModel(run.hash, op[1] or "default")
            return
        if kind == "resume":
            if not self.closed or len(self.open) >= MAX_OPEN_RUNS:
                return
            h = self.closed.pop(op[1] % len(self.closed))
            self.open[h] = Run(run_hash=h, repo=self.root, experiment=op[2], system_tracking_interval=None)
            m = self.models[h]
            if op[2] is not None:
                m.experiment = op[2]
            return
        picked = self._pick_open(op[1])
        if picked is None:
            return
        run, m = picked
        if kind == "track":
            _, _, name, context, step, epoch, value = op
            run.track(value, name=name, step=step, epoch=epoch, context=context)
            m.track(value, name, context, step, epoch)
        elif kind == "track_many":
            _, _, values, context, step, epoch = op
            run.track(values, step=step, epoch=epoch, context=context)
            for name, value in values.items():
                m.track(value, name, context, step, epoch)
        elif kind == "set_param":
            _, _, key, value = op
            run[key] = value
            m.set_param(as_tuple(key), value)
        elif kind == "del_param":
            path = as_tuple(op[2])
            if m.has_param(path):
                del run[op[2]]
                m.del_param(path)
            else:
                with pytest.raises(KeyError):
                    del run[op[2]]
        elif kind == "add_tag":
            run.add_tag(op[2])
            if op[2] not in m.tags:
                m.tags.append(op[2])
        elif kind == "remove_tag":
            run.remove_tag(op[2])
            if op[2] in m.tags:
                m.tags.remove(op[2])
        elif kind == "meta":
            fld, value = op[2]
            setattr(run, fld, value)
            setattr(m, fld, value)
        elif kind == "close":
            run.close()
            del self.open[run.hash]
            self.closed.append(run.hash)
        elif kind == "resume_open":
            with pytest.raises(RunLockedError):
                Run(run_hash=run.hash, repo=self.root, system_tracking_interval=None)
        else:  # pragma: no cover
            raise AssertionError(kind)

    def close_all(self) -> None:
        for h in list(self.open):
            self.open.pop(h).close()
            self.closed.append(h)

    # --- checkpoints --------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Mid-way: some runs may be open. Only closed runs are compared with the index.

        An open run's index rows lag behind (its flusher updates sequence stats every few
        seconds, and after ``flush()`` the index write may still be in flight), so open runs
        are checked against the model through replay and read-back only.
        """
        for h, run in self.open.items():
            run.flush()
            # Straight after flush(): every event recorded so far must be readable from disk.
            check_model(self.root, self.models[h], "running", writer=run)
        for h in self.closed:
            check_model(self.root, self.models[h], "finished")
        self.compare_incremental(self.closed)
        if self.midway_reindex == "snapshot":
            self.reindex_snapshot()
        else:
            n = Repo(self.root).reindex()
            # heal skips runs with a live writer ("a live writer keeps its own rows current"):
            # the closed runs are in the rebuilt index, and an open run only when its writer's
            # flusher happened to write its row into the new file during the rebuild.
            assert len(self.closed) <= n <= len(self.models)
            index = raw_index(self.layout)
            try:
                expected = replay_rows(self.layout, self.closed)
                assert_rows_equal("rebuilt index (mid-way)", index_rows(index, self.closed), expected)
            finally:
                index.close()

    def compare_incremental(self, hashes: list[str]) -> None:
        expected = replay_rows(self.layout, hashes)
        index = raw_index(self.layout)
        try:
            assert_rows_equal("incremental index", index_rows(index, hashes), expected)
        finally:
            index.close()
        repo = Repo(self.root)
        try:
            assert_rows_equal("incremental index after heal", index_rows(repo.index, hashes), expected)
        finally:
            repo.close()

    def reindex_snapshot(self) -> None:
        """Rebuild the index of a copy of the repo, leaving the live writers' index alone."""
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp)
            # The live index files stay behind (the rebuild drops them anyway); the folder comes.
            shutil.copytree(self.layout.root, copy / ".aim", ignore=shutil.ignore_patterns("index.sqlite*"))
            repo = Repo(copy)
            assert repo.reindex() == len(self.models)
            layout = repo.layout
            hashes = list(self.models)
            expected = replay_rows(layout, hashes)
            # In the copy nobody holds the locks of the runs still open in the original, so
            # the rebuilt index stores them as "crashed" (writer gone), as it does after a kill.
            for row, _, _ in expected.values():
                if row["status"] == "running":
                    row["status"] = "crashed"
            index = raw_index(layout)
            try:
                assert_rows_equal("snapshot reindex", index_rows(index, hashes), expected)
            finally:
                index.close()
            # The copy's closed runs are byte-identical to the originals.
            assert_rows_equal("snapshot vs original", {h: expected[h] for h in self.closed},
                              replay_rows(self.layout, self.closed))

    def final(self, use_cli: bool) -> None:
        self.close_all()
        hashes = list(self.models)
        for h in hashes:
            check_model(self.root, self.models[h], "finished")
        expected = replay_rows(self.layout, hashes)
        exp_registry = registry_from(expected)

        index = raw_index(self.layout)
        try:
            assert sorted(r["hash"] for r in index.run_rows(include_deleted=True)) == sorted(hashes)
            assert_rows_equal("incremental index", index_rows(index, hashes), expected)
            assert (index.registry_sequences(), index.registry_params()) == exp_registry
        finally:
            index.close()
        repo = Repo(self.root)
        try:
            assert_rows_equal("incremental index after heal", index_rows(repo.index, hashes), expected)
        finally:
            repo.close()

        series_before = all_series(self.layout, self.models)
        if use_cli:
            out = subprocess.run(
                [*AIM_CLI, "storage", "reindex", "--repo", str(self.root)],
                capture_output=True, text=True, timeout=60,
            )
            assert out.returncode == 0, out.stderr
            n = len(hashes)
            assert out.stdout.strip() == f"reindexed {n} run{'s' if n != 1 else ''}"
        else:
            assert Repo(self.root).reindex() == len(hashes)
        index = raw_index(self.layout)
        try:
            assert sorted(r["hash"] for r in index.run_rows(include_deleted=True)) == sorted(hashes)
            assert_rows_equal("rebuilt index", index_rows(index, hashes), expected)
            assert (index.registry_sequences(), index.registry_params()) == exp_registry
        finally:
            index.close()
        # The series store too: rebuilt from nothing, it holds what the incremental one held.
        assert not series.series_root(self.layout).exists(), "reindex drops the series store"
        assert all_series(self.layout, self.models) == series_before


def all_series(layout: RepoLayout, models: dict[str, RunModel]) -> dict[Any, Any]:
    """Every sequence of every run as the series store gives it (values with their types)."""
    out: dict[Any, Any] = {}
    for h, m in models.items():
        for (name, ckey), seq in m.seqs.items():
            cols = series.read_sequence(layout, h, name, seq.context)
            assert cols is not None, (h, name)
            typed = canon([(type(v).__name__, v) for v in cols.value_list()])
            out[(h, name, ckey)] = (cols.steps.tolist(), typed, cols.epochs.tolist(), cols.timestamps.tolist())
    return out


def run_scenario(ops: list[tuple[Any, ...]], use_cli: bool, midway_reindex: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario(Path(tmp), midway_reindex)
        try:
            for op in ops:
                scenario.apply(op)
            scenario.final(use_cli)
        finally:
            for run in scenario.open.values():
                try:
                    run.close()
                except Exception:
                    pass


EXAMPLE_OPS = [
    ("create", "exp-a"),
    ("track", 0, "loss", None, None, None, 1.0),
    ("track", 0, "loss", {}, 5, 1, math.nan),
    ("track", 0, "loss", None, 2, None, 7),  # below the counter: last value stays NaN
    ("track", 0, "loss", None, 5, 2, -math.inf),  # repeated top step: last write wins
    ("set_param", 0, ("a", "b"), {"x": [math.nan, "NaN", math.inf]}),
    ("add_tag", 0, "t1"),
    ("checkpoint",),
    ("close", 0),
    ("create", None),
    ("checkpoint",),
    ("resume", 0, "exp-b"),
    ("track", 0, "loss", None, None, None, 2**64),
    ("del_param", 0, "a"),
    ("meta", 0, ("name", "n1")),
]


@SETTINGS
@given(ops=OP_LISTS, use_cli=st.booleans())
@example(ops=EXAMPLE_OPS, use_cli=True)
# flush() straight after Run(...) / Run(run_hash=...): the start/resume events must be on disk.
@example(ops=[("create", "exp-a"), ("checkpoint",), ("close", 0), ("resume", 0, "exp-b"),
              ("checkpoint",)], use_cli=False)
# Contexts {"k": 1}, {"k": True} and {"k": 1.0} are three sequences; read-back must not mix them.
@example(ops=[("create", None), ("track", 0, "loss", {"k": 1}, None, None, 1.0),
              ("track", 0, "loss", {"k": True}, None, None, 2.0),
              ("track", 0, "loss", {"k": 1.0}, 1, None, 3.0)], use_cli=False)
def test_index_equals_replay(ops: list[tuple[Any, ...]], use_cli: bool) -> None:
    """Mid-way checkpoints rebuild a snapshot copy; the live index is rebuilt at the end."""
    run_scenario(ops, use_cli, midway_reindex="snapshot")


@SETTINGS
@given(ops=OP_LISTS)
@example(ops=EXAMPLE_OPS)
# A run closed before the rebuild, resumed and changed after it.
@example(ops=[("create", None), ("close", 0), ("checkpoint",), ("resume", 0, None),
              ("add_tag", 0, "t1")])
def test_index_equals_replay_after_reindex_during_writes(ops: list[tuple[Any, ...]]) -> None:
    """Mid-way checkpoints rebuild the live index in place, and the runs keep being written.

    This is ``aim storage reindex`` run while training scripts (and this process's cached
    ``Repo``) are still writing: once everything is closed, the index must equal a replay.
    """
    run_scenario(ops, use_cli=False, midway_reindex="in_place")
