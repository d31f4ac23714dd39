"""``aim convert wandb``: real offline runs written by the real wandb package (its transaction
log, its media files), converted through the real CLI and compared value for value: every config
value, every history point bit for bit, the objects, the terminal lines; a second import adds
nothing, a killed import rerun gives the same result, a log cut mid-record imports what was
whole, a corrupt log is one error among imported runs, the source is never modified."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aim import Repo
from tests.conftest import run_cli
from tests.convert.helpers import digest, kill_mid_import

pytest.importorskip("wandb")

Source = tuple[Path, dict[str, Any]]  # the wandb folder, and what each run logged
LONG_STEPS = 1500
VOCAB = 9000  # a config of ~100 KB: its run record spans three blocks (FIRST, MIDDLE, LAST chunks)

# Writes the runs in one interpreter (wandb.init is slow); what each run logged goes to a JSON
# file as plain data: floats through JSON keep every bit (repr round-trips).
WRITER = r'''
import json, math, sys, time
import numpy as np
import wandb

root, expect_path, long_steps, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
expected = {}

def start(key, **kw):
    t0 = time.time()
    run = wandb.init(dir=root, **kw)
    expected[key] = {"id": run.id, "t0": t0, "points": {}, "stdout": [], "stderr": []}
    return run, expected[key]

def log(run, exp, row, step):
    run.log(row, step=step)
    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, prefix + k + ".")
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                yield prefix + k, v
    for k, v in flat(row):
        exp["points"].setdefault(k, []).append([step, v, row.get("epoch")])

def end(run, exp, **kw):
    run.finish(**kw)
    exp["t1"] = time.time()

# alpha: every kind of value; system stats sampled often
config = {"lr": 1 / 3, "layers": [64, 32], "optimizer": {"name": "adam", "betas": [0.9, 0.999]},
          "seed": 7, "schedule": None, "tiny": 5e-324, "big": 2 ** 53 + 1}
run, exp = start("alpha", project="vision", name="alpha", notes="first try", tags=["baseline", "cnn"],
                 config=config, settings=wandb.Settings(x_stats_sampling_interval=0.2))
exp["config"] = {**config, "late": "added after init"}
for k in range(12):
    log(run, exp, {"loss": 1 / 3 + k * 1e-12, "train/acc": k / 7, "val/loss": 2 / 3 - k * 1e-13,
                   "grad": {"norm": k * 0.1, "layer": {"w": 1 / (k + 3)}}, "epoch": k // 4}, k)
    print(f"step {k}")
run.config.update({"late": "added after init"})
image = (np.arange(8 * 8 * 3).reshape(8, 8, 3) * 3 % 256).astype(np.uint8)
gray = (np.arange(6 * 5).reshape(6, 5) * 7 % 256).astype(np.uint8)
run.log({"weights": wandb.Histogram(np.arange(100.0)), "sample": wandb.Image(image, caption="a sample"),
         "samples": [wandb.Image(image, caption="first"), wandb.Image(gray)],
         "table": wandb.Table(columns=["a"], data=[[1]]), "note": "a string", "flag": True,
         "score": float("nan")}, step=12)
exp["points"]["score"] = [[12, "NaN", None]]
run.log({"uneven": wandb.Histogram(np_histogram=([1, 2, 3], [0.0, 1.0, 3.0, 10.0]))}, step=13)
exp["image"], exp["gray"] = image.tolist(), gray.tolist()
run.summary["best_acc"] = 0.75
time.sleep(0.6)  # a few system samples
print("to stderr", file=sys.stderr)
end(run, exp)

# beta: a failed run, renamed and tagged after init
run, exp = start("beta", project="vision", name="beta", config={"lr": 0.1}, tags=["x"],
                 settings=wandb.Settings(x_disable_stats=True))
exp["config"] = {"lr": 0.1}
for k in range(5):
    log(run, exp, {"loss": 1 - k * 1e-3}, k)
run.name = "beta-renamed"
run.tags = run.tags + ("late-tag",)
end(run, exp, exit_code=1)

# gamma: no name, no config; keys with tags as Aim's converter reads them
run, exp = start("gamma", project="nlp", settings=wandb.Settings(x_disable_stats=True))
exp["config"] = None
for k in range(4):
    log(run, exp, {"test/metrics/f1": 0.5 + k / 10, "validation/x": float(k), "other/q": -k}, k)
end(run, exp)

# long: many blocks, a run record bigger than two blocks
config = {"vocab": [f"word{i}" for i in range(vocab)]}
run, exp = start("long", project="nlp", name="long", config=config,
                 settings=wandb.Settings(x_disable_stats=True))
exp["config"] = config
for k in range(long_steps):
    log(run, exp, {"loss": 1 / (k + 1), "acc": k / long_steps + 1e-15, "lr": 1e-3 * 0.999 ** k}, k)
end(run, exp)

with open(expect_path, "w") as f:
    json.dump(expected, f)
'''


def wandb_env(home: Path) -> dict[str, str]:
    """Offline, silent, everything under ``home``; any address W&B might try is loopback's
    closed port 9, so nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true", WANDB_DISABLE_CODE="true",
               WANDB_ERROR_REPORTING="false", WANDB_BASE_URL="http://127.0.0.1:9", WANDB_DIR=str(home),
               WANDB_CONFIG_DIR=str(home / "config"), WANDB_CACHE_DIR=str(home / "cache"),
               WANDB_DATA_DIR=str(home / "data"), WANDB_ARTIFACT_DIR=str(home / "artifacts"), HOME=str(home))
    return env


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """``(the wandb folder, what each run logged)``, written once for the module."""
    home = tmp_path_factory.mktemp("wandb-home")
    expect = home / "expected.json"
    out = subprocess.run([sys.executable, "-c", WRITER, str(home), str(expect), str(LONG_STEPS), str(VOCAB)],
                         capture_output=True, text=True, env=wandb_env(home), timeout=120)
    assert out.returncode == 0, out.stderr
    expected = json.loads(expect.read_text())
    old = time.time() - 3600  # finished runs' logs, not ones being written (see LIVE_SECONDS)
    for log in (home / "wandb").glob("*/run-*.wandb"):
        os.utime(log, (old, old))
    return home / "wandb", expected


def folder_of(wandb_dir: Path, run_id: str) -> Path:
    return next(wandb_dir.glob(f"offline-run-*-{run_id}"))


def convert(repo: Path, folder: Path, *extra: str, code: int = 0) -> dict[str, Any]:
    out = run_cli("convert", "wandb", str(folder), "--repo", str(repo), "--json", *extra, timeout=120)
    assert out.returncode == code, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def bits(value: Any) -> Any:
    """A number as its float64 bits (ints as read back compare to the floats logged: W&B's JSON
    writes 2.0 as 2); NaN as the string."""
    if value == "NaN" or (isinstance(value, float) and value != value):
        return "NaN"
    return struct.pack("<d", float(value))


# Aim's converter: "a/b" is the metric b with the context {"tag": "a"}, plus "subset" when the
# tag holds train, val or test; nested dicts are joined with ".".
NAMES = {"loss": ("loss", {}), "train/acc": ("acc", {"tag": "train", "subset": "train"}),
         "val/loss": ("loss", {"tag": "val", "subset": "val"}), "grad.norm": ("grad.norm", {}),
         "grad.layer.w": ("grad.layer.w", {}), "epoch": ("epoch", {}), "score": ("score", {}),
         "test/metrics/f1": ("f1", {"tag": "test/metrics", "subset": "test"}),
         "validation/x": ("x", {"tag": "validation", "subset": "val"}), "other/q": ("q", {"tag": "other"}),
         "acc": ("acc", {}), "lr": ("lr", {})}


def expected_metrics(exp: dict[str, Any]) -> dict[tuple[str, str], list[tuple[int, Any, int | None]]]:
    out = {}
    for key, points in exp["points"].items():
        name, context = NAMES[key]
        out[(name, json.dumps(context, sort_keys=True))] = [(s, bits(v), e) for s, v, e in points]
    return out


def read_metrics(run: Any) -> dict[tuple[str, str], list[tuple[int, Any, int | None]]]:
    """The run's metrics but the system ones, as (step, bits, epoch)."""
    out = {}
    for m in run.metrics():
        if not m.name.startswith("__system__"):
            out[(m.name, json.dumps(m.context.to_dict(), sort_keys=True))] = [
                (s, bits(v), e) for s, v, e in zip(m.steps, m.values, m.epochs)]
    return out


def runs_by_id(repo: Path) -> dict[str, Any]:
    return {run["wandb_run_id"]: run for run in Repo(repo).iter_runs()}


def check_runs(repo: Path, expected: dict[str, Any], keys: list[str]) -> None:
    """Every run in ``keys`` is in ``repo`` as it was logged."""
    runs = runs_by_id(repo)
    assert sorted(runs) == sorted(expected[k]["id"] for k in keys)
    for key in keys:
        exp, run = expected[key], runs[expected[key]["id"]]
        assert read_metrics(run) == expected_metrics(exp), key  # every point, bit for bit
        assert (run["params"] if exp["config"] is not None else None) == exp["config"]  # every config value
        assert exp["t0"] <= run.creation_time <= exp["t1"] and run.end_time <= exp["t1"] + 1.0
        for m in run.metrics():
            assert all(run.creation_time <= t <= run.end_time + 1.0 for t in m.timestamps)  # W&B's times


def test_offline_runs_become_runs_value_for_value(source: Source, tmp_path: Path) -> None:
    wandb_dir, expected = source
    repo = tmp_path / "repo"
    before = digest(wandb_dir)

    nlp = convert(repo, wandb_dir, "--project", "nlp")  # only that project's runs
    assert nlp["runs"] == 2 and nlp["already"] == 0 and not nlp["errors"], nlp
    assert sorted(r["wandb_run_id"] for r in Repo(repo).iter_runs()) == sorted(
        expected[k]["id"] for k in ("gamma", "long"))

    report = convert(repo, wandb_dir)
    assert report["runs"] == 2 and report["already"] == 2 and not report["errors"] and not report["notes"]
    # table, string, bool, uneven histogram, and the system metrics Aim does not map
    assert report["skipped"] >= 4
    check_runs(repo, expected, ["alpha", "beta", "gamma", "long"])
    runs = runs_by_id(repo)

    alpha, exp = runs[expected["alpha"]["id"]], expected["alpha"]
    assert (alpha.name, alpha.experiment, alpha.description) == ("alpha", "vision", "first try")
    assert sorted(alpha.tags) == ["baseline", "cnn"] and alpha.status == "finished"
    assert alpha["wandb_run_name"] == "alpha" and "_wandb" not in alpha["params"]
    summary = alpha["wandb_summary"]
    assert summary["best_acc"] == 0.75 and summary["loss"] == 1 / 3 + 11e-12 and "_step" not in summary
    dist = alpha.get_distribution_sequence("weights")
    assert dist is not None and dist.steps == [12]
    hist = np.histogram(np.arange(100.0), bins=64)
    assert dist.values[0].weights.tolist() == hist[0].tolist() and dist.values[0].range == [0.0, 99.0]
    assert alpha.get_distribution_sequence("uneven") is None  # unequal bins: skipped
    sample = alpha.get_image_sequence("sample")
    assert sample is not None and sample.steps == [12] and sample.values[0].caption == "a sample"
    assert np.asarray(sample.values[0].to_pil_image()).tolist() == exp["image"]
    samples = alpha.get_image_sequence("samples")
    assert samples is not None and [i.caption for i in samples.values[0]] == ["first", ""]
    assert [np.asarray(i.to_pil_image()).tolist() for i in samples.values[0]] == [exp["image"], exp["gray"]]
    logs = alpha.get_terminal_logs()
    assert logs is not None
    assert [str(line) for line in logs.values if line.stream == "stdout"] == [f"step {k}" for k in range(12)]
    assert "to stderr" in [str(line) for line in logs.values if line.stream == "stderr"]
    system = {(m.name, json.dumps(m.context.to_dict(), sort_keys=True)): m for m in alpha.metrics()
              if m.name.startswith("__system__")}
    memory = system[("__system__memory_percent", '{"tag": "system"}')]
    assert len(memory.values) >= 2 and all(0 < v <= 100 for v in memory.values)
    assert list(memory.steps) == list(range(len(memory.values)))
    assert ("__system__p_memory_percent", '{"subset": "proc", "tag": "system"}') in system
    points = sum(len(p) for e in expected.values() for p in e["points"].values()) + 3  # + 3 objects
    assert report["points"] + nlp["points"] == points + sum(len(m.values) for m in system.values())

    beta = runs[expected["beta"]["id"]]
    assert beta.status == "failed" and beta.name == "beta-renamed" and sorted(beta.tags) == ["late-tag", "x"]
    gamma = runs[expected["gamma"]["id"]]
    assert gamma.name == expected["gamma"]["id"] and gamma.experiment == "nlp"  # no name: the run id
    assert len(runs[expected["long"]["id"]]["params"]["vocab"]) == VOCAB

    again = convert(repo, wandb_dir)  # idempotent
    assert (again["runs"], again["already"], again["points"], again["errors"]) == (0, 4, 0, [])
    assert digest(wandb_dir) == before  # the source is only read
    verify = run_cli("storage", "verify", "--repo", str(repo))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_killed_import_rerun_gives_the_same_runs(source: Source, tmp_path: Path) -> None:
    wandb_dir, expected = source
    for attempt, wait_for in enumerate(("tmp", "runs")):  # killed mid-run, then between runs
        repo = tmp_path / f"repo{attempt}"
        alive = kill_mid_import("wandb", wandb_dir, repo, watch=wait_for)
        assert alive, "the import ended before it could be killed mid-way"
        report = convert(repo, wandb_dir)
        assert report["runs"] + report["already"] == 4 and not report["errors"]
        check_runs(repo, expected, ["alpha", "beta", "gamma", "long"])
        verify = run_cli("storage", "verify", "--repair", "--repo", str(repo))
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_log_cut_mid_record_imports_what_was_whole(source: Source, tmp_path: Path) -> None:
    wandb_dir, expected = source
    exp = expected["long"]
    cut = tmp_path / "wandb" / folder_of(wandb_dir, exp["id"]).name
    shutil.copytree(folder_of(wandb_dir, exp["id"]), cut)
    log = next(cut.glob("run-*.wandb"))
    log.write_bytes(log.read_bytes()[: int(log.stat().st_size * 0.6) + 3])  # a run killed mid-write
    repo = tmp_path / "repo"

    fresh = convert(repo, cut.parent)  # no exit record, written just now: may still be running
    assert fresh["runs"] == 0 and "later import" in fresh["notes"][0]
    old = time.time() - 3600
    os.utime(log, (old, old))
    report = convert(repo, cut.parent)
    assert report["runs"] == 1 and not report["errors"] and "inside a record" in report["notes"][0]
    run = runs_by_id(repo)[exp["id"]]
    got, want = read_metrics(run), expected_metrics(exp)
    assert got.keys() == want.keys()
    whole = {len(points) for points in got.values()}
    assert len(whole) == 1 and 0 < whole.pop() < LONG_STEPS  # a history record is whole or absent
    for key, points in got.items():
        assert points == want[key][: len(points)]  # a prefix of what was logged, bit for bit
    assert run.status == "crashed" and run.end_time is None  # no exit record: no end


def test_a_corrupt_log_is_an_error_and_the_others_import(source: Source, tmp_path: Path) -> None:
    wandb_dir, expected = source
    mixed = tmp_path / "wandb"
    shutil.copytree(folder_of(wandb_dir, expected["beta"]["id"]), mixed / "offline-run-1-beta")
    flipped = mixed / "offline-run-2-gamma"
    shutil.copytree(folder_of(wandb_dir, expected["gamma"]["id"]), flipped)
    log = next(flipped.glob("run-*.wandb"))
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x55  # one bit-rotten byte in the middle
    log.write_bytes(bytes(data))
    garbage = mixed / "offline-run-3-garbage" / "run-garbage.wandb"
    garbage.parent.mkdir()
    garbage.write_bytes(os.urandom(3000))
    old = time.time() - 3600
    for p in (log, garbage):
        os.utime(p, (old, old))

    report = convert(tmp_path / "repo", mixed, code=1)
    assert report["runs"] == 1 and len(report["errors"]) == 2, report
    assert [e.split(":")[0] for e in report["errors"]] == [str(flipped), str(garbage.parent)]
    assert "checksum" in report["errors"][0] or "byte" in report["errors"][0]
    assert "not a W&B transaction log" in report["errors"][1]
    check_runs(tmp_path / "repo", expected, ["beta"])
    out = run_cli("convert", "wandb", str(mixed), "--repo", str(tmp_path / "repo"))
    assert out.returncode == 1 and "Traceback" not in out.stderr and "error: " in out.stderr


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    out = run_cli("convert", "wandb", str(tmp_path / "missing"), "--repo", str(tmp_path / "r"))
    assert out.returncode == 2 and "no folder" in out.stderr and "Traceback" not in out.stderr
    online = run_cli("convert", "wandb", "--entity", "me", "--project", "p", "--repo", str(tmp_path / "r"))
    assert online.returncode == 2 and "not fetched" in online.stderr  # Aim's online form: said plainly
    assert not (tmp_path / "r").exists()  # refused before anything is made
    empty = tmp_path / "empty"
    empty.mkdir()
    report = convert(tmp_path / "r", empty)
    assert (report["runs"], report["already"], report["errors"]) == (0, 0, [])


def test_every_cut_of_a_log_reads_a_prefix(source: Source, tmp_path: Path) -> None:
    """The reader on a log cut at any byte (a run killed at any moment): exactly the records
    that end before the cut, in order, and ``torn`` unless the cut falls between records; never
    an error. A small log at every byte; the long one around its block boundaries, where records
    are split into chunks."""
    from aim.sdk.convert.wandb_records import TransactionLog

    wandb_dir, expected = source
    cut = tmp_path / "run-cut.wandb"
    boundaries = [b + d for b in (32768, 65536, 98304) for d in range(-9, 10)]
    for key, offsets in (("gamma", None), ("long", boundaries)):
        log_path = next(folder_of(wandb_dir, expected[key]["id"]).glob("run-*.wandb"))
        data = log_path.read_bytes()
        full = list(TransactionLog(log_path).payloads())
        ends = [start for start, _ in full[1:]] + [len(data)]  # gamma's records lie end to end
        seen = 0
        for n in offsets or range(7, len(data) + 1):
            cut.write_bytes(data[:n])
            log = TransactionLog(cut)
            got = list(log.payloads())
            assert got == full[: len(got)] and len(got) >= seen, (key, n)
            seen = len(got)
            if offsets is None:
                assert len(got) == sum(end <= n for end in ends), n
                assert log.torn == (n not in ends and n != 7), n
        assert seen == len(full) if offsets is None else 0 < seen < len(full)
