"""Property: a query answered through SQL (``query_run_rows``: SQLite selects candidates, Python
decides what SQL was not sure of) returns exactly what the brute-force evaluator returns
(``matching_rows`` over every ``Repo.list_runs`` row), rows and order, with and without offset.

Hypothesis draws random repositories, written straight into a real ``Index`` (experiments,
names, tags, recorded statuses with and without a live writer's lock, archived and deleted
runs, tied creation times, nested params of every JSON type with awkward keys, NaN, infinities
and bytes with their marks, strings with NUL, sequences with finite and non-finite last values)
and random expressions from a grammar of what the compiler handles (comparisons of attributes,
params and last values with constants, ``in``, ``is``, ``startswith``, truthiness, chains,
``and``/``or``/``not``/``if``) mixed with what it leaves to Python (calls, arithmetic,
``created_at``). One repository (cleared each example) serves every example.
"""

from __future__ import annotations

import base64
import keyword
import math
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aim import Repo
from aim.core.encoding import context_key
from aim.core.query import compile_query, parse
from aim.core.values import to_json_form
from aim.sdk.indexer import params_columns
from aim.sdk.query import matching_rows, query_run_rows
from aim.storage.index import Index, IndexCorruptError
from aim.storage.lock import RunLock

HASHES = [f"{i:02x}" * 12 for i in range(10)]
# Small pools, shared by values and constants, so that comparisons often hold.
TEXTS = ["", "r", "res", "resnet", "a\x00b", "é😀", 'q"k', "NaN", "running", "crashed", "exp-a", "base"]
IDENT_KEYS = ["lr", "opt", "nested"]
ODD_KEYS = ["a.b", 'q"k', "", "0", "é", "b\\s"]
KEYS = IDENT_KEYS + ODD_KEYS
CONTEXTS = [{}, {"subset": "train"}, {"a": 1}, {"a": 1.0}, {"a": True}]

FLOATS = st.one_of(st.sampled_from([0.0, -0.0, 0.5, 1.5, 0.1, 1e-310, 2.0**53, math.inf, -math.inf]),
                   st.floats(allow_nan=False))
INTS = st.one_of(st.sampled_from([0, 1, -1, 2, 2**53 + 1, 2**63 - 1, -(2**63)]), st.integers(-2, 2))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, st.sampled_from(TEXTS))
ODD_LEAVES = st.sampled_from([math.nan, math.inf, b"", b"r"])  # stored as strings, with marks
NUL_TEXTS = st.sampled_from(["a\x00b", "\x00", "r\x00"])  # SQLite's JSON functions cut them


def param_values(leaves: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(leaves, st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)), max_leaves=6))


# Most runs' params have no marks: SQL decides about those alone.
PARAMS = st.one_of(*[st.dictionaries(st.one_of(st.sampled_from(IDENT_KEYS), st.sampled_from(ODD_KEYS)),
                                     param_values(leaves), min_size=1, max_size=4)
                     for leaves in (SCALARS, st.one_of(SCALARS, NUL_TEXTS), st.one_of(SCALARS, ODD_LEAVES))])
LAST_VALUES = st.one_of(st.none(), INTS, FLOATS, st.sampled_from([math.nan, math.inf, -math.inf]))
SEQUENCES = st.dictionaries(st.tuples(st.sampled_from(["loss", "acc"]), st.sampled_from(range(len(CONTEXTS)))),
                            st.tuples(st.integers(1, 3), st.integers(0, 2), LAST_VALUES), max_size=3)
RUN = st.fixed_dictionaries({
    "experiment": st.sampled_from(["default", "exp-a", "é\x00"]),
    "name": st.one_of(st.none(), st.sampled_from(TEXTS)),
    "description": st.one_of(st.none(), st.sampled_from(TEXTS)),
    "archived": st.booleans(),
    "deleted": st.sampled_from([False, False, False, True]),
    "status": st.sampled_from(["running", "crashed", "finished", "failed"]),
    "locked": st.booleans(),
    "creation_time": st.one_of(st.none(), st.sampled_from([1.0e9, 1.0e9, 1.5e9 + 0.25])),
    "end_time": st.one_of(st.none(), st.sampled_from([1.0e9, 1.5e9 + 0.25])),
    "tags": st.lists(st.sampled_from(["base", 'q"k', "a\x00b", "é😀"]), unique=True, max_size=3),
    "params": PARAMS,
    "sequences": SEQUENCES,
})
REPOS = st.lists(RUN, min_size=1, max_size=7)


# --- expressions -------------------------------------------------------------------------------
def literal(value: object) -> str:
    """Python source for a constant (inf has no literal but 1e999)."""
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    if isinstance(value, float) and math.isnan(value):
        return "float('nan')"  # a call: SQL leaves it to Python
    if isinstance(value, bytes):
        return repr(base64.b64encode(value).decode())  # no bytes constants: their stored form
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(literal(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


SEGMENT = st.one_of(st.sampled_from(IDENT_KEYS).map(lambda k: f".{k}"),
                    st.sampled_from(KEYS).map(lambda k: f"[{k!r}]"),
                    st.sampled_from([0, 1, -1]).map(lambda i: f"[{i}]"),
                    st.tuples(st.sampled_from(KEYS), st.sampled_from([*KEYS, 0])).map(
                        lambda t: f"[{t[0]!r}, {t[1]!r}]"))
PARAM_PATH = st.builds(lambda base, rest: base + "".join(rest),
                       st.one_of(st.sampled_from(IDENT_KEYS).map(lambda k: f"run.{k}"),
                                 st.sampled_from(KEYS).map(lambda k: f"run[{k!r}]"),
                                 st.just("run.params")),
                       st.lists(SEGMENT, max_size=2))
SEQUENCE = st.builds(lambda name, ctx: f"run.metrics[{name!r}{'' if ctx is None else f', {ctx!r}'}]",
                     st.sampled_from(["loss", "acc", "nope"]), st.one_of(st.none(), st.sampled_from(CONTEXTS)))
TIMES = st.sampled_from([1.0e9, 1.5e9 + 0.25, 1.5e9, 0, None])
FLAGS = st.sampled_from([True, False, 0, 1, None, 0.5])
# A run value, and constants of the kinds it may hold (so that comparisons often hold).
VALUE_AND_CONSTANTS = st.one_of(
    st.tuples(st.sampled_from(["run.name", "run.description", "run.experiment", "run.hash"]),
              st.one_of(st.sampled_from([*TEXTS, "default", "é\x00", HASHES[0], "a"]), st.none(), INTS)),
    st.tuples(st.just("run.status"), st.sampled_from(["running", "crashed", "finished", "failed", "r", None])),
    st.tuples(st.sampled_from(["run.active", "run.archived", "run.deleted"]), FLAGS),
    st.tuples(st.sampled_from(["run.creation_time", "run.end_time"]), TIMES),
    st.tuples(st.just("run.tags"), st.sampled_from(["base", 'q"k', "a\x00b", "a", None, 1])),
    st.tuples(PARAM_PATH, st.one_of(SCALARS, st.just("a"))),
    st.tuples(PARAM_PATH, st.one_of(SCALARS, st.just("a"))),
    st.tuples(SEQUENCE.map(lambda s: s + ".last"), st.one_of(INTS, FLOATS, st.none())),
    st.tuples(st.builds(str.__add__, SEQUENCE, st.sampled_from([".last_step", ".count"])),
              st.sampled_from([0, 1, 2, 3, 1.5])),
    st.tuples(SEQUENCE, st.sampled_from([None, 1, "loss"])),
)


def near(value: object) -> list[object]:
    """Constants at and next to a value (a NaN's and bytes' stored strings too; keys, items)."""
    if isinstance(value, float) and math.isnan(value):
        return ["NaN", 0, 1.0]
    if isinstance(value, bytes):
        return [base64.b64encode(value).decode()]
    if isinstance(value, float) and math.isfinite(value):
        return [value, math.nextafter(value, math.inf), math.nextafter(value, -math.inf)]
    if isinstance(value, str):
        return [value, value[:1], value[1:], "a"]
    if isinstance(value, list):
        return [v for v in value if not isinstance(v, (list, dict, bytes)) and v == v]
    return list(value) if isinstance(value, dict) else [value]


def observed(runs: list[dict]) -> dict[str, list[str]]:
    """Atoms about the runs' own values (``{op}`` stands for a comparison), by what they read:
    paths into params (dict keys, list items, a str's characters), sequences and columns,
    compared with constants at and next to what they hold, and the tests that suit each type."""
    out: list[str] = []
    kinds: dict[str, list[str]] = {}

    def about(expr: str, value: object) -> None:
        out.extend([expr, f"{expr} is None", f"{expr} in [{literal(value)}, 'x']" if value == value else expr])
        for c in near(value):
            container = isinstance(value, (list, dict))
            out.append(f"{literal(c)} in {expr}" if container else f"{expr} {{op}} {literal(c)}")
            out.append(f"{literal(c)} not in {expr}" if container else f"{literal(c)} {{op}} {expr}")
        if isinstance(value, str):
            out.extend([f"{expr}.startswith({value[:2]!r})", f"{expr}.endswith({value[-2:]!r})",
                        f"{value[1:]!r} in {expr}", f"{expr} in {'x' + value!r}"])
        if isinstance(value, dict):
            for k, v in value.items():
                about(expr + (f".{k}" if k.isidentifier() and not keyword.iskeyword(k) else f"[{k!r}]"), v)
        elif (isinstance(value, list) and value) or (isinstance(value, str) and len(value) > 1):
            for i in {0, len(value) - 1, -1}:
                about(f"{expr}[{i}]", value[i])

    for run in runs:
        for k, v in run["params"].items():
            about(f"run.{k}" if k in IDENT_KEYS else f"run[{k!r}]", v)
    kinds["params"], out = out, []
    for run in runs:
        for (name, c), (points, step, value) in run["sequences"].items():
            seq = f"run.metrics[{name!r}, {CONTEXTS[c]!r}]"
            about(f"{seq}.last", value)
            out += [seq, f"{seq} is None", f"{seq}.last_step {{op}} {step}", f"{seq}.count {{op}} {points}"]
    kinds["metrics"], out = out, []
    for run in runs:
        for k in ("name", "experiment", "creation_time", "status", "tags"):
            about(f"run.{k}", run[k])
    kinds["columns"] = out
    return {kind: sorted(set(atoms)) for kind, atoms in kinds.items()}  # sorted: examples replay


@st.composite
def atoms(draw: st.DrawFn, runs: list[dict]) -> str:
    seen = [atom for atoms in observed(runs).values() for atom in atoms]
    if seen and draw(st.integers(0, 3)):
        return draw(st.sampled_from(seen)).replace("{op}", draw(OPS))
    value, constant = draw(VALUE_AND_CONSTANTS)
    alike = st.one_of(st.just(constant), VALUE_AND_CONSTANTS.map(lambda vc: vc[1]), SCALARS)
    form = draw(st.integers(0, 9))
    if form == 0:
        return f"{value} {draw(OPS)} {literal(constant)}"
    if form == 1:
        return f"{literal(constant)} {draw(OPS)} {value}"
    if form == 2:
        items = draw(st.lists(alike, max_size=3))
        container = draw(st.sampled_from([literal(items), literal(tuple(items)),
                                          repr(constant) if isinstance(constant, str) else "[]"]))
        return f"{value} {draw(IN)} {container}"
    if form == 3:
        return f"{literal(constant)} {draw(IN)} {value}"
    if form == 4:
        return f"{value} {draw(IS)} {draw(st.sampled_from(['None', 'True', 'False']))}"
    if form == 5:
        return f"{literal(constant)} {draw(st.sampled_from(['<', '<=']))} {value} < {literal(draw(alike))}"
    if form == 6:
        affix = constant if isinstance(constant, str) else draw(st.sampled_from(TEXTS))
        affix = affix[:draw(st.integers(0, 3))] if draw(st.booleans()) else affix[-draw(st.integers(1, 3)):]
        arg = repr(affix) if draw(st.booleans()) else literal((affix, draw(st.sampled_from(TEXTS))))
        return f"{value}.{draw(st.sampled_from(['startswith', 'endswith']))}({arg})"
    if form == 7:
        return value
    return draw(st.sampled_from([
        "True", "False", "[]", "run.created_at.year >= 2001", "len(run.tags) > 1", "run.name.lower() == 'res'",
        "run.lr + 1 > 1.5", "run.lr == run.opt", "re.search('e', run.experiment) is not None",
        "run.metrics['loss'].context == {}", f"{value} {draw(OPS)} {literal(constant)}"]))


OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
IN = st.sampled_from(["in", "not in"])
IS = st.sampled_from(["is", "is not"])


def expressions(runs: list[dict]) -> st.SearchStrategy[str]:
    """Queries: atoms (about these runs' values or any) under and, or, not and if-else."""
    return st.recursive(atoms(runs), lambda inner: st.one_of(
        st.builds("({}) and ({})".format, inner, inner),
        st.builds("({}) or ({})".format, inner, inner),
        st.builds("not ({})".format, inner),
        st.builds("({}) if ({}) else ({})".format, inner, inner, inner)), max_leaves=4)


# --- the repository ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    path = tmp_path_factory.mktemp("query-sql")
    r = Repo(path, init=True)
    r._index = Index(path / "index.sqlite")  # rows written here, no heal from (absent) logs
    return r


def fill(repo: Repo, runs: list[dict]) -> list[RunLock]:
    """Write the runs' rows; return the locks held for those whose writer is "live"."""
    repo.index.clear()
    locks = []
    for h, run in zip(HASHES, runs):
        sequences = [(name, context_key(CONTEXTS[c]).decode(), points, step,
                      None if value is None else orjson.dumps(to_json_form(value)).decode())
                     for (name, c), (points, step, value) in run["sequences"].items()]
        row = {k: run[k] for k in ("experiment", "name", "description", "status", "creation_time", "end_time")}
        row.update(hash=h, archived=int(run["archived"]), deleted=int(run["deleted"]), last_seq=0, log_size=0,
                   tags=orjson.dumps(run["tags"]).decode(), **params_columns(run["params"]))
        repo.index.write_run(row, sequences, None)
        if run["locked"]:
            lock_file = repo.layout.lock_file(h)
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            lock = RunLock(lock_file)
            lock.acquire()
            locks.append(lock)
    return locks


def check(repo: Repo, query: str, offsets: bool = True, listed: list[dict] | None = None) -> None:
    listed = repo.list_runs() if listed is None else listed
    expected = matching_rows(repo, query, listed)
    got = query_run_rows(repo, query)
    # repr: NaN params compare equal as text; key order and types must agree too
    assert repr(got) == repr(expected), (query, compile_query(parse(query)))
    hashes = [row["hash"] for row in listed]
    for offset in HASHES[:3] + HASHES[-1:] if offsets else []:  # listed, deleted or unknown runs
        later = set(hashes[hashes.index(offset) + 1:]) if offset in hashes else set()
        after = [row for row in expected if row["hash"] in later]
        assert repr(query_run_rows(repo, query, offset=offset)) == repr(after), (query, offset)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(runs=REPOS, data=st.data())
def test_sql_path_returns_exactly_what_brute_force_returns(repo, runs, data):
    locks = fill(repo, runs)
    try:
        for query in data.draw(st.lists(expressions(runs), min_size=2, max_size=5), label="queries"):
            check(repo, query)
        # Many single tests of the runs' own values, with every comparison: a wrong bound shows
        # in a single one (and a longer query may hide it).
        listed = repo.list_runs()
        for kind, seen in observed(runs).items():
            atoms = st.lists(st.sampled_from(seen), min_size=min(len(seen), 5), max_size=12, unique=True) \
                if seen else st.just([])
            for atom in data.draw(atoms, label=kind):
                for op in ("==", "!=", "<", "<=", ">", ">=") if "{op}" in atom else ("",):
                    check(repo, atom.replace("{op}", op), offsets=False, listed=listed)
    finally:
        for lock in locks:
            lock.release()


KNOWN_RUNS = [
    {"experiment": "default", "name": "resnet", "description": None, "archived": False, "deleted": False,
     "status": "running", "locked": True, "creation_time": 1.0e9, "end_time": None, "tags": ["a"],
     "params": {"lr": 0.1, "a.b": [1, "x", None], "opt": "a\x00b"}, "sequences": {("loss", 1): (3, 2, 0.25)}},
    {"experiment": "exp-a", "name": None, "description": "d", "archived": True, "deleted": False,
     "status": "crashed", "locked": False, "creation_time": None, "end_time": None, "tags": [],
     "params": {"lr": math.nan, "opt": b"r", "nested": {"k": "adam"}},
     "sequences": {("loss", 0): (1, 0, math.nan)}},
    {"experiment": "exp-a", "name": "a", "description": "d", "archived": False, "deleted": False,
     "status": "finished", "locked": False, "creation_time": 1.5e9, "end_time": None, "tags": ["a", "b"],
     "params": {"lr": 2, "opt": "adam", "nested": {"k": "adam"}}, "sequences": {("loss", 0): (1, 0, 0)}},
]


@pytest.mark.parametrize("query", [
    "run.lr == 0.1 and run.status == 'running' and run.active", "run.status == 'crashed'",
    "run.status != 'running'", "run['a.b'][1] == 'x' and 1 in run['a.b'] and None in run['a.b']",
    "run['a.b'][-1] is None", "run.metrics['loss', {'subset': 'train'}].last < 0.5",
    "run.metrics['loss'].last != 0", "run.metrics['loss'].last < 1",
    "run.opt == 'a'", "run.opt == 'a\\x00b'", "run.opt == 'cg=='", "run.lr == 'NaN'", "run.lr > 0",
    "run.opt[0] == 'a'", "run.nested.k[-1] == 'm'", "run.tags[0] == 'a'", "'k' in run.nested",
    "'adam' not in run.nested", "run.name is None and run.creation_time == None and run.archived",
    "run.opt.startswith('a')", "run.nested.k.endswith(('x', 'dam'))", "run.nested.k.startswith('ad')",
    "run.creation_time in [None]", "run.end_time is None", "run.name in [None, 'a']", "run.description",
    "run.metrics['loss'] and not run.metrics['acc']", "run.metrics['loss', {'subset': 'train'}] is None",
])
def test_known_queries(repo, query):
    locks = fill(repo, KNOWN_RUNS)
    try:
        check(repo, query)
    finally:
        for lock in locks:
            lock.release()


def one_run(**fields: object) -> dict:
    return {**KNOWN_RUNS[2], **fields}


def test_an_exact_query_needs_no_python(repo, monkeypatch):
    fill(repo, [one_run(tags=["base"], params={"lr": 1, "opt": "adam"})])
    query = "run.experiment == 'exp-a' and 'base' in run.tags and run.opt.startswith('ad') and run.lr == 1"
    assert compile_query(parse(query)).exact is False  # params may hold NaN: not exact for every row
    import aim.sdk.query as q

    monkeypatch.setattr(q, "evaluate", lambda *a: pytest.fail("evaluated in Python"))
    assert [r["hash"] for r in query_run_rows(repo, query)] == [HASHES[0]]  # certain for this row
    assert compile_query(parse("run.experiment == 'exp-a' and not run.archived")).exact


def test_hostile_constants_are_bound_not_formatted(repo):
    fill(repo, [one_run()])
    evil = "x'); DROP TABLE runs; --"
    for query in (f"run.name == {evil!r}", f"run[{evil!r}] == 1", f"{evil!r} in run.tags",
                  f"run.metrics[{evil!r}, {{'k': {evil!r}}}].last > 1", f"run.name.startswith({evil!r})"):
        compiled = compile_query(parse(query))
        assert "DROP" not in compiled.where and "DROP" not in compiled.certain, query
        assert query_run_rows(repo, query) == []
    assert len(repo.index.run_rows()) == 1  # the table is still there


def test_a_statement_sqlite_refuses_falls_back_to_python(repo, monkeypatch):
    fill(repo, [one_run()])

    def refuse(*args: object, **kwargs: object) -> None:
        raise IndexCorruptError("Expression tree is too large (maximum depth 1000)")

    monkeypatch.setattr(repo.index, "select_run_rows", refuse)
    assert [r["hash"] for r in query_run_rows(repo, "run.lr == 2")] == [HASHES[0]]
    assert query_run_rows(repo, "run.lr == 2", offset=HASHES[0]) == []


def test_a_repository_of_real_runs(tmp_path: Path):
    from aim import Run

    for lr, tag in ((0.001, "base"), (0.01, None), (0.1, "base")):
        with Run(repo=tmp_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
            run["hparams"] = {"lr": lr, "name with.dot": [lr]}
            run.track(lr * 2, name="loss", context={"subset": "train"})
            if tag:
                run.add_tag(tag)
    r = Repo.from_path(tmp_path)
    for query in ("run.hparams.lr > 0.005", '"base" in run.tags', "run.hparams['name with.dot'][0] == 0.01",
                  'run.metrics["loss", {"subset": "train"}].last < 0.1',
                  "run.status == 'finished' and not run.active"):
        assert repr(query_run_rows(r, query)) == repr(matching_rows(r, query, r.list_runs())), query
    listed = [x["hash"] for x in r.list_runs()]
    assert [x["hash"] for x in query_run_rows(r, "", offset=listed[0])] == listed[1:]
