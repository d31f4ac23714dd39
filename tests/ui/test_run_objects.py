"""The run page's tracked objects: images (a grid per step, a slider), texts (shown as text),
distributions (a heatmap over steps and the chosen step's bars), audio (the browser's player
on a blob served as audio/wav) and plotly figures (drawn from the tracked JSON); the chosen
steps in the URL. One run of each kind, tracked with the real SDK, served by a real ``aim up``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import numpy as np
import pytest

from tests.ui.conftest import get_json

pytest.importorskip("PIL")
go = pytest.importorskip("plotly.graph_objects")

W, H = 32, 24
COLOURS = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 200, 0), (0, 200, 200), (200, 0, 200)]
FIG_Y = [3, 1, 2]
IMAGES = "[data-testid=obj-card][data-kind=image]"


def make_objects_run(repo: Path) -> str:
    from aim import Audio, Distribution, Figure, Image, Run, Text

    rng = np.random.default_rng(0)
    with Run(repo=str(repo), experiment="objects", system_tracking_interval=None,
             capture_terminal_logs=False) as run:
        for s in range(3):
            images = [Image(np.full((H, W, 3), COLOURS[2 * s + i], np.uint8), caption=f"step {s} #{i}")
                      for i in range(2)]
            run.track(images, name="samples", step=s, context={"subset": "val"})
            run.track(Text(f"step {s}: <b>not bold</b>\n    indented"), name="notes", step=s)
            run.track(Distribution(rng.normal(s, 1, 1000), bin_count=16), name="weights", step=s)
        t = np.linspace(0, 0.25, 2000, endpoint=False)
        run.track(Audio(0.5 * np.sin(2 * np.pi * 440 * t), rate=8000), name="clip", step=0)
        run.track(Figure(go.Figure(go.Scatter(x=[1, 2, 3], y=FIG_Y))), name="fig", step=0)
        return run.hash


def shown_images(pg: Any) -> list[dict[str, Any]]:
    """The image card's <img>s: src, whether loaded, natural width, centre pixel's colour."""
    return pg.evaluate(
        """(sel) => [...document.querySelectorAll(sel + ' img')].map((img) => {
            let rgb = null;
            if (img.complete && img.naturalWidth) {
                const c = document.createElement('canvas');
                c.width = img.naturalWidth; c.height = img.naturalHeight;
                const ctx = c.getContext('2d');
                ctx.drawImage(img, 0, 0);
                rgb = [...ctx.getImageData(c.width >> 1, c.height >> 1, 1, 1).data.slice(0, 3)];
            }
            return {src: img.getAttribute('src'), w: img.naturalWidth, rgb, loading: img.loading};
        })""", IMAGES)


def wait_images_loaded(pg: Any, step: int) -> None:
    pg.wait_for_function(
        """([sel, step]) => {
            const card = document.querySelector(sel);
            const imgs = card ? [...card.querySelectorAll('img')] : [];
            return !!card && card.dataset.step === String(step) && imgs.length === 2
                && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""", arg=[IMAGES, step])


def test_run_objects(repo_path, aim_up, page, shot):
    run_hash = make_objects_run(repo_path)
    server = aim_up(repo_path)
    ctx = quote(json.dumps({"subset": "val"}))
    steps = get_json(f"{server.base}/api/runs/{run_hash}/objects/steps?kind=image&name=samples&context={ctx}")
    blob_srcs = [[f"/api/runs/{run_hash}/blobs/{it['sha256']}" for it in s["items"]] for s in steps["steps"]]

    page.goto(f"{server.base}/run/{run_hash}")
    for kind in ("image", "text", "distribution", "audio", "figure"):
        page.wait_for_selector(f"[data-testid=objects-{kind}] [data-testid=obj-card]")

    # Images: the last step by default, 2 images, loaded at their tracked size, lazy, own colours.
    wait_images_loaded(page, 2)
    imgs = shown_images(page)
    assert [i["src"] for i in imgs] == blob_srcs[2]
    assert all(i["w"] == W and i["loading"] == "lazy" for i in imgs)
    assert [tuple(i["rgb"]) for i in imgs] == COLOURS[4:6]
    assert page.text_content(f"{IMAGES} [data-testid=obj-step]") == "step 2"
    # The slider to step 0: that step's blobs (only its 2 images in the page), and the URL says so.
    page.fill(f"{IMAGES} [data-testid=obj-slider]", "0")
    wait_images_loaded(page, 0)
    imgs = shown_images(page)
    assert [i["src"] for i in imgs] == blob_srcs[0]
    assert [tuple(i["rgb"]) for i in imgs] == COLOURS[0:2]
    captions = page.eval_on_selector_all(f"{IMAGES} [data-testid=obj-caption]",
                                         "els => els.map(e => e.textContent)")
    assert captions == ["step 0 #0", "step 0 #1"]
    page.click(f"{IMAGES} [data-testid=obj-next]")
    wait_images_loaded(page, 1)
    assert [i["src"] for i in shown_images(page)] == blob_srcs[1]
    page.wait_for_function("() => new URLSearchParams(location.search).has('ostep')")
    ostep = json.loads(parse_qs(urlparse(page.url).query)["ostep"][0])
    assert ostep == {"image:samples (subset=val)": 1}

    # Texts: the markup shows as characters, never as elements.
    text_sel = "[data-testid=obj-card][data-kind=text] [data-testid=obj-text]"
    assert page.text_content(text_sel) == "step 2: <b>not bold</b>\n    indented"
    assert page.eval_on_selector_all(f"{text_sel} b", "els => els.length") == 0
    page.fill("[data-testid=obj-card][data-kind=text] [data-testid=obj-slider]", "1")
    page.wait_for_function("(sel) => document.querySelector(sel).textContent.startsWith('step 1:')",
                           arg=text_sel)

    # Distributions: a heatmap column per step; the bars are the chosen step's own histogram.
    page.wait_for_function("() => { const el = document.querySelector('[data-testid=obj-dist-heatmap]');"
                           " return el && el.data && el.data.length === 1; }")
    heat = page.evaluate("() => { const t = document.querySelector('[data-testid=obj-dist-heatmap]').data[0];"
                         " return {type: t.type, x: t.x, rows: t.z.length, cols: t.z.map(r => r.length),"
                         " sums: t.x.map((_, c) => t.z.reduce((a, r) => a + r[c], 0))}; }")
    assert heat["type"] == "heatmap" and heat["x"] == [0, 1, 2] and heat["rows"] == 16
    assert set(heat["cols"]) == {3}
    assert heat["sums"] == pytest.approx([1000, 1000, 1000])  # re-binning keeps the counts
    page.wait_for_function("() => { const el = document.querySelector('[data-testid=obj-dist-bars]');"
                           " return el && el.data && el.data[0].meta.step === 2; }")
    bars = page.evaluate("() => document.querySelector('[data-testid=obj-dist-bars]').data[0].y")
    dist = get_json(f"{server.base}/api/runs/{run_hash}/objects/steps?kind=distribution&name=weights")
    assert bars == dist["steps"][2]["items"][0]["content"]["weights"]
    # Clicking the heatmap's first column chooses step 0 (plotly needs a hover before a click).
    heat_area = page.locator("[data-testid=obj-dist-heatmap] .nsewdrag").first
    heat_area.scroll_into_view_if_needed()
    box = heat_area.bounding_box()
    x, y = box["x"] + box["width"] / 6, box["y"] + box["height"] / 2
    page.mouse.move(x - 4, y)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelector('[data-testid=obj-dist-bars]')"
                           ".data[0].meta.step === 0")
    assert page.text_content("[data-kind=distribution] [data-testid=obj-step]") == "step 0"

    # Audio: the player's src is a blob the server answers as audio/wav, and the browser reads it.
    audio_src = page.get_attribute("[data-testid=obj-audio-el]", "src")
    assert audio_src.startswith(f"/api/runs/{run_hash}/blobs/")
    res = page.request.get(f"{server.base}{audio_src}")
    assert res.ok and res.headers["content-type"] == "audio/wav"
    assert res.body()[:4] == b"RIFF"
    page.wait_for_function("() => document.querySelector('[data-testid=obj-audio-el]').duration > 0.2")

    # Figures: the tracked figure's trace, drawn by plotly.
    page.wait_for_function("() => { const el = document.querySelector('[data-testid=obj-figure]');"
                           " return el && el.data && el.data.length === 1; }")
    fig = page.evaluate("() => { const t = document.querySelector('[data-testid=obj-figure]').data[0];"
                        " return {type: t.type, x: t.x, y: t.y}; }")
    assert fig == {"type": "scatter", "x": [1, 2, 3], "y": FIG_Y}
    shot(page, "objects")

    # The URL reproduces the chosen steps.
    page.wait_for_function("() => (new URLSearchParams(location.search).get('ostep') || '').includes('text:')")
    assert json.loads(parse_qs(urlparse(page.url).query)["ostep"][0]) == {
        "image:samples (subset=val)": 1, "text:notes": 1, "distribution:weights": 0}
    page.goto(page.url)
    wait_images_loaded(page, 1)
    assert [i["src"] for i in shown_images(page)] == blob_srcs[1]
    page.wait_for_function("(sel) => { const el = document.querySelector(sel); return el && "
                           "el.textContent.startsWith('step 1:'); }", arg=text_sel)


def test_run_without_objects_has_no_object_sections(repo_path, aim_up, page):
    from tests.ui.conftest import make_run

    run_hash = make_run(repo_path, steps=3)
    server = aim_up(repo_path)
    page.goto(f"{server.base}/run/{run_hash}")
    page.wait_for_selector("[data-testid=metric-chart-card]")
    page.wait_for_selector("[data-testid=objects][data-loaded='1']", state="attached")
    assert get_json(f"{server.base}/api/runs/{run_hash}/objects") == []
    assert page.eval_on_selector("[data-testid=objects]", "el => el.children.length") == 0
