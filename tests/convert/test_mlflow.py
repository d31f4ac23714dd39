"""``aim convert mlflow``: real MLflow stores (a file store and a SQLite database) written by
mlflow's own client, converted through the real CLI and compared param for param and point for
point (float64 bit for bit, MLflow's timestamps); a second import adds nothing, a killed import
rerun gives the same result, the source is never modified (not one byte)."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from aim import Repo
from aim.errors import AimError
from aim.sdk.convert.builder import source_hash
from aim.sdk.convert.mlflow import convert_mlflow
from aim.sdk.convert.report import ConvertReport, SourceError
from aim.sdk.repo import Repo as RepoStore
from tests.conftest import run_cli
from tests.convert.helpers import digest, kill_mid_import

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
pytest.importorskip("PIL")  # the images the test logs
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

BASE_MS = 1_700_000_000_000
STEPS = 300
NLP = 6  # runs in the experiment "nlp", all finished: enough that a kill lands mid-import
STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "terminated"}
Expected = dict[str, dict[str, Any]]  # MLflow run id -> what the run here must hold
PARAMS = ("mlflow_run_id", "mlflow_run_name", "mlflow_experiment_id", "params", "tags", "mlflow_system_tags")


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def add_run(client: MlflowClient, exp_id: str, exp_name: str, k: int, status: str, expected: Expected,
            note: str | None = None, artifacts: Path | None = None) -> str:
    """One run as a training script logs it (batched: mlflow's per-call API is slow); records
    in ``expected`` what the import must make of it. Returns the run id."""
    start = BASE_MS + k * 10_000_000
    tags = {"team": "vision" if k % 2 else "nlp", "seed": str(k), "mlflow.source.git.commit": f"c0ffee{k}"}
    if note:
        tags["mlflow.note.content"] = note
    run = client.create_run(exp_id, start_time=start, run_name=f"run-{k}", tags=tags)
    rid = run.info.run_id
    params = {"lr": repr(1e-3 * (k + 1)), "layers": str(k + 2), "arch": "resnet-50", "flag": "True",
              "sizes": "[1, 2, 3]", "opt/beta.1": "0.9", "unicode": "üñí cødé ✓", "empty": "",
              "long": "x" * 500}
    history: dict[str, dict[int, tuple[float, int]]] = {}
    metrics: list[Metric] = []

    def log(key: str, value: float, ts: int, step: int) -> None:
        metrics.append(Metric(key, value, ts, step))
        if step >= 0:
            history.setdefault(key, {})[step] = (value, ts)  # a repeated step: the later one stays

    for step in range(STEPS):
        log("loss", 1 / 3 + step * 1e-12 + k, start + 10 + step, step)  # float32 would change these
        if step % 10 == 0:
            log("val/acc", step / STEPS + 1e-15 * k, start + 10 + step, step)
    log("lr", 0.1, start + 20, 5)
    log("lr", 0.05, start + 30, 5)  # logged again at the same step, later
    log("lr", 0.01, start + 40, 7)
    if note:
        log("loss", -1.0, start + 5, -1)  # a negative step: MLflow allows it, steps here start at 0
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i:i + 1000],
                         params=[Param(a, b) for a, b in params.items()] if i == 0 else [],
                         tags=[RunTag("extra", "1")] if i == 0 else [])
    if artifacts is not None:
        for path in sorted(artifacts.rglob("*")):
            if path.is_file():
                sub = path.parent.relative_to(artifacts).as_posix()
                client.log_artifact(rid, str(path), None if sub == "." else sub)
    end = start + STEPS + 1_000
    if status != "RUNNING":
        client.set_terminated(rid, status, end_time=end)
    user_tags = {"team": tags["team"], "seed": str(k), "extra": "1"}
    expected[rid] = {
        "name": f"run-{k}", "experiment": exp_name, "status": STATUS.get(status), "description": note,
        "created": start / 1000, "ended": end / 1000, "archived": False, "points": len(metrics) - bool(note),
        "params": {"mlflow_run_id": rid, "mlflow_run_name": f"run-{k}", "mlflow_experiment_id": exp_id,
                   "params": params, "tags": user_tags,
                   "mlflow_system_tags": {"mlflow.source.git.commit": f"c0ffee{k}"}},
        "metrics": {key: [(step, bits(v), ts / 1000) for step, (v, ts) in sorted(h.items())]
                    for key, h in history.items()},
    }
    return rid


def write_store(uri: str, root: Path) -> Expected:
    """Three experiments (one deleted): finished, failed, killed, running and deleted runs."""
    client = MlflowClient(tracking_uri=uri)
    expected: Expected = {}
    files = root / "to-log"
    (files / "samples").mkdir(parents=True)
    from PIL import Image as PILImage

    for i, color in enumerate(("red", "blue")):
        PILImage.new("RGB", (8 + i, 6), color).save(files / "samples" / f"img{i}.png")
    (files / "notes.txt").write_text("the run's notes ✓\n", encoding="utf-8")
    (files / "model.pkl").write_bytes(b"\x80\x04N.")  # not mapped: skipped
    (files / "report.html").write_text("<p>hi</p>")  # not mapped (as in Aim): skipped
    vision = client.create_experiment("vision", artifact_location=str(root / "artifacts" / "vision"))
    nlp = client.create_experiment("nlp", artifact_location=str(root / "artifacts" / "nlp"))
    old = client.create_experiment("old", artifact_location=str(root / "artifacts" / "old"))
    add_run(client, vision, "vision", 0, "FINISHED", expected, note="baseline, **markdown**", artifacts=files)
    for k, status in ((1, "FINISHED"), (2, "FAILED"), (3, "KILLED"), (4, "RUNNING")):
        add_run(client, vision, "vision", k, status, expected)
    deleted = add_run(client, vision, "vision", 5, "FINISHED", expected)
    client.delete_run(deleted)
    expected[deleted]["archived"] = True
    for k in range(6, 6 + NLP):
        add_run(client, nlp, "nlp", k, "FINISHED", expected)
    gone = add_run(client, old, "old", 99, "KILLED", expected)
    client.delete_experiment(old)
    expected[gone]["archived"] = True
    shutil.rmtree(files)
    return expected


def imported(expected: Expected) -> Expected:
    return {rid: e for rid, e in expected.items() if e["status"] is not None}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, Expected]]]:
    """The same history in a file store (``src/mlruns``) and a SQLite database (``db/mlflow.db``)."""
    base = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # only while writing: the import sets it itself
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        files = write_store(str(base / "src" / "mlruns"), base / "src")
        db = write_store(f"sqlite:///{base / 'db' / 'mlflow.db'}", base / "db")
    yield {"file": (base / "src", files), "sqlite": (base / "db", db)}


def convert(repo: Path, source: str, *extra: str, cwd: Path | None = None) -> dict[str, Any]:
    out = run_cli("convert", "mlflow", source, "--repo", str(repo), "--json", *extra, timeout=120, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def read_back(repo: Path) -> Expected:
    got: Expected = {}
    for run in Repo(repo).iter_runs():
        params = {key: run[key] for key in PARAMS}
        metrics = {}
        for m in run.metrics():
            assert m.context.to_dict() == {}
            metrics[m.name] = [(s, bits(v), t) for s, v, t in zip(m.steps, m.values, m.timestamps)]
        got[params["mlflow_run_id"]] = {
            "name": run.name, "experiment": run.experiment, "status": run.status,
            "description": run.description, "created": run.creation_time, "ended": run.end_time,
            "archived": run.archived, "params": params, "metrics": metrics}
        assert run.hash == source_hash("mlflow", params["mlflow_run_id"])  # stable wherever the store moves
    return got


def without_points(expected: Expected) -> Expected:
    return {rid: {k: v for k, v in e.items() if k != "points"} for rid, e in imported(expected).items()}


def check_artifacts(repo: Path, run_id: str) -> None:
    run = next(r for r in Repo(repo).iter_runs() if r["mlflow_run_id"] == run_id)
    images = run.get_image_sequence("samples", {"type": "image"})
    assert images is not None and images.steps == [0]
    [(_, pics)] = images.items()
    assert sorted((p.caption, p.width) for p in pics) == [("samples/img0.png", 8), ("samples/img1.png", 9)]
    texts = run.get_text_sequence("root", {"type": "text"})
    assert texts is not None and [t.data for t in texts.items()[0][1]] == ["the run's notes ✓\n"]


def check_report(report: dict[str, Any], expected: Expected) -> None:
    runs = imported(expected)
    assert report["runs"] == len(runs) and report["already"] == 0 and not report["errors"]
    # every metric point (the negative step's excepted) and two object lists (images, texts)
    assert report["points"] == sum(e["points"] for e in runs.values()) + 2
    assert report["skipped"] == 4  # the running run, model.pkl, report.html, the negative step
    running = next(rid for rid, e in expected.items() if e["status"] is None)
    assert len(report["notes"]) == 2 and any(running in n and "RUNNING" in n for n in report["notes"])


def convert_here(repo: Path, source: str, experiment: str | None = None) -> ConvertReport:
    """The same import in this process: mlflow is imported already, so it costs no start-up (about
    3 s a process on a 2-core machine); the CLI's own runs are the ones compared above."""
    return convert_mlflow(RepoStore.from_path(str(repo), init=True), source, experiment)


def test_file_store_runs_point_for_point(stores: dict[str, tuple[Path, Expected]], tmp_path: Path) -> None:
    src, expected = stores["file"]
    repo = tmp_path / "repo"
    before = digest(src)
    report = convert(repo, str(src))  # the folder holding mlruns/
    check_report(report, expected)
    assert report["location"] == str(src / "mlruns")
    assert read_back(repo) == without_points(expected)  # every param, every point, bit for bit
    check_artifacts(repo, next(rid for rid, e in expected.items() if e["description"]))
    assert digest(src) == before  # the source is only read

    again = convert(repo, f"file://{src / 'mlruns'}")  # idempotent, whatever spelling of the store
    assert again["runs"] == 0 and again["already"] == len(imported(expected)) and again["points"] == 0
    moved = tmp_path / "moved"
    shutil.copytree(src / "mlruns", moved)
    assert convert_here(repo, str(moved)).already == len(imported(expected))  # run ids, not paths
    assert read_back(repo) == without_points(expected)
    verify = run_cli("storage", "verify", "--repo", str(repo))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sqlite_store_and_experiment_filter(stores: dict[str, tuple[Path, Expected]], tmp_path: Path) -> None:
    folder, expected = stores["sqlite"]
    repo, uri = tmp_path / "repo", f"sqlite:///{folder / 'mlflow.db'}"
    before = digest(folder)  # the database, and no journal or other file appears beside it
    here = tmp_path / "cwd"
    here.mkdir()
    nlp = convert(repo, uri, "--experiment", "nlp", cwd=here)
    assert not list(here.iterdir())  # nothing made in the working directory either
    assert nlp["runs"] == NLP and nlp["skipped"] == 0 and not nlp["errors"]
    assert {r["experiment"] for r in read_back(repo).values()} == {"nlp"}
    rest = convert(repo, str(folder))  # the folder holding mlflow.db
    assert rest["runs"] == len(imported(expected)) - NLP and rest["already"] == NLP and not rest["errors"]
    assert rest["skipped"] == 4 and len(rest["notes"]) == 2
    assert read_back(repo) == without_points(expected)
    check_artifacts(repo, next(rid for rid, e in expected.items() if e["description"]))

    vision_id = next(e["params"]["mlflow_experiment_id"] for e in expected.values()
                     if e["experiment"] == "vision")
    by_id = convert_here(tmp_path / "by-id", str(folder / "mlflow.db"), vision_id)
    assert by_id.runs == 5 and by_id.skipped == 4 and not by_id.errors
    assert {r["experiment"] for r in read_back(tmp_path / "by-id").values()} == {"vision"}
    with pytest.raises(SourceError, match="no MLflow experiment"):
        convert_here(tmp_path / "none", uri, "nope")
    assert digest(folder) == before

    old = tmp_path / "old.db"  # a database of another mlflow version: refused, left as it was
    shutil.copy(folder / "mlflow.db", old)
    with sqlite3.connect(old) as db:
        db.execute("UPDATE alembic_version SET version_num = '451aebb31d03'")
    db.close()
    old_bytes = old.read_bytes()
    with pytest.raises(AimError, match="out-of-date database schema"):
        convert_here(tmp_path / "none", str(old))
    assert old.read_bytes() == old_bytes
    verify = run_cli("storage", "verify", "--repo", str(repo))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_killed_import_rerun_gives_the_same_runs(stores: dict[str, tuple[Path, Expected]],
                                                   tmp_path: Path) -> None:
    src, expected = stores["file"]
    rng = random.Random(23)
    for attempt in range(2):
        repo = tmp_path / f"repo{attempt}"
        # mlflow takes seconds to import: wait until the first run is being built, then kill
        # within the import's length (about a second here)
        kill_mid_import("mlflow", src, repo, then=rng.uniform(0.0, 0.5))
        report = convert_here(repo, str(src))
        assert report.runs + report.already == len(imported(expected)) and not report.errors
        assert read_back(repo) == without_points(expected)
        verify = run_cli("storage", "verify", "--repair", "--repo", str(repo))
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_pages_and_the_environment_left_as_it_was(stores: dict[str, tuple[Path, Expected]], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from aim.sdk.convert import mlflow as importer

    seen: list[tuple[int, int]] = []
    for kind in ("file", "sqlite"):
        src, expected = stores[kind]
        seen.clear()
        monkeypatch.setattr(importer, "PAGE", 2)  # experiments and runs come in many pages
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "0")
        monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
        report = convert_mlflow(RepoStore.from_path(str(tmp_path / kind), init=True), str(src), None,
                                progress=lambda done, total: seen.append((done, total)))
        assert report.runs == len(imported(expected)) and not report.errors
        assert seen == [(i, len(expected)) for i in range(1, len(expected) + 1)]  # the running run too
        assert read_back(tmp_path / kind) == without_points(expected)
        assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "0"
        assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ


def test_paths_with_odd_characters(stores: dict[str, tuple[Path, Expected]], tmp_path: Path) -> None:
    odd = tmp_path / "a b#c%41?d"  # mlflow unquotes paths, sqlite URIs cut at '#' and '?'
    shutil.copytree(stores["file"][0] / "mlruns", odd / "mlruns")
    shutil.copy(stores["sqlite"][0] / "mlflow.db", odd / "copy.db")
    before = digest(odd)
    sources = ((str(odd), "file", 1), (str(odd / "copy.db"), "sqlite", 1),
               (f"sqlite:///{quote(str(odd / 'copy.db'))}", "sqlite", 0))  # a URL quotes its path
    for source, kind, new in sources:
        report = convert_here(tmp_path / "repo", source)
        assert report.runs == new * len(imported(stores[kind][1])) and not report.errors, report
    assert digest(odd) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a b#c%41?d", "repo"]


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    plain = tmp_path / "plain"
    plain.mkdir()
    before = other.read_bytes()
    cases = [
        (str(tmp_path / "missing"), "no folder"),
        (str(plain), "not an MLflow store"),
        (f"sqlite:///{other}", "not an MLflow database"),
        ("postgresql://host/db", "not a store this importer reads"),
    ]
    for source, says in cases:
        out = run_cli("convert", "mlflow", source, "--repo", str(tmp_path / "r"))
        errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert len(errors) == 1 and says in errors[0], out.stderr
    both = run_cli("convert", "mlflow", "a", "--tracking_uri", "b", "--repo", str(tmp_path / "r"))
    assert both.returncode == 2 and "once" in both.stderr and "Traceback" not in both.stderr
    assert other.read_bytes() == before and not list(tmp_path.glob("other.db-*"))
