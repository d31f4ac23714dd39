"""Forks and rewinds SIGKILLed at random moments leave whole forks or none, parents untouched,
runs rewound or not, and a repository that verifies (checks in ``fork_checks.py``, shared with
``tools/crashtest.py``)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash import fork_checks

TRIALS = 4


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> fork_checks.Template:
    return fork_checks.build_template(tmp_path_factory.mktemp("fork-template") / "repo", runs=3, steps=2_000)


@pytest.mark.parametrize("op", fork_checks.OPS)
def test_a_killed_fork_or_rewind_leaves_whole_states(template: fork_checks.Template, tmp_path: Path,
                                                     op: str) -> None:
    rng = random.Random(f"fork-crash-{op}")
    finished = fork_checks.run_killed(template, op, tmp_path / "whole", None)
    fork_checks.check(template, finished)  # the checks hold for a pass that was not killed
    assert len(finished.done) == len(template.plan)
    for i in range(TRIALS):
        when = rng.uniform(0, 1.2 * template.seconds[op])
        trial = fork_checks.run_killed(template, op, tmp_path / f"t{i}", when)
        fork_checks.check(template, trial)
