"""Property: run management (delete, restore, prune, copy, move, reindex) keeps two repos sound.

Hypothesis generates a list of operations on two repositories, A and B (fresh temporary
folders per example): create a run (track a few metrics, set params, close), resume a run and
add to it, delete one or several runs (tombstones), restore, prune, copy or move runs between
the repos, and rebuild an index. Failure paths are generated too, by picking hashes that were
pruned, moved away, never existed or are already present at the destination.

A plain Python model keeps, per repo, every run on disk and the exact list of events its log
must hold (``ts`` aside; ``pid`` and ``host`` are this process's). After every operation both
repos are checked:

1. every run on disk decodes, event for event, to the model's list, in the model's number of
   segments: management only ever appends ``run.deleted`` / ``run.restored`` (one segment
   each), a copy is identical to its source at copy time, and a failed operation changes
   nothing at either repo. Copying onto a hash the destination has fails; moving onto one
   fails too, unless the destination holds exactly the source's segments (a move killed after
   placing the run), in which case the move finishes by removing the source;
2. deleted runs are invisible (``list_all_runs``, ``iter_runs``, ``get_run``) but listed by
   ``list_runs(include_deleted=True)`` with ``deleted=True``; no other run directory exists
   (pruned and moved-away runs are gone from disk);
3. prune removes exactly the tombstoned runs' directories and reports them, the bytes of
   their event logs, and the names, contexts, sequences and param keys that only they used;
4. the registry (``available_sequences``/``available_params``) is the union of what the runs
   still on disk use, deleted-but-unpruned ones included;
5. the index equals a rebuild: the raw index (no heal) and a fresh ``Repo``'s (healed) equal
   the index of a snapshot copy rebuilt by ``reindex()``, and also the model's own rows; the
   ``reindex`` operation checks a fresh ``Repo``'s rows before and after an in-place rebuild;
6. ``verify()`` finds no problems.

Runs are also opened by a live writer while management runs on them ("busy"): delete,
restore, copy and move must then fail and write nothing.

Every column of ``runs``, ``sequences`` and ``param_keys`` is compared; none differs
legitimately here, because every run is closed before any check (a live writer's sequence
stats lag behind, see ``test_index_equals_replay.py``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aim import Repo, Run
from aim.errors import AimError, RunClosedError, RunNotFoundError
from aim.sdk import indexer
from aim.sdk.log import iter_events
from aim.storage.index import Index

PID = os.getpid()
HOST = socket.gethostname()
FAKE = "deadbeef" * 3  # a well-formed hash no run ever gets here

# --- strategies: small alphabets, so names, contexts and param keys collide ----------------

REPO = st.integers(0, 1)
# A pick >= 0 names a run on disk in the repo the operation acts on (when it has any); a
# negative one names any hash ever created or FAKE: pruned, moved away, elsewhere or never made.
PICK = st.integers(-4, 15)
EXPERIMENTS = st.sampled_from([None, "default", "exp-a"])
METRIC_NAMES = st.sampled_from(["loss", "acc"])
CONTEXTS = st.sampled_from([None, {}, {"subset": "train"}, {"subset": "val"}])  # None == {}
STEPS = st.none() | st.integers(0, 4)
VALUES = st.integers(-3, 3) | st.floats(-10, 10, allow_nan=False, allow_infinity=False)
PARAM_KEYS = st.sampled_from(["lr", "opt", "seed"])
PARAM_VALUES = (
    st.integers(-3, 3)
    | st.sampled_from(["x", "y"])
    | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2)  # {} is a leaf
)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("track"), METRIC_NAMES, CONTEXTS, STEPS, VALUES),
        st.tuples(st.just("track"), METRIC_NAMES, CONTEXTS, STEPS, VALUES),
        st.tuples(st.just("param"), PARAM_KEYS, PARAM_VALUES),
    ),
    max_size=4,
)
PICKS = st.lists(PICK, min_size=1, max_size=2)

CREATE = st.tuples(st.just("create"), REPO, EXPERIMENTS, ACTIONS)
ARGS = {
    "create": CREATE,
    "resume": st.tuples(st.just("resume"), REPO, PICK, ACTIONS),
    "delete": st.tuples(st.just("delete"), REPO, PICK),
    "restore": st.tuples(st.just("restore"), REPO, PICK),
    "delete_many": st.tuples(st.just("delete_many"), REPO, PICKS),
    "restore_many": st.tuples(st.just("restore_many"), REPO, PICKS),
    "prune": st.tuples(st.just("prune"), REPO),
    "copy": st.tuples(st.just("copy"), REPO, PICKS, st.booleans()),
    "move": st.tuples(st.just("move"), REPO, PICKS, st.booleans()),
    "busy": st.tuples(st.just("busy"), REPO, PICK, st.sampled_from(["delete", "restore", "copy", "move"])),
    "copy_same": st.tuples(st.just("copy_same"), REPO, PICK),
    "reindex": st.tuples(st.just("reindex"), REPO, st.booleans()),
}
# Weights by repetition: deletes outnumber restores so that prunes find something to remove.
KINDS = ["create", "create", "resume", "delete", "delete", "delete", "restore", "delete_many",
         "restore_many", "prune", "prune", "copy", "copy", "move", "move", "busy", "copy_same", "reindex"]
OPS = st.sampled_from(KINDS).flatmap(ARGS.__getitem__)
# A few runs first, so that most operations find something to act on.
OP_LISTS = st.tuples(st.lists(CREATE, min_size=1, max_size=3), st.lists(OPS, min_size=4, max_size=16)).map(
    lambda parts: parts[0] + parts[1]
)

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)


# --- the model ------------------------------------------------------------------------------

def ctx_json(context: dict[str, Any] | None) -> str:
    return orjson.dumps(context or {}, option=orjson.OPT_SORT_KEYS).decode()


def canon(value: Any) -> bytes:
    """Exact comparison: 1, 1.0 and True differ, -0.0 differs from 0.0, key order does not."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def leaves(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of the leaves: non-dict values and empty dicts."""
    out = []
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out += leaves(v, f"{prefix}{k}.")
        else:
            out.append(prefix + k)
    return out


def is_deleted(events: list[dict[str, Any]]) -> bool:
    state = False
    for e in events:
        if e["type"] == "run.deleted":
            state = True
        elif e["type"] == "run.restored":
            state = False
    return state


def params_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for e in events:
        if e["type"] == "param.set":
            (key,) = e["path"]
            params[key] = e["value"]
    return params


def sequences_of(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[Any]]:
    """``(name, context JSON) -> [points, last step, last value]`` as the index should hold."""
    out: dict[tuple[str, str], list[Any]] = {}
    for e in events:
        if e["type"] != "metric":
            continue
        entry = out.setdefault((e["name"], ctx_json(e["context"])), [0, -1, None])
        entry[0] += 1
        if e["step"] >= entry[1]:  # a sample at or above the top step is the last value
            entry[1] = e["step"]
            entry[2] = e["value"]
    return out


SEGMENT_IDS = itertools.count()


@dataclass
class RepoModel:
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # on disk, with events
    # Which segment files each run holds: every writer session (a Run from open to close, one
    # delete, one restore) writes one new segment, given a new id here; a copy shares the ids.
    # Two repos hold "the same run" when the ids are equal: equal events are not enough, since
    # a delete at A and another at B write the same event with different timestamps (each
    # operation is followed by checks that take far longer than the 1 ms ``ts`` resolution).
    segments: dict[str, list[int]] = field(default_factory=dict)

    def live(self) -> set[str]:
        return {h for h, evs in self.runs.items() if not is_deleted(evs)}

    def deleted(self) -> set[str]:
        return {h for h, evs in self.runs.items() if is_deleted(evs)}

    def new_segment(self, h: str) -> None:
        self.segments.setdefault(h, []).append(next(SEGMENT_IDS))

    def forget(self, h: str) -> None:
        del self.runs[h], self.segments[h]

    def append(self, h: str, etype: str, **payload: Any) -> None:
        evs = self.runs[h]
        evs.append({"seq": len(evs), "type": etype, **payload})

    def registry(self) -> tuple[list[tuple[str, str]], list[str]]:
        seqs = {k for evs in self.runs.values() for k in sequences_of(evs)}
        keys = {k for evs in self.runs.values() for k in leaves(params_of(evs))}
        return sorted(seqs), sorted(keys)


# --- reading the repos --------------------------------------------------------------------------

def decoded(repo: Repo, h: str) -> list[bytes]:
    out = []
    for e in iter_events(repo.layout.segment_paths(h)):
        e.pop("ts")
        out.append(canon(e))
    return out


def index_state(index: Index) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every row of every table, per run, through ``Index``'s own readers."""
    runs = index.run_rows(include_deleted=True)
    per_run = {r["hash"]: (index.sequence_rows(r["hash"]), index.param_key_rows(r["hash"])) for r in runs}
    return runs, per_run


# --- the scenario ---------------------------------------------------------------------------

class Scenario:
    def __init__(self, base: Path) -> None:
        self.roots = [base / "A", base / "B"]
        self.repos = []
        for root in self.roots:
            root.mkdir()
            repo = Repo(root, init=True)
            repo.index  # noqa: B018 - create the index file, so a raw connection can read it
            self.repos.append(repo)
        self.models = [RepoModel(), RepoModel()]
        self.known: list[str] = []  # every hash ever created, in order

    def pick(self, i: int, p: int) -> str:
        local = [h for h in self.known if h in self.models[i].runs]
        if p >= 0 and local:
            return local[p % len(local)]
        candidates = [*self.known, FAKE]
        return candidates[abs(p) % len(candidates)]

    def close(self) -> None:
        for repo in self.repos:
            repo.close()

    # --- operations -----------------------------------------------------------------------
    def write(self, run: Run, model: RepoModel, actions: list[tuple[Any, ...]]) -> None:
        h = run.hash
        for action in actions:
            if action[0] == "track":
                _, name, context, step, value = action
                if step is None:
                    steps = [e["step"] for e in model.runs[h] if e["type"] == "metric"
                             and e["name"] == name and ctx_json(e["context"]) == ctx_json(context)]
                    at = max(steps) + 1 if steps else 0
                else:
                    at = step
                run.track(value, name=name, step=step, context=context)
                model.append(h, "metric", name=name, context=context or {}, step=at, value=value)
            else:
                _, key, value = action
                run[key] = value
                model.append(h, "param.set", path=[key], value=value)
        run.close()
        model.append(h, "run.finished", status="finished")

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, i = op[0], op[1]
        root, repo, model = self.roots[i], self.repos[i], self.models[i]
        if kind == "create":
            _, _, experiment, actions = op
            run = Run(repo=root, experiment=experiment, system_tracking_interval=None)
            h = run.hash
            self.known.append(h)
            model.runs[h] = []
            model.new_segment(h)
            model.append(h, "run.started", hash=h, experiment=experiment or "default", name=None,
                         pid=PID, host=HOST, format=1)
            self.write(run, model, actions)
        elif kind == "resume":
            _, _, pick, actions = op
            h = self.pick(i, pick)
            if h not in model.runs:
                with pytest.raises(RunNotFoundError):
                    Run(run_hash=h, repo=root, system_tracking_interval=None)
            elif is_deleted(model.runs[h]):
                with pytest.raises(RunClosedError):
                    Run(run_hash=h, repo=root, system_tracking_interval=None)
            else:
                run = Run(run_hash=h, repo=root, system_tracking_interval=None)
                model.new_segment(h)
                model.append(h, "run.resumed", hash=h, pid=PID, host=HOST, format=1)
                self.write(run, model, actions)
        elif kind in ("delete", "restore"):
            h = self.pick(i, op[2])
            expected = h in model.runs
            if expected and is_deleted(model.runs[h]) == (kind == "delete"):
                pass  # already deleted / not deleted: success, nothing written
            elif expected:
                model.new_segment(h)
                model.append(h, "run.deleted" if kind == "delete" else "run.restored")
            got = repo.delete_run(h) if kind == "delete" else repo.restore_run(h)
            assert got is expected, (kind, h)
        elif kind in ("delete_many", "restore_many"):
            hashes = [self.pick(i, p) for p in op[2]]
            deleting = kind == "delete_many"
            failed = []
            for h in hashes:
                if h not in model.runs:
                    failed.append(h)
                elif is_deleted(model.runs[h]) != deleting:
                    model.new_segment(h)
                    model.append(h, "run.deleted" if deleting else "run.restored")
            do = repo.delete_runs if deleting else repo.restore_runs
            assert do(hashes) == (not failed, failed), (kind, hashes)
        elif kind == "busy":
            self.busy(i, self.pick(i, op[2]), op[3])
        elif kind == "prune":
            self.prune(i)
        elif kind in ("copy", "move"):
            _, _, picks, dest_as_path = op
            j = 1 - i
            model_dest = self.models[j]
            hashes = [self.pick(i, p) for p in picks]
            failed = []
            for h in hashes:
                if h in model.runs and h in model_dest.runs and kind == "move" \
                        and model_dest.segments[h] == model.segments[h]:
                    # The destination already holds the same segments (an interrupted move,
                    # or a copy made before): the move finishes by removing the source.
                    model.forget(h)
                    continue
                if h not in model.runs or h in model_dest.runs:
                    failed.append(h)
                    continue
                model_dest.runs[h] = [dict(e) for e in model.runs[h]]
                model_dest.segments[h] = list(model.segments[h])
                if kind == "move":
                    model.forget(h)
            dest = str(self.roots[j]) if dest_as_path else self.repos[j]
            do = repo.copy_runs if kind == "copy" else repo.move_runs
            assert do(hashes, dest) == (not failed, failed), (kind, hashes)
        elif kind == "copy_same":
            with pytest.raises(AimError):
                repo.copy_runs([self.pick(i, op[2])], root)
        elif kind == "reindex":
            self.reindex(i, in_place=op[2])
        else:  # pragma: no cover
            raise AssertionError(kind)

    def busy(self, i: int, h: str, action: str) -> None:
        """Management of a run a live writer holds fails, and writes nothing at either repo."""
        model = self.models[i]
        if h not in model.live():
            return
        repo, other = self.repos[i], self.repos[1 - i]
        run = Run(run_hash=h, repo=self.roots[i], system_tracking_interval=None)
        try:
            run.flush()
            if action == "delete":
                assert repo.delete_run(h) is False
            elif action == "restore":
                assert repo.restore_run(h) is False
            else:
                do = repo.copy_runs if action == "copy" else repo.move_runs
                assert do([h], other) == (False, [h])
                assert not other.layout.run_dir(h).exists() or h in self.models[1 - i].runs
        finally:
            run.close()
        model.new_segment(h)
        model.append(h, "run.resumed", hash=h, pid=PID, host=HOST, format=1)
        model.append(h, "run.finished", status="finished")

    def prune(self, i: int) -> None:
        repo, model = self.repos[i], self.models[i]
        doomed = model.deleted()
        # prune reports the bytes of the removed event logs (not the LOCK file it may create)
        freed = sum(p.stat().st_size for h in doomed for p in repo.layout.segment_paths(h))
        seqs_before, keys_before = model.registry()
        for h in doomed:
            model.forget(h)
        seqs_after, keys_after = model.registry()
        report = repo.prune()
        assert sorted(report.runs) == sorted(doomed)
        assert report.bytes == freed
        assert report.leftovers == 0 and report.skipped == []
        for h in doomed:
            assert not repo.layout.run_dir(h).exists(), h
        gone = set(seqs_before) - set(seqs_after)
        assert report.names == sorted({n for n, _ in seqs_before} - {n for n, _ in seqs_after})
        assert sorted(canon(s) for s in report.sequences) == sorted(
            canon([n, orjson.loads(c)]) for n, c in gone)
        ctx_gone = {c for _, c in seqs_before} - {c for _, c in seqs_after}
        assert sorted(canon(c) for c in report.contexts) == sorted(c.encode() for c in ctx_gone)
        assert report.param_keys == sorted(set(keys_before) - set(keys_after))

    def reindex(self, i: int, in_place: bool) -> None:
        root = self.roots[i]
        fresh = Repo(root)
        try:
            before = index_state(fresh.index)
        finally:
            fresh.close()
        target = self.repos[i] if in_place else Repo(root)
        try:
            assert target.reindex() == len(self.models[i].runs)
        finally:
            if not in_place:
                target.close()
        fresh = Repo(root)
        try:
            assert index_state(fresh.index) == before
        finally:
            fresh.close()

    # --- invariants ---------------------------------------------------------------------------
    def check(self) -> None:
        for i in (0, 1):
            self.check_repo(i)

    def check_repo(self, i: int) -> None:
        root, model = self.roots[i], self.models[i]
        repo = self.repos[i]
        layout = repo.layout
        live, deleted = model.live(), model.deleted()

        # (1) logs, event for event; nothing else on disk
        assert set(indexer.run_hashes_on_disk(layout)) == set(model.runs)
        for h in [*self.known, FAKE]:
            if h not in model.runs:
                assert not layout.run_dir(h).exists(), h
        for h, evs in model.runs.items():
            assert decoded(repo, h) == [canon(e) for e in evs], h
            assert len(layout.segment_paths(h)) == len(model.segments[h]), h

        # (2) visibility, through the Repo the operations used and through a fresh one
        fresh = Repo(root)
        try:
            for r in (repo, fresh):
                assert set(r.list_all_runs()) == live
                assert {row["hash"]: row["deleted"] for row in r.list_runs(include_deleted=True)} == {
                    h: h in deleted for h in model.runs}
                assert {row["hash"] for row in r.list_runs(only_deleted=True)} == deleted
                assert {run.hash for run in r.iter_runs()} == live
                for h in [*self.known, FAKE]:
                    got = r.get_run(h)
                    assert (got is not None) == (h in live), h
                    assert got is None or got.hash == h
                # (4) the registry
                seqs, keys = model.registry()
                assert r.index.registry_sequences() == seqs
                assert sorted((n, ctx_json(c)) for n, c in r.available_sequences()) == seqs
                assert r.available_params() == keys
            healed = index_state(fresh.index)
        finally:
            fresh.close()

        # (5) the index: raw (no heal), healed, rebuilt in a snapshot copy, and the model
        raw = Index(layout.index_db)
        try:
            as_written = index_state(raw)
        finally:
            raw.close()
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(layout.root, Path(tmp) / ".aim", ignore=shutil.ignore_patterns("index.sqlite*"))
            snap = Repo(tmp)
            assert snap.reindex() == len(model.runs)
            rebuilt_index = Index(snap.layout.index_db)
            try:
                rebuilt = index_state(rebuilt_index)
            finally:
                rebuilt_index.close()
        assert as_written == rebuilt, "index as written differs from a rebuild"
        assert healed == rebuilt, "healed index differs from a rebuild"
        self.check_rows(i, rebuilt)

        # (6) verify
        assert repo.verify() == []

    def check_rows(self, i: int, state: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
        model, layout = self.models[i], self.repos[i].layout
        runs, per_run = state
        assert {r["hash"] for r in runs} == set(model.runs)
        for row in runs:
            h = row["hash"]
            evs = model.runs[h]
            experiment = evs[0]["experiment"]
            assert row["experiment"] == experiment
            assert row["deleted"] == int(is_deleted(evs))
            assert row["status"] == "finished"
            assert row["last_seq"] == len(evs) - 1
            assert row["log_size"] == sum(p.stat().st_size for p in layout.segment_paths(h))
            assert canon(orjson.loads(row["params"])) == canon(params_of(evs))
            seq_rows, key_rows = per_run[h]
            want = sorted(
                (n, c, pts, step, orjson.dumps(v).decode())
                for (n, c), (pts, step, v) in sequences_of(evs).items()
            )
            assert seq_rows == want, h
            assert key_rows == sorted(leaves(params_of(evs))), h

    def final(self) -> None:
        """Rebuild both live indexes in place: the rows must not change."""
        for i in (0, 1):
            self.reindex(i, in_place=True)
        self.check()


def run_scenario(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario(Path(tmp))
        try:
            for op in ops:
                scenario.apply(op)
                scenario.check()
            scenario.final()
        finally:
            scenario.close()


TRAIN = {"subset": "train"}
VAL = {"subset": "val"}

# Runs r0, r1 (A) and r2 (B); a pick >= 0 indexes the repo's own runs, -4 is r0, -3 FAKE.
EXAMPLE_OPS = [
    ("create", 0, "exp-a", [("track", "loss", None, None, 1.0), ("param", "opt", {"a": 1})]),
    ("create", 0, None, [("track", "acc", TRAIN, 3, 2), ("param", "seed", 3)]),
    ("copy", 0, [0], False),  # r0: A -> B
    ("copy", 0, [0], True),  # again: already at B, nothing changes at either repo
    ("delete", 1, 0),  # r0 at B only
    ("create", 1, None, [("track", "loss", {}, None, 0.5)]),
    ("move", 1, [0, 1], True),  # r0 is at A already (fails); r2 moves to A
    ("resume", 1, 0, []),  # r0 is deleted at B: refused
    ("resume", 0, 0, [("track", "loss", None, None, -1)]),  # r0 is live at A
    ("prune", 1),
    ("delete", 1, -4),  # r0 was pruned at B: False
    ("restore", 1, -4),
    ("delete_many", 0, [1, 1]),  # r1 twice: the second is "already deleted"
    ("restore", 0, 1),
    ("delete", 0, -3),  # FAKE
    ("move", 0, [2], False),  # r2 back to B
    ("busy", 0, 0, "move"),
    ("reindex", 1, True),
    ("copy_same", 0, 0),
]

# Prune freeing two sequences of one name (loss/{} and loss/{"subset": "val"}) must report them.
PRUNE_SAME_NAME_OPS = [
    ("create", 0, None, [("track", "loss", None, None, 1.0), ("track", "loss", VAL, None, 1.0)]),
    ("delete", 0, 0),
    ("prune", 0),
]


@SETTINGS
@given(ops=OP_LISTS)
@example(ops=EXAMPLE_OPS)
@example(ops=PRUNE_SAME_NAME_OPS)
# A move onto an identical copy finishes it; onto a copy that diverged (each deleted on its
# own: the same events, other segments) it fails and changes nothing.
@example(ops=[("create", 0, None, []), ("copy", 0, [0], False), ("move", 0, [0], True)])
@example(ops=[("create", 0, None, []), ("copy", 0, [0], False), ("delete", 0, 0), ("delete", 1, 0),
              ("move", 0, [0], False)])
def test_manage_runs(ops: list[tuple[Any, ...]]) -> None:
    run_scenario(ops)
