"""AimQL to SQL (``aim.core.query.sql``): what compiles, to what, and that nothing a query
holds ever reaches the SQL text. Whether the SQL selects the right runs is the property test's
job (``tests/property/test_query_sql.py``); these pin the compiled forms and the edges."""

from __future__ import annotations

import pytest

from aim.core.query import compile_query, parse
from aim.core.query.sql import MAX_ARGS, CompiledQuery


def compiled(query: str) -> CompiledQuery:
    return compile_query(parse(query))


def test_plain_columns_compile_exactly_with_bound_values():
    c = compiled("run.experiment == 'cifar10' and not run.archived")
    assert c.exact and c.certain == "1" and c.certain_args == ()
    assert "runs.experiment" in c.where and "runs.archived" in c.where
    assert c.args == ("cifar10",)


def test_the_empty_query_selects_everything():
    c = compiled("")
    assert (c.where, c.args, c.certain, c.exact) == ("1", (), "1", True)


@pytest.mark.parametrize("query", [
    "run.duration < 10", "run.created_at.year == 2022", "run.name.lower() == 'res'",
    "re.match('res', run.name) is not None", "run.hparams.lr * 2 > 0.1", "run.lr == run.momentum",
    "len(run.tags) > 1", "run.metrics['loss'].context == {}", "run['a', 'b'][0, 1] == 1",
])
def test_what_sql_cannot_decide_keeps_every_run_for_python(query):
    for q in (query, f"not ({query})"):  # `not` swaps the bounds: still every run, none certain
        c = compiled(q)
        assert (c.where, c.certain, c.exact) == ("1", "0", False), q


def test_a_decided_part_still_narrows_beside_an_undecided_one():
    c = compiled("run.experiment == 'a' and run.duration < 10")
    assert "runs.experiment" in c.where and c.certain == "0"
    c = compiled("run.experiment == 'a' or run.duration < 10")
    assert c.where == "1" and "runs.experiment" in c.certain  # certain for experiment 'a'


def test_params_go_through_json_paths_and_are_never_certain_with_marks():
    c = compiled('run.hparams.lr > 0.001 and run["a.b"]["c d"][-1] == "x" and run.layers[0] == 1')
    assert {'$."hparams"."lr"', '$."a.b"."c d"[#-1]', '$."layers"[0]'} <= set(c.args)
    assert not c.exact
    assert "runs.params_marks != ''" in c.where and "NOT" in c.certain
    # a str param indexed reads a character in Python, nothing in a JSON path: a doubt
    assert "= 'text'" in c.where


def test_keys_a_json_path_cannot_name_are_left_to_python():
    for query in ("run['q\"k'] == 1", "run['b\\\\s'] == 1", "run['tab\\t'] == 1"):
        assert compiled(query).where == "1", query


def test_status_and_active_compile_to_a_superset_only():
    for query in ("run.status == 'crashed'", "run.active", "not run.active", "run.status != 'running'"):
        c = compiled(query)
        assert not c.exact and c.where not in ("1", "0") and c.certain != "0", query


def test_metric_last_values_read_the_sequences_table_by_name_and_canonical_context():
    c = compiled('run.metrics["loss", {"subset": "train", "a": 1}].last < 0.5')
    assert "FROM sequences s WHERE s.hash = runs.hash" in c.where
    assert "loss" in c.args and '{"a":1,"subset":"train"}' in c.args
    assert compiled('run.metrics["loss", {"x": float("nan")}].last < 1').where == "1"  # not a literal


# Each holds EVIL, which must never reach the SQL text.
HOSTILE = ["EVIL'); DROP TABLE runs; --", "EVIL' OR 1=1 --", '"EVIL"; SELECT * FROM sequences; --',
           "EVIL\x00", "EVIL?", "EVIL\u00e9'"]


@pytest.mark.parametrize("evil", HOSTILE)
def test_constants_are_bound_never_formatted(evil):
    for query in (f"run.name == {evil!r}", f"run[{evil!r}] == {evil!r}", f"{evil!r} in run.tags",
                  f"run.metrics[{evil!r}, {{'k': {evil!r}}}].last > 1", f"run.name.startswith({evil!r})",
                  f"run.hparams.opt in [{evil!r}, 1]", f"run.name in {evil!r}"):
        c = compiled(query)
        for text in (c.where, c.certain):
            assert "EVIL" not in text, query
        assert c.where.count("?") == len(c.args) and c.certain.count("?") == len(c.certain_args), query


def test_long_chains_stay_shallow_for_sqlite():
    c = compiled(" and ".join(f"run.name!={i}" for i in range(250)))
    depth = deepest = 0
    for ch in c.where:
        depth += ch == "("
        depth -= ch == ")"
        deepest = max(deepest, depth)
    assert deepest < 40 and len(c.args) == 250


def test_too_many_values_for_one_statement_leave_the_query_to_python():
    query = "run.metrics['a'].last in [" + ", ".join(str(i) for i in range(1800)) + "]"
    c = compiled(query)
    assert (c.where, c.certain) == ("1", "0") and MAX_ARGS < 32_766


def test_after_keeps_only_runs_later_in_the_index_order():
    c = compiled("run.experiment == 'a'").after(12.5, "ab" * 12)
    assert c.args == ("a", 12.5, 12.5, "ab" * 12) and c.certain == "1"
    c = compiled("").after(None, "ab" * 12)
    assert "runs.creation_time IS NOT NULL" in c.where and c.args == ("ab" * 12,)
