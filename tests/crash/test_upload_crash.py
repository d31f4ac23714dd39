"""``aim runs upload`` SIGKILLed at stratified moments beside a live writer (checks in
``upload_checks.py``; ``tools/crashtest.py`` runs the same at scale): only whole objects in the
bucket, manifests that list only what is there, a source that verifies, and a next upload that
ships exactly what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.manage_checks import Template, build_template
from tests.crash.upload_checks import report, run_upload_trial, start_s3_server

KILLS = 4


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with start_s3_server() as url:
        yield url


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("template"), n_small=12, big_events=5_000)


@pytest.fixture(scope="module")
def seconds(template: Template, endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> float:
    """How long an upload of the template takes, run to its end (the kills are spread over it)."""
    work = tmp_path_factory.mktemp("calibrate")
    t = run_upload_trial(template.src, work / "c", endpoint, "calibrate", None, writer_seed=1)
    assert t.seconds is not None and t.shipped > 0 and t.manifests == 1
    shutil.rmtree(work)
    return t.seconds


@pytest.mark.parametrize("no", range(KILLS))
def test_a_killed_upload_leaves_whole_objects_and_the_next_one_ships_what_is_missing(
        template: Template, endpoint: str, seconds: float, tmp_path: Path, no: int) -> None:
    when = (no + 0.5) / KILLS * seconds
    t = run_upload_trial(template.src, tmp_path / "t", endpoint, f"killed-{no}", when, writer_seed=40 + no)
    print(report(t))
