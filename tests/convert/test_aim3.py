"""``aim convert aim3``: a real Aim 3.29.1 repository, written by Aim 3 itself in its own venv
(``tests/children/aim3_write.py``), converted through the real CLI and compared with what Aim
3's own read API returns (``tests/children/aim3_dump.py``): every param, every point of every
sequence (floats bit for bit), every object's bytes, every log line and record; hashes kept;
a second import adds nothing; a killed import rerun gives the same runs; a corrupt Aim run is
reported and the others imported; the source is never modified."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aim import Repo
from tests.conftest import CHILDREN, run_cli
from tests.convert.helpers import digest, kill_mid_import


@pytest.fixture(scope="module")
def aim3_repo(aim3_python: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A real Aim 3 repository and what Aim 3 reads back from it."""
    src = tmp_path_factory.mktemp("aim3") / "project"
    src.mkdir()
    # Aim 3 runs away from this checkout: its migrations run `python -m alembic`, which would
    # import this project's `aim` from a working directory holding it.
    away = {"cwd": src.parent, "capture_output": True, "timeout": 300}
    write = [str(aim3_python), str(CHILDREN / "aim3_write.py"), str(src)]
    subprocess.run(write, check=True, **away)  # type: ignore[call-overload]
    crashed = subprocess.run([*write, "crash"], **away)  # type: ignore[call-overload]
    assert crashed.returncode == -signal.SIGKILL
    # Aim 3's read API lists only indexed runs: index them as `aim up` would (Aim 3's own CLI).
    subprocess.run([str(aim3_python.parent / "aim"), "storage", "--repo", str(src), "reindex"],
                   input=b"y\n", check=True, **away)  # type: ignore[call-overload]
    dump = subprocess.run([str(aim3_python), str(CHILDREN / "aim3_dump.py"), str(src)], check=True,
                          **away)  # type: ignore[call-overload]
    return src, json.loads(dump.stdout)


def convert(repo: Path, src: Path, ok: bool = True) -> dict[str, Any]:
    out = run_cli("convert", "aim3", str(src), "--repo", str(repo), "--json", timeout=180)
    assert (out.returncode == 0) == ok, out.stderr
    return json.loads(out.stdout)


def plain(value: Any) -> Any:
    """A value as aim3_dump.py writes it: floats as hex, bytes as their SHA-256."""
    if isinstance(value, float):
        return {"float": value.hex()}
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def expected_object(obj: dict[str, Any]) -> dict[str, Any]:
    """What an Aim 3 object is to compare with ours: its bytes and the fields both keep."""
    f = obj["fields"]
    kind = obj["type"]
    if kind == "aim.text":
        return {"text": f["data"]}
    if kind == "aim.figure":
        return {"sha256": hashlib.sha256(f["data"].encode()).hexdigest()}
    if kind == "aim.distribution":
        return {"sha256": f["data"]["sha256"], "range": f["range"], "bin_count": f["bin_count"]}
    out = {"sha256": f["data"]["sha256"], "caption": f.get("caption", ""), "format": f["format"]}
    if kind == "aim.image":
        out.update(width=f["width"], height=f["height"], mode=f["mode"])
    return out


def our_object(obj: Any) -> dict[str, Any]:
    import numpy as np

    kind = obj.kind
    if kind == "text":
        return {"text": obj.data}
    data, meta = obj._to_stored()
    if kind == "figure":
        return {"sha256": hashlib.sha256(data).hexdigest()}
    if kind == "distribution":
        weights = np.asarray(obj.weights, dtype=np.int64).tobytes()  # Aim 3 keeps the counts' bytes
        return {"sha256": hashlib.sha256(weights).hexdigest(), "range": plain(list(obj.range)),
                "bin_count": obj.bin_count}
    out = {"sha256": hashlib.sha256(data).hexdigest(), "caption": meta.get("caption", ""),
           "format": meta["format"]}
    if kind == "image":
        out.update(width=meta["width"], height=meta["height"], mode=meta["mode"])
    return out


def expected_sequence(seq: dict[str, Any]) -> dict[str, Any]:
    dtype = seq["dtype"]
    values: list[Any]
    if dtype in ("float", "int"):
        values = seq["values"]  # Aim 3 reads ints back as floats too
    elif dtype == "aim.log_line":
        values = [v["fields"]["data"] for v in seq["values"]]
    elif dtype == "aim.log_record":
        values = [{"message": v["fields"]["message"], "level": v["fields"]["log_level"],
                   "extra": v["fields"].get("extra_args"), "where": v["fields"].get("__logger_info")}
                  for v in seq["values"]]
    else:
        values = [[expected_object(o) for o in v] if isinstance(v, list) else expected_object(v)
                  for v in seq["values"]]
    times = seq["times"] if dtype != "aim.log_record" else [v["fields"]["timestamp"] for v in seq["values"]]
    logs = dtype in ("aim.log_line", "aim.log_record")
    return {"name": seq["name"], "context": seq["context"], "steps": seq["steps"], "values": values,
            "epochs": None if logs else seq["epochs"], "times": times}


def by_name(seq: dict[str, Any]) -> tuple[str, str]:
    return seq["name"], json.dumps(seq["context"], sort_keys=True)


def expected_run(run: dict[str, Any]) -> dict[str, Any]:
    return {"hash": run["hash"], "name": run["name"], "experiment": run["experiment"],
            "description": run["description"], "tags": run["tags"], "archived": run["archived"],
            "creation_time": round(run["creation_time"], 3),
            "end_time": run["end_time"] and round(run["end_time"], 3),
            "params": {**run["params"], **({"aim3_notes": run["notes"]} if run["notes"] else {})},
            "sequences": sorted((expected_sequence(s) for s in run["sequences"]), key=by_name)}


def read_back(repo: Path) -> list[dict[str, Any]]:
    """Every run here, in the shape of ``expected_run``."""
    runs = []
    for run in Repo(repo).iter_runs():
        seqs = []
        for m in run.metrics():
            seqs.append({"name": m.name, "context": m.context.to_dict(), "steps": list(m.steps),
                         "values": [plain(float(v)) for v in m.values], "epochs": list(m.epochs),
                         "times": [plain(float(t)) for t in m.timestamps]})
        for kind, name, context, _points, _last in run.iter_objects_info():
            seq = run._object_sequence(kind, name, context)
            assert seq is not None
            values = [[our_object(o) for o in v] if isinstance(v, list) else our_object(v)
                      for v in seq.values.values_list()]
            seqs.append({"name": name, "context": dict(context), "steps": seq.steps, "values": values,
                         "epochs": [e.get("epoch") for e in seq._events.values()],
                         "times": [plain(float(e["ts"])) for e in seq._events.values()]})
        logs = run.get_terminal_logs()
        if logs is not None:
            steps, lines = logs.data.items_list()
            seqs.append({"name": "logs", "context": {}, "steps": steps, "values": lines, "epochs": None,
                         "times": [plain(float(t)) for t in logs.timestamps]})
        records = run.get_log_records()
        if records is not None:
            steps, recs = records.data.items_list()
            seqs.append({"name": "__log_records", "context": {}, "steps": steps,
                         "values": [{"message": r.message, "level": r.level, "extra": r.extra_args,
                                     "where": list(r.logger_info) if r.logger_info else None} for r in recs],
                         "epochs": None, "times": [plain(float(r.timestamp)) for r in recs]})
        params = run[...]
        runs.append({"hash": run.hash, "name": run.name, "experiment": run.experiment,
                     "description": run.description, "tags": list(run.tags), "archived": run.archived,
                     "creation_time": run.creation_time, "end_time": run.end_time, "params": plain(params),
                     "sequences": sorted(seqs, key=by_name)})
    return sorted(runs, key=lambda r: r["hash"])


def test_an_aim3_repository_converts_value_for_value(aim3_repo: tuple[Path, list[dict[str, Any]]],
                                                     tmp_path: Path) -> None:
    src, truth = aim3_repo
    before = digest(src)
    report = convert(tmp_path / "repo", src)
    assert report["runs"] == len(truth) == 9 and report["already"] == 0 and report["skipped"] == 0
    assert report["points"] == sum(len(s["steps"]) for r in truth for s in r["sequences"]  # metrics and objects
                                   if s["dtype"] not in ("aim.log_line", "aim.log_record"))
    assert len(report["notes"]) == 1 and "crashed" in report["notes"][0]  # the killed Aim 3 run
    got, want = read_back(tmp_path / "repo"), [expected_run(r) for r in truth]
    everything = next(r for r in got if r["name"] == "everything")
    assert len(everything["sequences"]) == 11  # metrics, each object kind, logs and records
    assert [r["hash"] for r in got] == [r["hash"] for r in want]  # the hashes are Aim's
    for ours, theirs in zip(got, want):
        assert ours == theirs, ours["hash"]
    statuses = {r.hash: r.status for r in Repo(tmp_path / "repo").iter_runs()}
    crashed = [r["hash"] for r in truth if r["end_time"] is None]
    assert [h for h, s in statuses.items() if s != "finished"] == crashed and statuses[crashed[0]] == "crashed"
    assert digest(src) == before  # the source is only read

    again = convert(tmp_path / "repo", src)  # idempotent
    assert again["runs"] == 0 and again["already"] == 9 and again["points"] == 0
    assert read_back(tmp_path / "repo") == got
    verify = run_cli("storage", "verify", "--repo", str(tmp_path / "repo"))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_killed_import_rerun_gives_the_same_runs(aim3_repo: tuple[Path, list[dict[str, Any]]],
                                                   tmp_path: Path) -> None:
    src, truth = aim3_repo
    want = [expected_run(r) for r in truth]
    rng = random.Random(3)
    for attempt in range(3):
        repo = tmp_path / f"repo{attempt}"
        kill_mid_import("aim3", src, repo, then=rng.uniform(0.0, 0.6))
        report = convert(repo, src)
        assert report["runs"] + report["already"] == 9 and not report["errors"]
        assert read_back(repo) == want
        verify = run_cli("storage", "verify", "--repair", "--repo", str(repo))
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_corrupt_aim3_run_is_reported_and_the_others_imported(aim3_repo: tuple[Path, list[dict[str, Any]]],
                                                                tmp_path: Path) -> None:
    src, truth = aim3_repo
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    bad = next(r["hash"] for r in truth if r["experiment"] == "bulk")
    for f in (copy / ".aim" / "meta" / "chunks" / bad).iterdir():
        if f.suffix == ".sst" or f.name.startswith("MANIFEST"):
            f.write_bytes(b"\x00garbage" * 64)
    report = convert(tmp_path / "repo", copy, ok=False)
    assert report["runs"] == 8 and len(report["errors"]) == 1 and bad in report["errors"][0]
    imported = sorted(r["hash"] for r in read_back(tmp_path / "repo"))
    assert imported == sorted(r["hash"] for r in truth if r["hash"] != bad)
    assert not list((tmp_path / "repo" / ".aim" / "tmp").iterdir())  # no half run left


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    out = run_cli("convert", "aim3", str(tmp_path / "missing"), "--repo", str(tmp_path / "r"))
    assert out.returncode == 2 and "no folder" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "empty").mkdir()
    out = run_cli("convert", "aim3", str(tmp_path / "empty"), "--repo", str(tmp_path / "r"))
    assert out.returncode == 1 and "no Aim 3 repository" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_terminal_shows_a_progress_bar(aim3_repo: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    import os
    import pty

    src, _ = aim3_repo
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "aim", "convert", "aim3", str(src), "--repo", str(tmp_path / "r")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out, _ = proc.communicate(timeout=120)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: all was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"converting" in shown and b"100%" in shown  # the bar, on the terminal (stderr)
    assert out.startswith("imported 9 runs") and out.count("\n") == 1  # the one line, on stdout
    assert b"note: run " in shown and b"reads as crashed" in shown  # the crashed Aim 3 run's note
