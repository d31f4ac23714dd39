"""The run page's objects through a real ``aim up``: the sequences, a sequence's steps (texts
and histograms inline, images by reference), and blobs served with the type their bytes say."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image as PILImage

from aim import Run
from aim.sdk.objects import Distribution, Image, Text


def test_objects_of_a_run_page(tmp_path: Path, aim_up: Any) -> None:
    pixels = np.zeros((3, 4, 3), dtype=np.uint8)
    pixels[0, 0] = (0, 255, 0)
    with Run(repo=tmp_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
        for step in range(2):
            run.track([Image(pixels, caption=f"c{step}")], name="imgs", step=step, context={"s": "v"})
            run.track(Text(f"<b>t{step}</b>"), name="notes", step=step)
            run.track(Distribution(np.arange(8.0), bin_count=4), name="w", step=step)
    client = httpx.Client(base_url=aim_up(tmp_path).base, timeout=30)
    seqs = client.get(f"/api/runs/{run.hash}/objects").json()
    assert [(s["kind"], s["name"], s["context"], s["points"]) for s in seqs] == [
        ("distribution", "w", {}, 2), ("image", "imgs", {"s": "v"}, 2), ("text", "notes", {}, 2)]

    steps = f"/api/runs/{run.hash}/objects/steps"
    texts = client.get(steps, params={"kind": "text", "name": "notes"}).json()
    assert [s["items"][0]["content"] for s in texts["steps"]] == ["<b>t0</b>", "<b>t1</b>"]
    hist = client.get(steps, params={"kind": "distribution", "name": "w"}).json()
    assert hist["steps"][1]["items"][0]["content"]["weights"] == [2, 2, 2, 2]

    images = client.get(f"/api/runs/{run.hash}/objects/steps",
                        params={"kind": "image", "name": "imgs", "context": json.dumps({"s": "v"})}).json()
    item = images["steps"][0]["items"][0]
    assert (item["caption"], item["width"], item["height"], item["zst"]) == ("c0", 4, 3, False)
    blob = client.get(f"/api/runs/{run.hash}/blobs/{item['sha256']}")
    assert blob.status_code == 200 and blob.headers["content-type"] == "image/png"
    assert "immutable" in blob.headers["cache-control"]
    assert PILImage.open(io.BytesIO(blob.content)).getpixel((0, 0)) == (0, 255, 0)
    text_item = texts["steps"][0]["items"][0]
    assert text_item["zst"] is True  # found compressed without being told
    text = client.get(f"/api/runs/{run.hash}/blobs/{text_item['sha256']}")
    assert text.status_code == 200 and text.content == b"<b>t0</b>"
    assert text.headers["content-type"].startswith("application/octet-stream")  # never served as HTML

    for path, params, code in [
        (f"/api/runs/{run.hash}/objects/steps", {"kind": "video", "name": "imgs"}, 400),
        (f"/api/runs/{run.hash}/objects/steps", {"kind": "image", "name": "nothing"}, 400),
        (f"/api/runs/{run.hash}/objects/steps", {"kind": "image", "name": "imgs", "context": "{"}, 400),
        (f"/api/runs/{run.hash}/blobs/{'0' * 64}", {}, 404),
        (f"/api/runs/{run.hash}/blobs/..%2F..%2FVERSION", {}, 404),  # no route takes it
        (f"/api/runs/{run.hash}/blobs/{item['sha256'][:-1]}", {}, 400),
        (f"/api/runs/{'f' * 24}/objects/steps", {"kind": "image", "name": "imgs"}, 404),
    ]:
        r = client.get(path, params=params)
        assert r.status_code == code and r.json()["error"], (path, params, r.status_code, r.text[:200])
