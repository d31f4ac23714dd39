"""``aim convert tensorboard``: real event files written by torch's SummaryWriter (the
tensorboard package's format), converted through the real CLI and compared value for value;
a second import adds nothing, a killed import rerun gives the same result, the source is
never modified."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aim import Repo
from tests.conftest import run_cli
from tests.convert.helpers import digest, kill_mid_import

torch_tb = pytest.importorskip("torch.utils.tensorboard")

STEPS = 25


def write_logs(logdir: Path, runs: int = 2) -> dict[str, dict[tuple[str, str | None], list[tuple[int, float]]]]:
    """Event files as a training script writes them; returns what each run holds:
    run name -> (tag, entry) -> [(step, value as the file stores it)]."""
    expected: dict[str, dict[tuple[str, str | None], list[tuple[int, float]]]] = {}
    rng = np.random.default_rng(7)
    for k in range(runs):
        name = f"exp{k}"
        expected[name] = {}
        for entry in ("train", "val"):
            writer = torch_tb.SummaryWriter(str(logdir / name / entry))
            points = []
            for step in range(STEPS):
                value = float(rng.normal())
                writer.add_scalar("loss", value, step)  # float32 in the file (simple_value)
                points.append((step, float(np.float32(value))))
            writer.close()
            expected[name][("loss", entry)] = points
        writer = torch_tb.SummaryWriter(str(logdir / name))
        exact = []
        for step in range(0, STEPS, 5):
            value = 1 / 3 + step * 1e-12 + k
            writer.add_scalar("lr", value, step, new_style=True, double_precision=True)  # float64
            exact.append((step, value))
        writer.add_histogram("weights", rng.normal(size=100), 0)  # not mapped: skipped
        writer.close()
        expected[name][("lr", None)] = exact
    return expected


def write_media(logdir: Path) -> dict[str, Any]:
    """Images, audio and text as torch's SummaryWriter writes them; returns what was written."""
    rng = np.random.default_rng(11)
    writer = torch_tb.SummaryWriter(str(logdir / "media"))
    pixels = [rng.integers(0, 255, (3, 5, 6), dtype=np.uint8) for _ in range(2)]
    for step, chw in enumerate(pixels):
        writer.add_image("sample", chw, step)
    clip = np.sin(np.linspace(0, 40, 400)).astype(np.float32) * 0.5
    writer.add_audio("tone", clip.reshape(1, -1), 0, sample_rate=8000)
    writer.add_text("notes", "first **note**", 0)
    writer.add_text("notes", "second", 3)
    writer.close()
    return {"pixels": [chw.transpose(1, 2, 0) for chw in pixels], "clip": clip,
            "texts": {0: "first **note**", 3: "second"}}


def convert(repo: Path, logdir: Path, *extra: str) -> dict[str, Any]:
    out = run_cli("convert", "tensorboard", str(logdir), "--repo", str(repo), "--json", *extra, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def read_back(repo: Path) -> dict[str, dict[tuple[str, str | None], list[tuple[int, float]]]]:
    r = Repo(repo)
    got = {}
    for run in r.iter_runs():
        seqs = {}
        for m in run.metrics():
            ctx = m.context.to_dict()
            seqs[(m.name, ctx.get("entry"))] = list(zip(m.steps, m.values))
        got[run.name] = seqs
    return got


def test_event_files_become_runs_point_for_point(tmp_path: Path) -> None:
    logdir, repo = tmp_path / "logs", tmp_path / "repo"
    expected = write_logs(logdir)
    before = digest(logdir)
    report = convert(repo, logdir)
    assert report["runs"] == 2 and report["already"] == 0 and not report["errors"]
    assert report["points"] == 2 * (2 * STEPS + STEPS // 5) and report["skipped"] == 2  # the histograms
    assert read_back(repo) == expected  # float32 values as stored, the float64 ones bit for bit
    r = Repo(repo)
    run = next(iter(r.iter_runs()))
    assert run.experiment == "tensorboard" and run["tensorboard_logdir"].endswith(run.name)
    metric = run.get_metric("loss", {"entry": "train"})
    assert metric is not None and all(1e9 < t < 2e10 for t in metric.timestamps)  # the files' wall times
    assert run.creation_time is not None and run.creation_time <= min(metric.timestamps) + 0.001
    assert digest(logdir) == before  # the source is only read

    again = convert(repo, logdir)  # idempotent
    assert again["runs"] == 0 and again["already"] == 2 and again["points"] == 0
    assert read_back(repo) == expected
    assert run_cli("storage", "verify", "--repo", str(repo)).returncode == 0


def test_a_killed_import_rerun_gives_the_same_runs(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    expected = write_logs(logdir, runs=5)
    rng = random.Random(19)
    for attempt in range(3):
        repo = tmp_path / f"repo{attempt}"
        kill_mid_import("tensorboard", logdir, repo, then=rng.uniform(0.0, 1.5))
        report = convert(repo, logdir)
        assert report["runs"] + report["already"] == 5 and not report["errors"]
        assert read_back(repo) == expected
        verify = run_cli("storage", "verify", "--repair", "--repo", str(repo))
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_flat_makes_every_folder_a_run(tmp_path: Path) -> None:
    logdir, repo = tmp_path / "logs", tmp_path / "repo"
    expected = write_logs(logdir, runs=1)
    report = convert(repo, logdir, "--flat", "--no-cache")  # Aim's flags
    assert report["runs"] == 3 and not report["errors"]  # exp0, exp0/train, exp0/val
    got = {run.name: {m.name: (m.context.to_dict(), list(zip(m.steps, m.values))) for m in run.metrics()}
           for run in Repo(repo).iter_runs()}
    assert got == {"exp0": {"lr": ({}, expected["exp0"][("lr", None)])},
                   "exp0/train": {"loss": ({}, expected["exp0"][("loss", "train")])},
                   "exp0/val": {"loss": ({}, expected["exp0"][("loss", "val")])}}


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    out = run_cli("convert", "tensorboard", str(tmp_path / "missing"), "--repo", str(tmp_path / "r"))
    assert out.returncode == 2 and "no folder" in out.stderr and "Traceback" not in out.stderr
    both = run_cli("convert", "tensorboard", "a", "--logdir", "b", "--repo", str(tmp_path / "r"))
    assert both.returncode == 2 and "once" in both.stderr


def test_images_audio_and_text_become_objects(tmp_path: Path) -> None:
    logdir, repo = tmp_path / "logs", tmp_path / "repo"
    written = write_media(logdir)
    report = convert(repo, logdir)
    assert report["runs"] == 1 and report["points"] == 2 + 1 + 2 and report["skipped"] == 0
    run = next(iter(Repo(repo).iter_runs()))
    images = run.get_image_sequence("sample")
    assert images is not None and images.steps == [0, 1]
    for image, pixels in zip(images.values.values_list(), written["pixels"]):
        assert image.format == "png" and (image.width, image.height) == (6, 5)
        assert np.array_equal(np.asarray(image.to_pil_image()), pixels)  # PNG: every pixel as written
    audio = run.get_audio_sequence("tone")
    assert audio is not None and audio.steps == [0]
    clip = audio.values.values_list()[0]
    rate, samples = clip.to_numpy()
    assert rate == 8000 and clip.format == "wav"
    as_float = np.asarray(samples, dtype=np.float64).reshape(-1) / 32767  # 16-bit PCM in the WAV
    assert np.allclose(as_float, written["clip"], atol=1 / 32767)
    texts = run.get_text_sequence("notes/text_summary")  # torch's tag for add_text("notes")
    assert texts is not None and {s: t.data for s, t in texts.items()} == written["texts"]
