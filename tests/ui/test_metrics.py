"""The metrics explorer: one line per run, downsampling to the requested points with bands,
grouping into colours / dashes / charts, and a run written while the page is open."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

from tests.ui.conftest import line_traces, make_run, start_writer, wait_for_lines

LOSS = json.dumps([["loss", {"subset": "train"}]])


def metrics_url(server, **params):
    return f"{server.base}/metrics?" + urllib.parse.urlencode({"m": LOSS, **params})


def test_one_line_per_run_and_downsampling(repo_path, aim_up, page, shot):
    small = {make_run(repo_path, "e", lr=0.1 * (i + 1), steps=steps): steps
             for i, steps in enumerate((30, 45, 60))}
    big = make_run(repo_path, "e", lr=0.9, steps=5_000)
    server = aim_up(repo_path)
    page.goto(metrics_url(server, points=500))
    wait_for_lines(page, 4)
    traces = line_traces(page)
    by_run = {t["id"].split("|")[0]: t["n"] for t in traces}
    assert by_run == {**small, big: 500}  # all points below 500; the 5,000-step run cut to 500
    assert {t["type"] for t in traces} == {"scatter"}  # SVG: 635 points; WebGL from 20,000
    # The downsampled run has its min/max band (a closed polygon: 2 x 500 points); the others none.
    bands = page.evaluate("""() => document.querySelector('[data-testid=chart]').data
        .filter((t) => t.meta.kind === 'band').map((t) => [t.meta.id.split('|')[0], t.x.length])""")
    assert bands == [[big, 1000]]
    assert page.text_content("#metrics-status").startswith("4 runs · 4 lines")
    shot(page, "lines")

    # Smoothing, x axis and log scale are page state in the URL, and change the chart.
    page.fill("[data-testid=smooth]", "0.9")
    page.check("[data-testid=log-y]")
    page.wait_for_function("document.querySelector('[data-testid=chart]').layout.yaxis.type === 'log'")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["smooth"] == ["0.9"] and query["log"] == ["1"]
    # The first small run (lr 0.1) tracked 1/(i+1) + 0.1: its smoothed y at step 5 is above that.
    first_run = next(iter(small))
    y5 = page.evaluate("h => document.querySelector('[data-testid=chart]').data"
                       ".find((t) => t.meta.kind === 'line' && t.meta.id.startsWith(h)).y[5]", first_run)
    assert y5 > 1.0 / 6 + 0.1 + 0.05


def test_grouping_by_param(repo_path, aim_up, page, shot):
    lrs = [0.1, 0.1, 0.2, 0.3, 0.3]
    for i, lr in enumerate(lrs):
        make_run(repo_path, "a" if i % 2 else "b", lr=lr, steps=20)
    server = aim_up(repo_path)
    page.goto(metrics_url(server))
    wait_for_lines(page, 5)
    # No grouping: every run its own colour.
    assert len({t["color"] for t in line_traces(page)}) == 5

    page.select_option("[data-testid=group-color]", "p:hparams.lr")
    page.wait_for_function("new Set(document.querySelector('[data-testid=chart]').data"
                           ".filter((t) => t.meta.kind === 'line').map((t) => t.line.color)).size === 3")
    traces = line_traces(page)
    colour_of_lr: dict[str, set[str]] = {}
    for t in traces:
        lr = t["name"].split("hparams.lr=")[1].split("]")[0].split(",")[0]
        colour_of_lr.setdefault(lr, set()).add(t["color"])
    assert {k: len(v) for k, v in colour_of_lr.items()} == {"0.1": 1, "0.2": 1, "0.3": 1}
    assert len({c for v in colour_of_lr.values() for c in v}) == 3

    page.select_option("[data-testid=group-dash]", "a:experiment")
    page.wait_for_function("new Set(document.querySelector('[data-testid=chart]').data"
                           ".filter((t) => t.meta.kind === 'line').map((t) => t.line.dash)).size === 2")

    page.select_option("[data-testid=group-chart]", "p:hparams.lr")
    page.wait_for_function("document.querySelectorAll('[data-testid=chart-card]').length === 3")
    counts = page.evaluate("""() => [...document.querySelectorAll('[data-testid=chart]')]
        .map((el) => el.data.filter((t) => t.meta.kind === 'line').length)""")
    assert sorted(counts) == [1, 2, 2]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["color"] == ["p:hparams.lr"] and query["chart"] == ["p:hparams.lr"]
    shot(page, "grouped")

    # The URL reproduces the view.
    page.reload()
    page.wait_for_function("document.querySelectorAll('[data-testid=chart-card]').length === 3")


def test_new_run_appears_and_grows(repo_path, aim_up, page, shot):
    make_run(repo_path, "e", lr=0.1, steps=10)
    server = aim_up(repo_path)
    page.goto(metrics_url(server))
    wait_for_lines(page, 1)
    page.evaluate("window.__same_page = true")
    proc, new = start_writer(repo_path, "live", "8")
    try:
        wait_for_lines(page, 2, timeout=20_000)
        page.wait_for_function(
            "h => document.querySelector('[data-testid=chart]').data"
            ".some((t) => t.meta.id.startsWith(h) && t.x.length > 0)",
            arg=new, timeout=20_000)
        first = {t["id"].split("|")[0]: t["n"] for t in line_traces(page)}[new]
        page.wait_for_function(
            "([h, n]) => document.querySelector('[data-testid=chart]').data"
            ".some((t) => t.meta.kind === 'line' && t.meta.id.startsWith(h) && t.x.length >= n + 5)",
            arg=[new, first], timeout=20_000)
        assert page.evaluate("window.__same_page") is True  # grown in place, no reload
        shot(page, "live")
    finally:
        proc.wait(timeout=30)
    # Once the run ends every point it tracked is on the chart, none twice.
    detail = json.loads(urllib.request.urlopen(f"{server.base}/api/runs/{new}").read())
    tracked = detail["sequences"][0]["points"]
    deadline = time.time() + 10
    while time.time() < deadline:
        n = {t["id"].split("|")[0]: t["n"] for t in line_traces(page)}[new]
        if n == tracked:
            break
        time.sleep(0.3)
    assert n == tracked
