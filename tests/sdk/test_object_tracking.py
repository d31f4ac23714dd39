"""Objects through the real writer: ``run.track(Image | [Image, ...] | Text | Distribution ...)``
stores each object's bytes once per run in a content-addressed blob beside the log, one small
``object`` event per step, and reads them back equal; bad objects are refused at the call with
nothing written; the index, reindex, verify, copy and move know blobs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aim import Repo, Run
from aim.errors import MetricValueError
from aim.sdk.objects import Distribution, Image, Text
from aim.sdk.verify import corrupted_runs
from aim.storage.layout import RepoLayout

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def _pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (6, 5, 3), dtype=np.uint8)


def _events(repo: Path, h: str) -> list[dict]:
    out = subprocess.run(f"zstd -dcq {repo}/.aim/runs/{h}/events/*.zst", shell=True, capture_output=True,
                         check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_objects_round_trip_and_the_same_bytes_are_stored_once(tmp_path: Path) -> None:
    with Run(repo=tmp_path, **QUIET) as run:
        for step in range(3):
            run.track([Image(_pixels(step), caption=f"s{step}"), Image(_pixels(0))], name="samples",
                      step=step, context={"subset": "val"})
            run.track(Text(f"generated {step}"), name="gen")
        run.track(Distribution(np.arange(100.0), bin_count=10), name="w", step=5)
        run.track(Text("last wins"), name="gen", step=2)
    blobs = RepoLayout(tmp_path / ".aim").blob_paths(run.hash)
    # 3 distinct images (step 0's first image is the same bytes as every second one), 4 texts, 1 histogram
    assert len(blobs) == 3 + 4 + 1
    events = [e for e in _events(tmp_path, run.hash) if e["type"] == "object"]
    assert len(events) == 3 + 3 + 1 + 1
    first = events[0]
    assert first["kind"] == "image" and first["list"] is True and first["context"] == {"subset": "val"}
    assert [i["meta"]["caption"] for i in first["items"]] == ["s0", ""]
    assert all(len(json.dumps(e)) < 1_000 for e in events)  # events stay small: bytes are in blobs

    back = Run(run.hash, repo=tmp_path, read_only=True)
    images = back.get_image_sequence("samples", {"subset": "val"})
    assert images.steps == [0, 1, 2]
    for step, value in images.values.items():
        got = [np.asarray(img.to_pil_image()) for img in value]
        assert np.array_equal(got[0], _pixels(step)) and np.array_equal(got[1], _pixels(0))
    texts = back.get_text_sequence("gen")
    assert [t.data for t in texts.values] == ["generated 0", "generated 1", "last wins"]
    hist = back.get_distribution_sequence("w").values[0]
    weights, edges = hist.to_np_histogram()
    want_w, want_e = np.histogram(np.arange(100.0), bins=10)
    assert np.array_equal(weights, want_w) and np.allclose(edges, want_e)
    assert back.get_image_sequence("gen") is None and back.get_text_sequence("nothing") is None
    listed = next(Repo(tmp_path).iter_runs())  # from the index rows
    assert list(listed.iter_objects_info()) == list(back.iter_objects_info()) == [
        ("distribution", "w", {}, 1, 5), ("image", "samples", {"subset": "val"}, 3, 2),
        ("text", "gen", {}, 4, 2)]


def test_bad_objects_and_mixed_sequences_are_refused_with_nothing_written(tmp_path: Path) -> None:
    with Run(repo=tmp_path, **QUIET) as run:
        run.track(1.0, name="loss")
        run.track(Text("a"), name="notes")
        layout = RepoLayout(tmp_path / ".aim")
        before = layout.blob_paths(run.hash)
        for value, name, words in [
            (Text("x"), "loss", "is a metric sequence"),
            (Image(_pixels(1)), "notes", "holds text objects"),
            ([Text("x"), Image(_pixels(1))], "mixed", "one kind"),
            ([Text("x"), 3], "mixed", "only objects"),
            (Text("x"), "", "name"),
        ]:
            with pytest.raises(MetricValueError, match=words):
                run.track(value, name=name)
        with pytest.raises(MetricValueError, match="holds text objects"):
            run.track(2.0, name="notes")
        with pytest.raises(MetricValueError):
            run.track(Text("y"), name="notes", step=-1)
        assert layout.blob_paths(run.hash) == before
    back = Run(run.hash, repo=tmp_path, read_only=True)
    assert [t.data for t in back.get_text_sequence("notes").values] == ["a"]


def test_index_verify_copy_and_move_know_blobs(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    with Run(repo=src, **QUIET) as run:
        for step in range(4):
            run.track(Image(_pixels(step)), name="img", step=step)
    repo = Repo(src)
    assert repo.verify() == []
    rows = repo.index.object_rows(run.hash)
    repo.reindex()
    assert Repo(src).index.object_rows(run.hash) == rows == [("img", "{}", "image", 4, 3)]

    layout = RepoLayout(src / ".aim")
    stray = layout.blobs_dir(run.hash) / ("ab" * 32)
    stray.write_bytes(b"left by a crash")
    damaged = layout.blob_paths(run.hash)[0]
    good = damaged.read_bytes()
    damaged.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    kinds = sorted(p.kind for p in Repo(src).verify())
    assert kinds == ["blob_damaged", "blob_unreferenced"]
    assert [p.kind for p in corrupted_runs(Repo(src))[run.hash]] == ["blob_damaged"]
    fixed = Repo(src).verify(repair=True)
    assert [p.kind for p in fixed if p.fixed] == ["blob_unreferenced"] and not stray.exists()
    damaged.write_bytes(good)

    Repo(dest, init=True)
    assert Repo(src).copy_runs([run.hash], dest) == (True, [])
    moved_back = Run(run.hash, repo=dest, read_only=True).get_image_sequence("img")
    assert [np.array_equal(np.asarray(i.to_pil_image()), _pixels(s)) for s, i in moved_back.values.items()] == [
        True] * 4
    assert Repo(dest).verify() == []
    assert sorted(p.name for p in RepoLayout(dest / ".aim").blob_paths(run.hash)) == sorted(
        p.name for p in layout.blob_paths(run.hash))


def test_query_objects_and_sequence_info_as_in_aim(tmp_path: Path) -> None:
    hashes = []
    for lr in (0.1, 0.001):
        with Run(repo=tmp_path, **QUIET) as run:
            run["hparams"] = {"lr": lr}
            for subset in ("train", "val"):
                run.track(Image(_pixels(1)), name="samples", step=0, context={"subset": subset})
            run.track(Text(f"lr {lr}"), name="notes")
        hashes.append(run.hash)
    repo = Repo(tmp_path)
    found = repo.query_images('images.name == "samples" and images.context.subset == "val" '
                              "and run.hparams.lr > 0.01")
    got = [(r.run.hash, [s.context for s in r]) for r in found.iter_runs()]
    assert got == [(hashes[0], [{"subset": "val"}])]
    assert len(repo.query_images("")) == 4 and len(repo.query_texts("texts.name == 'notes'")) == 2
    assert [s.values[0].data for s in repo.query_texts("run.hparams.lr < 0.01")] == ["lr 0.001"]
    assert len(repo.query_distributions()) == len(repo.query_audios()) == len(repo.query_figure_objects()) == 0
    assert repo.collect_sequence_info(("images", "texts")) == {
        "images": {"samples": [{"subset": "train"}, {"subset": "val"}]}, "texts": {"notes": [{}]}}
    assert Run(hashes[0], repo=tmp_path, read_only=True).collect_sequence_info("texts") == {
        "texts": [{"context": {}, "name": "notes", "values": {"last_step": 0}}]}


def test_aims_pytorch_example_calls_through_the_real_writer(tmp_path: Path) -> None:
    # What Aim's examples/pytorch_track.py and pytorch_track_images.py call, in our own words:
    # a batch of images with their labels as captions, a loss tensor, and the weights and
    # gradients of every leaf layer as distributions, read back equal.
    import torch

    from aim.pytorch import track_gradients_dists, track_params_dists
    from aim.sdk.objects.image import convert_to_aim_image_list

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 3))
    images, labels = torch.rand(4, 1, 8, 8), torch.tensor([0, 2, 1, 2])
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    with Run(repo=tmp_path, **QUIET) as run:
        batch_images = convert_to_aim_image_list(images, labels)
        run.track(batch_images, name="images", epoch=0, context={"subset": "train"})
        run.track(loss, name="loss", epoch=0, context={"subset": "train"})
        track_params_dists(model, run)
        track_gradients_dists(model, run)
    back = Run(run.hash, repo=tmp_path, read_only=True)
    [batch] = back.get_image_sequence("images", {"subset": "train"}).values
    assert [i.caption for i in batch] == ["0", "2", "1", "2"]
    want = (images[1, 0].numpy() * 255).astype(np.uint8)  # Aim's float scaling: truncated
    assert np.array_equal(np.asarray(batch[1].to_pil_image()), want)
    assert back.get_metric("loss", {"subset": "train"}).values.last_value() == pytest.approx(loss.item())
    kinds = {(n, c["type"], c["params"]) for k, n, c, _, _ in back.iter_objects_info() if k == "distribution"}
    assert kinds == {(layer, t, p) for layer in ("0.Conv2d", "2.Linear") for t in ("data", "gradients")
                     for p in ("weights", "biases")}
    weights = back.get_distribution_sequence("2.Linear", {"type": "gradients", "params": "weights"}).values[0]
    counts, _ = np.histogram(model[2].weight.grad.numpy(), bins=weights.bin_count)
    assert np.array_equal(weights.to_np_histogram()[0], counts)


def test_export_objects_and_their_blobs_through_the_cli(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    with Run(repo=tmp_path, **QUIET) as run:
        run.track([Image(_pixels(3), caption="a"), Image(_pixels(4))], name="img", step=1)
        run.track(Text("first"), name="txt", step=0)
        run.track(Text("second"), name="txt", step=0)  # the last value per step wins
    out = tmp_path / "blobs"
    r = run_cli("runs", "export", "*", "--objects", "--blobs", str(out), "--format", "jsonl", "--repo",
                str(tmp_path))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["kind"], x["name"], x["step"], x["index"], x["meta"].get("caption")) for x in rows] == [
        ("image", "img", 1, 0, "a"), ("image", "img", 1, 1, ""), ("text", "txt", 0, 0, None)]
    assert Path(rows[2]["file"]).read_text() == "second"
    assert np.array_equal(np.asarray(Image(rows[0]["file"]).to_pil_image()), _pixels(3))
    bad = run_cli("runs", "export", "*", "--blobs", str(out), "--repo", str(tmp_path))
    assert bad.returncode == 2 and "--objects" in bad.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_run_tracks_objects_without_blocking_the_loop(tmp_path: Path, backend: str) -> None:
    import anyio

    from aim import AsyncRun

    async def main() -> str:
        async with AsyncRun(repo=str(tmp_path), **QUIET) as run:
            await run.track([Image(_pixels(7)), Image(_pixels(8))], name="imgs", step=0)
            await run.track(Text("async"), name="txt")
            await run.track(0.5, name="loss")
        return run.hash

    h = anyio.run(main, backend=backend)
    back = Run(h, repo=tmp_path, read_only=True)
    assert np.array_equal(np.asarray(back.get_image_sequence("imgs").values[0][1].to_pil_image()), _pixels(8))
    assert back.get_text_sequence("txt").values[0].data == "async"


def test_rm_restore_prune_and_mv_across_filesystems_with_blobs(tmp_path: Path) -> None:
    import os
    import shutil
    import tempfile

    from tests.conftest import run_cli

    src = tmp_path / "src"
    with Run(repo=src, **QUIET) as keep:
        keep.track([Image(_pixels(s)) for s in range(3)], name="img", step=0)
    with Run(repo=src, **QUIET) as gone:
        gone.track(Text("x" * 10_000), name="txt")
    layout = RepoLayout(src / ".aim")
    blob_bytes = sum(p.stat().st_size for p in layout.blob_paths(gone.hash))
    assert run_cli("runs", "rm", gone.hash, "-y", "--repo", str(src)).returncode == 0
    assert layout.blob_paths(gone.hash)  # a tombstone: its blobs stay until prune
    assert run_cli("runs", "restore", gone.hash, "--repo", str(src)).returncode == 0
    restored = Run(gone.hash, repo=src, read_only=True).get_text_sequence("txt").values
    assert [t.data for t in restored] == ["x" * 10_000]
    assert run_cli("runs", "rm", gone.hash, "-y", "--repo", str(src)).returncode == 0
    pruned = run_cli("storage", "prune", "--json", "--repo", str(src))
    assert pruned.returncode == 0 and not layout.run_dir(gone.hash).exists()
    assert json.loads(pruned.stdout.splitlines()[-1])["bytes"] >= blob_bytes  # blobs counted

    # /dev/shm is another filesystem: hard links fail, files are copied and checked.
    other = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        assert os.stat(other).st_dev != os.stat(src).st_dev
        Repo(other, init=True)
        names = sorted(p.name for p in layout.blob_paths(keep.hash))
        moved = run_cli("runs", "mv", keep.hash, "--destination", str(other), "--repo", str(src))
        assert moved.returncode == 0, moved.stderr
        assert not layout.run_dir(keep.hash).exists()
        assert sorted(p.name for p in RepoLayout(other / ".aim").blob_paths(keep.hash)) == names
        assert Repo(other).verify() == []
        back = Run(keep.hash, repo=other, read_only=True).get_image_sequence("img").values[0]
        assert all(np.array_equal(np.asarray(i.to_pil_image()), _pixels(s)) for s, i in enumerate(back))
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_a_read_only_run_refuses_objects_before_writing_a_blob(tmp_path: Path) -> None:
    from aim.errors import RunClosedError

    with Run(repo=tmp_path, **QUIET) as run:
        run.track(Text("a"), name="t")
    layout = RepoLayout(tmp_path / ".aim")
    before = layout.blob_paths(run.hash)
    for reader in (Run(run.hash, repo=tmp_path, read_only=True), next(Repo(tmp_path).iter_runs()), run):
        with pytest.raises(RunClosedError):
            reader.track(Image(_pixels(9)), name="img")
    assert layout.blob_paths(run.hash) == before
